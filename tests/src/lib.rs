//! # fusionfb-tests — tests across the whole house
//!
//! This crate's room: integration tests that need several crates at once — a master from
//! `fusionfb` on a real backend, applications from `fusionfb-client` in real processes, and
//! the pixels that reach the (headless) glass. Later the emulated-board tests live here too.
//! The library part holds the shared test harness.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A world in a runtime directory of its own (parallel-safe, per test run).
pub fn world(tag: &str) -> fusion::WorldConfig {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir: PathBuf = std::env::temp_dir().join(format!("fusionfb-tests-{}", std::process::id()));
    fusion::WorldConfig::new(&format!("{tag}-{n}")).runtime_dir(dir)
}

/// The world a child process was told to use (`FUSIONFB_TEST_WORLD`, `FUSIONFB_TEST_DIR`).
pub fn child_world() -> fusion::WorldConfig {
    fusion::WorldConfig::new(&std::env::var("FUSIONFB_TEST_WORLD").expect("FUSIONFB_TEST_WORLD"))
        .runtime_dir(std::env::var("FUSIONFB_TEST_DIR").expect("FUSIONFB_TEST_DIR"))
}

/// Starts this test executable again as a child in `role` (its `child_main` test), with a
/// barrier to line up with it.
pub fn spawn(
    role: &str,
    w: &fusion::WorldConfig,
) -> (std::process::Child, fusion::barrier::Barrier) {
    let (parent, child) = fusion::barrier::Barrier::pair().expect("barrier");
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("exe"));
    cmd.args(["--exact", "child_main", "--include-ignored", "--nocapture"])
        .env("FUSIONFB_TEST_ROLE", role)
        .env("FUSIONFB_TEST_WORLD", &w.name)
        .env("FUSIONFB_TEST_DIR", w.base_dir())
        .stdout(std::process::Stdio::null());
    child.pass_to(&mut cmd).expect("pass barrier");
    let c = cmd.spawn().expect("spawn child");
    drop(child);
    (c, parent)
}
