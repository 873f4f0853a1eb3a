//! `fusionfb soak` (a benchmark, run here for a few seconds): it churns clients, windows,
//! flips and taps against a master of its own, prints the master's memory and descriptors
//! per sample, calls them flat, and leaves no process behind.

use fusionfb_tests::{alive, binary};

#[test]
fn a_short_soak_prints_flat_samples_and_cleans_up() {
    let out = std::process::Command::new(binary("fusionfb"))
        .args(["soak", "--minutes", "0.12", "--seconds-per-sample", "2"])
        .env_remove("FUSIONFB_WORLD")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}{err}");
    // Sample lines: index, rss, shared, fds, then the churn counters.
    let samples: Vec<Vec<u64>> = text
        .lines()
        .filter_map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (v.len() == 10).then_some(v)
        })
        .collect();
    assert!(samples.len() >= 3, "{text}");
    let last = samples.last().unwrap();
    assert!(last[1] > 1024 && last[3] > 3, "rss and fds: {last:?}");
    assert!(
        last[4] > 0 && last[6] > 0 && last[7] > 0 && last[9] > 0,
        "churn: {last:?}"
    );
    assert!(text.contains("soak: flat"), "{text}");
    // Its master and clients are gone.
    let world = text
        .split("(world ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the world's name")
        .to_string();
    let procs = std::fs::read_dir("/proc").unwrap();
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&world) {
            assert!(!alive(pid), "pid {pid} of {world} is still there");
        }
    }
}
