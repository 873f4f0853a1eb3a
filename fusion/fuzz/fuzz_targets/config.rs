//! The master's config parser (`fusionfb::config::Config::from_str`) on arbitrary text:
//! it never panics, and a refusal names the file and a position in it (`file:line:col`
//! when it has one) — a bad config is an error a person can act on, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match fusionfb::config::Config::from_str(text, "fuzz.toml") {
        Ok(cfg) => {
            // What loads has a primary layer (the parser's own promise).
            assert!(!cfg.layers.is_empty());
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.toml"), "{shown}");
        }
    }
});
