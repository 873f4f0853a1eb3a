//! The `fusionfb-bench` command, run as a user would (what `fusionfb bench` runs).

use std::process::Command;

fn bench(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fusionfb-bench"));
    c.env("FUSIONFB_RUNTIME_DIR", dir);
    c
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fusionfb-bench-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bench_quick_prints_its_figures_as_json() {
    let dir = tmp("bench");
    let out = bench(&dir).args(["--quick", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for want in [
        "start to first frame",
        "master RSS idle",
        "slave join (enter + root)",
        "compose: compose full",
        "touch to app, 1 slave",
        "touch to app, 8 slaves",
        "baseline: unix socket wake",
        "composed per frame, exclusive",
        "composed per frame, 32x32 damage",
        "composed per pointer motion, cursor plane",
        "composed per pointer motion, no plane",
        "flip to present, damage",
        "flip to present, flip-random",
        "master RSS idle excl. shared memory, Wayland on",
        "master RSS idle excl. shared memory, fusionfb run",
        "master RSS idle excl. shared memory, supervised",
        "supervisor RSS idle excl. shared memory",
        "master CPU per frame, 4 Wayland animating",
        "client frame rate, 4 Wayland animating",
        "touch to Wayland client",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let figure = |name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    // Counters, not timings: an exclusive layer composes nothing, a 32x32 damage 4096 bytes.
    assert_eq!(figure("composed per frame, exclusive")["p99"], 0.0);
    assert_eq!(figure("composed per frame, 32x32 damage")["median"], 4096.0);
    // The hardware cursor composes nothing per motion; the composed one does.
    assert_eq!(
        figure("composed per pointer motion, cursor plane")["p99"],
        0.0
    );
    let composed = figure("composed per pointer motion, no plane")["median"]
        .as_f64()
        .unwrap();
    assert!(composed > 0.0, "{composed}");
    // The Wayland clients drew: frame callbacks came, at about the display's rate.
    let fps = figure("client frame rate, 4 Wayland animating")["median"]
        .as_f64()
        .unwrap();
    assert!(fps > 10.0, "Wayland clients at {fps} fps");
}
