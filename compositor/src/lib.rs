//! # fusionfb — the master of a fusionfb display
//!
//! This crate's room in the house: the process that owns the display and the input devices
//! and serves applications through a [`fusion`] world, on top of the backends of
//! `gfx-drivers` and `fusionfb-input`. It holds the configuration ([`config`]: the TOML
//! board profile `fusionfb run --config FILE` reads), the display server ([`server`]:
//! layers, surfaces, windows and their descriptors in shared memory, frame scheduling,
//! input routing), the seat ([`seat`]: where input goes — hit test, grabs, enter/leave,
//! focus — as a pure model the server carries out), the software compositor ([`compose`]:
//! pixman composition, damage, output transforms, scan-out detection, PNG files), the
//! supervisor of the config's `[[app]]` programs ([`apps`]), the Wayland frontend (`wayland`,
//! cargo feature `wayland`: unmodified Wayland clients in the same scene) and the command's
//! subcommands ([`cli`]: `run`, `status`, `screenshot`, `input`, `demo`, `arena-demo`,
//! `bench`).
//!
//! The crate has no `unsafe` (`#![deny(unsafe_code)]`) but in two places: pixman's C API,
//! whose images over borrowed memory are made in `compose`'s `pixman_glue` module, and the
//! row copy out of a Wayland client's wl_shm pool, which smithay hands out as a raw pointer
//! (`wayland::shm`).

#![deny(unsafe_code)]

pub mod apps;
pub mod cli;
pub mod compose;
pub mod config;
pub mod seat;
pub mod server;
pub mod supervisor;
#[cfg(feature = "wayland")]
pub mod wayland;

/// What the log shows without `RUST_LOG`: warnings and errors; the line saying which display
/// backend was chosen and why, and why the master stopped (`fusionfb::cli::run`); one line per
/// slave entering and leaving, with its pid and executable (`fusion::master`); each app the
/// master starts, loses or gives up on (`fusionfb::apps`); where the Wayland socket is and
/// why (`fusionfb::wayland`). winit's and the Wayland client
/// toolkit's own chatter (the desktop `window` backend) is left out.
pub const DEFAULT_LOG_FILTER: &str = "warn,fusionfb::cli::run=info,fusionfb::apps=info,fusionfb::supervisor=info,\
     fusionfb::wayland=info,fusion::master=info,winit=error,sctk=error,smithay_client_toolkit=error,calloop=error";

/// What the other commands log without `RUST_LOG`: warnings and the backend line (the demo
/// and the bench run a master of their own, whose join and leave lines would only
/// interleave with their report).
pub const QUIET_LOG_FILTER: &str =
    "warn,fusionfb::cli::run=info,winit=error,sctk=error,smithay_client_toolkit=error";

/// Sets up `tracing` output on stderr, filtered by `RUST_LOG` (default: `default`, which
/// is [`DEFAULT_LOG_FILTER`] for `fusionfb run` and [`QUIET_LOG_FILTER`] for the rest), in
/// colour only when stderr is a terminal (not for journald or a log file).
pub fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
