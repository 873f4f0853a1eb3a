//! Lays out the release `fusionfb` binary so that the code the master runs from its start to
//! idle, and in its frames, sits together at the front of `.text` (`link-order.txt`, made by
//! `scripts/link-order.sh`).
//!
//! Why: the kernel maps a binary's code in 64 KiB windows around each page the process
//! touches (fault-around), so a master whose startup touches a few hundred functions spread
//! over 7 MB of code holds most of those 7 MB resident; packed together they fill a few
//! windows. The list only orders sections: a name the build no longer has is skipped, so a
//! stale list costs memory, never correctness.
//!
//! Only where the linker is rustc's own lld (the default for `x86_64-unknown-linux-gnu`
//! since Rust 1.90): GNU ld, which cross builds use, has no `--symbol-ordering-file`.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("TARGET") != "x86_64-unknown-linux-gnu" || var("PROFILE") != "release" {
        return;
    }
    // Another linker: one configured for the target, or asked for through the flags.
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "fuse-ld", "link-self-contained"]
            .iter()
            .any(|f| flags.contains(f))
    {
        return;
    }
    if rustc_minor().is_none_or(|minor| minor < 90) {
        return;
    }
    let arg = |a: &str| println!("cargo:rustc-link-arg-bin=fusionfb=-Wl,{a}");
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if order.exists() {
        arg(&format!("--symbol-ordering-file={}", order.display()));
        arg("--no-warn-symbol-ordering");
    }
}

/// The minor version of the rustc building this (`rustc 1.95.0 (…)` gives 95).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
