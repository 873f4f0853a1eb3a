//! The `fusionfb` command's subcommands, one module each: `fusionfb run` ([`run`]: the
//! master on the backend the config and the command line choose, with the supervisor of the
//! config's `[[app]]`s), `fusionfb status` ([`status`]), `fusionfb screenshot`
//! ([`screenshot`]), `fusionfb input` ([`input`]: synthetic input through the master's
//! routing, and the opening of the config's input devices), `fusionfb demo` ([`demo`]: the
//! display demo with the demo apps and a scripted touch sequence), `fusionfb reload`
//! ([`reload`]: the master reads its config again), `fusionfb blank on|off` ([`blank`]:
//! the display off or back on), `fusionfb arena-demo`
//! ([`arena`]: Fusion alone) and `fusionfb bench` ([`bench`](mod@bench): runs the separate
//! `fusionfb-bench` program). `main.rs` only parses the command line and calls these.

pub mod arena;
pub mod bench;
pub mod blank;
pub mod demo;
pub mod input;
pub mod reload;
pub mod run;
pub mod screenshot;
pub mod status;

/// The last line of a demo (`fusionfb demo`, `fusionfb arena-demo`): how long it took and
/// whether every check passed (seconds with `decimals` places); an error when one did not.
pub(crate) fn finish(
    name: &str,
    started: std::time::Instant,
    decimals: usize,
    ok: bool,
) -> anyhow::Result<()> {
    let verdict = if ok {
        "all checks passed"
    } else {
        "SOME CHECKS FAILED"
    };
    println!(
        "{name}: done in {:.*} s — {verdict}",
        decimals,
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(ok, "the demo's checks failed");
    Ok(())
}
