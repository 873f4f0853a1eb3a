//! The `fusionfb` command, run as a user would: real processes, real worlds.

use std::process::{Command, Stdio};
use std::time::Duration;

use fusion_testing::{wait_for, wait_until};

fn fusionfb(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fusionfb"));
    c.env("FUSIONFB_RUNTIME_DIR", dir);
    c
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fusionfb-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn arena_demo_runs_and_passes_its_checks() {
    let dir = tmp("demo");
    let out = fusionfb(&dir)
        .args(["arena-demo", "--slaves", "4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("4 slave processes joined"), "{text}");
    assert!(text.contains("(OwnerDied)"), "{text}");
    assert!(text.contains("all checks passed"), "{text}");
}

#[test]
fn run_serves_status_and_stops_on_sigterm() {
    let dir = tmp("run");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/headless.toml");
    // The log goes to a file, as under journald: the default filter, no colour.
    let log_path = dir.join("master.log");
    let mut master = fusionfb(&dir)
        .args(["--world", "cli-run", "run", "--config", config])
        .env_remove("RUST_LOG")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let snap = wait_for("status to answer", Duration::from_secs(20), || {
        let out = fusionfb(&dir)
            .args(["--world", "cli-run", "status", "--json"])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap())
    });
    assert_eq!(snap["world"], "cli-run");
    assert_eq!(snap["fusionees"][0]["role"], "master");
    // `fusionfb run` is the supervisor; the master is its child.
    let master_pid = snap["master_pid"].as_u64().unwrap() as u32;
    let stat = std::fs::read_to_string(format!("/proc/{master_pid}/stat")).unwrap();
    let parent: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(parent, master.id(), "{stat}");
    // What is on the display: the config's primary layer and its overlay, shared, no windows.
    assert_eq!(snap["display"]["layers"][0]["kind"], 0);
    assert_eq!(
        snap["display"]["layers"][0]["exclusive_surface"],
        serde_json::Value::Null
    );
    assert_eq!(snap["display"]["windows"].as_array().map(Vec::len), Some(0));
    // The frame counters (protocol minor 2): with no windows every frame is the whole
    // 1280x800 background, composed.
    let frames = &snap["display"]["frames"];
    let committed = frames["committed"].as_u64().unwrap();
    assert!(committed >= 1, "{frames}");
    assert_eq!(
        frames["bytes_composed_total"].as_u64(),
        Some(committed * 1280 * 800 * 4),
        "{frames}"
    );
    // The config starts no apps (protocol minor 3: the list is there, empty).
    assert_eq!(snap["display"]["apps"].as_array().map(Vec::len), Some(0));
    // The master's own health (protocol minor 6): its pid, memory, fds, threads and when it
    // started, without reading its /proc.
    let health = &snap["display"]["health"];
    assert_eq!(health["pid"], master_pid, "{health}");
    assert_eq!(health["restarts"], 0, "{health}");
    let n = |k: &str| health[k].as_u64().unwrap_or(0);
    assert!(n("rss_kib") > 1024 && n("shared_kib") > 0, "{health}");
    assert!(n("fds") >= 5 && n("threads") >= 1, "{health}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        n("started_unix_ms") <= now_ms && now_ms - n("started_unix_ms") < 120_000,
        "{health}"
    );
    let table = fusionfb(&dir)
        .args(["--world", "cli-run", "status"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("fusionees (1)"), "{table}");
    assert!(table.contains("layers (2)"), "{table}");
    assert!(table.contains("windows (0) as"), "{table}");
    assert!(table.contains("apps (0)"), "{table}");
    assert!(
        table.contains(&format!("master pid {master_pid}: ")) && table.contains(" UTC"),
        "{table}"
    );
    // A screenshot of the (empty) headless glass.
    let png_path = dir.join("shot.png");
    let out = fusionfb(&dir)
        .args(["--world", "cli-run", "screenshot"])
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = fusionfb::compose::png::read(&png_path).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 800));
    // A second master for the same world is refused with a clear message.
    let second = fusionfb(&dir)
        .args(["--world", "cli-run", "run"])
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already has a live master"));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(master.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let st = wait_for(
        "fusionfb run to exit on SIGTERM",
        Duration::from_secs(20),
        || master.try_wait().unwrap(),
    );
    assert!(st.success());
    // The log: one line per slave entering and leaving (pid, executable), the reason the
    // master stopped, and no ANSI colour codes in a file.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains('\x1b'), "colour codes in a log file:\n{log}");
    let entered = log
        .lines()
        .find(|l| l.contains("entered"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        entered.contains("pid=") && entered.contains("exe="),
        "{log}"
    );
    assert!(entered.contains("fusionfb"), "{log}");
    let left = log
        .lines()
        .find(|l| l.contains("left:"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(left.contains("pid=") && left.contains("exe="), "{log}");
    assert!(log.contains("master stopping: SIGTERM"), "{log}");
    // Status of a world with no master is a clear error.
    let out = fusionfb(&dir)
        .args(["--world", "cli-run", "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no master"));
}

#[test]
fn a_bad_config_names_the_file_line_and_key() {
    let dir = tmp("badcfg");
    let cfg = dir.join("board.toml");
    std::fs::write(
        &cfg,
        "[display]\nbackend = \"headless\"\nmode = \"1280y800\"\n",
    )
    .unwrap();
    let out = fusionfb(&dir)
        .args(["--world", "cli-bad", "run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("board.toml:3:"), "{err}");
    assert!(err.contains("display.mode"), "{err}");
}

#[test]
fn a_keymap_that_does_not_compile_is_a_config_error_at_start() {
    let dir = tmp("badkeymap");
    let cfg = dir.join("kiosk.toml");
    for (text, line, key) in [
        (
            "[display]\nbackend = \"headless\"\n\n[input.keyboard]\nlayout = \"xx\"\n",
            5,
            "input.keyboard.layout",
        ),
        (
            "[input]\nkeyboard = { layout = \"us\", variant = \"no-such-variant\" }\n",
            2,
            "input.keyboard.variant",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = fusionfb(&dir)
            .args([
                "--world",
                "cli-keymap",
                "run",
                "--backend",
                "headless",
                "--config",
            ])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("kiosk.toml:{line}:")), "{err}");
        assert!(err.contains(key), "{err}");
        assert!(err.contains("does not compile"), "{err}");
    }
}

/// A master process, killed when dropped (also when the test fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fusionfb run` on the headless backend with `config` and waits until `status`
/// answers (with `env` set for both).
fn start_master(
    dir: &std::path::Path,
    world: &str,
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> Running {
    let master = fusionfb(dir)
        .args(["--world", world, "run", "--backend", "headless", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let master = Running(master);
    wait_until("status to answer", Duration::from_secs(20), || {
        fusionfb(dir)
            .args(["--world", world, "status"])
            .envs(env.iter().copied())
            .output()
            .unwrap()
            .status
            .success()
    });
    master
}

#[test]
fn input_outside_the_output_is_refused_with_its_size() {
    let dir = tmp("input-range");
    let cfg = dir.join("board.toml");
    std::fs::write(&cfg, "[display]\nmode = \"640x480\"\n").unwrap();
    let master = start_master(&dir, "cli-range", &cfg, &[]);
    let input = |args: &[&str]| {
        let out = fusionfb(&dir)
            .args(["--world", "cli-range", "input"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["tap", "5000", "5000"][..],
        &["tap", "-5", "10"],
        &["pointer", "10", "480"],
        &["swipe", "10", "10", "700", "10"],
    ] {
        let (ok, err) = input(args);
        assert!(!ok, "{args:?} was accepted");
        assert!(
            err.contains("outside the 640x480 output"),
            "{args:?}: {err}"
        );
    }
    let (ok, err) = input(&["swipe", "10", "10", "600", "10", "--duration", "20000"]);
    assert!(!ok);
    assert!(err.contains("0..=10000"), "the cap is named: {err}");
    let (ok, err) = input(&["tap", "639", "479"]);
    assert!(ok, "a tap on the last pixel: {err}");
    drop(master);
}

#[test]
fn a_world_of_another_abi_is_joined_with_fusionfb_abi() {
    let dir = tmp("abi");
    let cfg = dir.join("board.toml");
    std::fs::write(&cfg, "[world]\nabi = 7\n").unwrap();
    let master = start_master(&dir, "cli-abi", &cfg, &[("FUSIONFB_ABI", "7")]);
    let out = fusionfb(&dir)
        .args(["--world", "cli-abi", "status"])
        .env_remove("FUSIONFB_ABI")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ABI 7"), "{err}");
    drop(master);
}

/// `fusionfb bench` runs the `fusionfb-bench` program with its flags (here `/bin/echo`
/// stands in for it; the bench itself is tested in `compositor/bench/tests/cli.rs`).
#[test]
fn bench_runs_the_bench_program_with_its_arguments() {
    let dir = tmp("bench");
    let out = fusionfb(&dir)
        .args(["bench", "--quick", "--json"])
        .env("FUSIONFB_BENCH", "/bin/echo")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "--json --quick\n");
}

#[test]
fn bench_without_its_program_says_what_to_build() {
    let dir = tmp("bench-missing");
    let out = fusionfb(&dir)
        .arg("bench")
        .env("FUSIONFB_BENCH", dir.join("no-such-bench"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ran without its program:\n{err}");
    assert!(
        err.contains("fusionfb-bench") && err.contains("cargo build --release -p fusionfb-bench"),
        "{err}"
    );
}

#[test]
fn drm_on_a_missing_card_is_a_clear_error_and_auto_falls_back_with_a_reason() {
    let dir = tmp("drm");
    let cfg = dir.join("board.toml");
    std::fs::write(
        &cfg,
        "[world]\nname = \"drm-missing\"\n[display]\nbackend = \"drm\"\ndevice = \"/nonexistent/dri/card7\"\n",
    )
    .unwrap();
    let out = fusionfb(&dir)
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ran without a card:\n{err}");
    assert!(
        err.contains("drm backend") && err.contains("/nonexistent/dri/card7"),
        "the error names the backend and the device:\n{err}"
    );
    // `auto` on the same device: no usable card, so headless, and the log says why.
    std::fs::write(
        &cfg,
        "[world]\nname = \"drm-auto\"\n[display]\nbackend = \"auto\"\ndevice = \"/nonexistent/dri/card7\"\n",
    )
    .unwrap();
    let mut child = fusionfb(&dir)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    // Wait until it serves, then stop it.
    wait_until("the auto master to serve", Duration::from_secs(20), || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the auto master exited"
        );
        fusionfb(&dir)
            .args(["--world", "drm-auto", "status", "--json"])
            .output()
            .unwrap()
            .status
            .success()
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .ok();
    child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(
        log.contains("backend: headless (auto: drm: no usable card") && log.contains("card7"),
        "auto says why it did not take DRM:\n{log}"
    );
}
