//! `fusionfb bench`: runs the benchmarks, which live in a program of their own,
//! `fusionfb-bench` (crate `compositor/bench/`), so that the master's library carries neither
//! them nor the client library their client processes use.
//!
//! The program is looked for in `$FUSIONFB_BENCH` if set, then next to this executable (where
//! `cargo build` puts both), then on `PATH`; the arguments are passed through, and its exit
//! status is the command's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The benchmark program's name.
pub const BENCH_BINARY: &str = "fusionfb-bench";

/// The environment variable naming the benchmark program to run, overriding the search.
pub const BENCH_ENV: &str = "FUSIONFB_BENCH";

/// Where the benchmark program is: `$FUSIONFB_BENCH`, else `fusionfb-bench` in the folder of
/// `exe`, else on `PATH`; `None` when it is nowhere.
pub fn locate(exe: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(BENCH_ENV) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let beside = exe.and_then(Path::parent).map(|dir| dir.join(BENCH_BINARY));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(BENCH_BINARY));
    beside.into_iter().chain(on_path).find(|p| p.is_file())
}

/// Runs the benchmark program with `args` (`--json`, `--quick`), waiting for it; an error
/// says what to build when it is missing, or that it failed.
pub fn run(args: &[OsString]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().ok();
    let Some(bench) = locate(exe.as_deref()) else {
        anyhow::bail!(
            "the benchmarks are a program of their own, `{BENCH_BINARY}`, and it is not {}next \
             to {} nor on PATH: build it with `cargo build --release -p fusionfb-bench` (or run \
             `cargo run --release -p fusionfb-bench`)",
            match std::env::var_os(BENCH_ENV) {
                Some(p) => format!("at ${BENCH_ENV} ({}), ", Path::new(&p).display()),
                None => String::new(),
            },
            exe.as_deref()
                .map_or_else(|| "this program".into(), |p| p.display().to_string()),
        );
    };
    let status = Command::new(&bench)
        .args(args)
        .status()
        .with_context(|| format!("starting {}", bench.display()))?;
    anyhow::ensure!(status.success(), "{} failed ({status})", bench.display());
    Ok(())
}
