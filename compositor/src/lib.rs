//! # fusionfb — the master of a fusionfb display
//!
//! This crate's room in the house: the process that owns the display and the input devices
//! and serves applications through a [`fusion`] world, on top of the backends of
//! `gfx-drivers` and `fusionfb-input`. It holds the configuration ([`config`]: the TOML
//! board profile `fusionfb run --config FILE` reads), the display server ([`server`]:
//! layers, surfaces, windows and their descriptors in shared memory, frame scheduling,
//! input routing), the software compositor ([`compose`]: pixman composition, damage, output
//! transforms, scan-out detection, golden images) and the command line: `fusionfb run`
//! ([`serve`], with the supervisor of the config's `[[app]]` programs in [`apps`]),
//! `fusionfb status` ([`status`]), `fusionfb screenshot`, `fusionfb demo`
//! ([`demo`]: the display demo with the demo apps and a scripted touch sequence),
//! `fusionfb arena-demo` ([`arena`]: Fusion alone) and `fusionfb bench` ([`bench`]).

pub mod apps;
pub mod arena;
pub mod bench;
pub mod compose;
pub mod config;
pub mod demo;
pub mod input;
pub mod serve;
pub mod server;
pub mod status;

/// Sets up `tracing` output filtered by `RUST_LOG` (default: warnings and errors).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // Warnings, the one line saying which display backend was chosen and why, and the
        // `[[app]]` supervisor's starts, exits and restarts.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,fusionfb::serve=info,fusionfb::apps=info")
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
