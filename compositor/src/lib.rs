//! # fusionfb — the master of a fusionfb display
//!
//! This crate's room in the house: the process that owns the display and the input devices
//! and serves applications through a [`fusion`] world. It will hold the configuration,
//! layers, the surface manager, the window stack and its policy, composition and damage,
//! frame scheduling and input routing (the display-server issue), on top of the backends of
//! `gfx-drivers` and `fusionfb-input`. Today it holds the configuration ([`config`]: the
//! TOML board profile `fusionfb run --config FILE` reads), the software compositor
//! ([`compose`]: pixman composition, damage, output transforms, scan-out detection, golden
//! images, a benchmark) and the command line: `fusionfb run` (serve a world), `fusionfb
//! status` (the world's snapshot) and `fusionfb demo` (the Fusion arena demo: several slave
//! processes, input-like events through a reactor, a shared lock and shared memory, a crash
//! in the middle, and the snapshot afterwards).

pub mod arena;
pub mod bench;
pub mod compose;
pub mod config;
pub mod demo;
pub mod input;
pub mod serve;
pub mod server;

/// Sets up `tracing` output filtered by `RUST_LOG` (default: warnings and errors).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
