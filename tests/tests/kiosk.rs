//! The `[[app]]` supervisor of a real `fusionfb run` (headless backend): the kiosk profile
//! `configs/paint-kiosk.toml` starts `fusionfb-paint` full screen and starts it again when it is
//! killed; an app that keeps failing is given up with its reason in the log and in
//! `fusionfb status`; SIGTERM to the master stops every app, one that ignores SIGTERM too,
//! and leaves no process behind. Every wait is for something observable, with a generous
//! limit; each test has a world and a runtime directory of its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fusionfb_client::app::PAINT_BACKGROUND;
use fusionfb_client::display::Display;
use fusionfb_tests::{
    alive, fusionfb_output, path_with_binaries, wait_for, wait_until, world, Process,
};
use serde_json::Value;

/// How long anything may take before the test fails (never a hang).
const LIMIT: Duration = Duration::from_secs(60);

/// The master's log filter: the supervisor's lines are what the tests read.
const RUST_LOG: &str = "warn,fusionfb::cli::run=info,fusionfb::apps=info";

fn log_file(w: &fusion::WorldConfig) -> PathBuf {
    std::fs::create_dir_all(w.base_dir()).unwrap();
    w.base_dir().join(format!("{}.log", w.name))
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// The master's apps as `fusionfb status --json` lists them, once `done` holds for them.
fn wait_apps(
    w: &fusion::WorldConfig,
    master: &mut Process,
    log: &Path,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Value::Null;
    let found = fusionfb_tests::poll_for(LIMIT, || {
        if let Some(status) = master.exited() {
            panic!("the master ended ({status}):\n{}", read_log(log));
        }
        let out = fusionfb_output(w, &["status", "--json"])?;
        let v: Value = serde_json::from_str(&out).unwrap();
        last = v["display"]["apps"].clone();
        v["display"]["apps"]
            .as_array()
            .filter(|apps| done(apps))
            .cloned()
    });
    found.unwrap_or_else(|| {
        panic!(
            "timed out waiting for {what}; apps: {last:#}\nlog:\n{}",
            read_log(log)
        )
    })
}

fn pid_of(app: &Value) -> Option<u32> {
    app["pid"].as_u64().map(|p| p as u32)
}

fn running(app: &Value) -> bool {
    app["state"] == "running" && pid_of(app).is_some()
}

/// The parent of process `pid`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn signal(pid: u32, kill: bool) {
    let fd = fusionfb_sys::pidfd_open(pid).expect("pidfd");
    let sent = if kill {
        fusionfb_sys::pidfd_kill(std::os::fd::AsFd::as_fd(&fd))
    } else {
        fusionfb_sys::pidfd_term(std::os::fd::AsFd::as_fd(&fd))
    };
    sent.expect("signal");
}

/// SIGTERM to the master; waits for it to exit 0.
fn stop_master(master: &mut Process, log: &Path) {
    signal(master.pid(), false);
    let status = wait_for("the master to exit on SIGTERM", LIMIT, || master.exited());
    assert!(status.success(), "{status}\n{}", read_log(log));
}

#[test]
fn the_kiosk_profile_runs_paint_full_screen_restarts_it_and_stops_it_with_the_master() {
    let w = world("kiosk");
    let log = log_file(&w);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/paint-kiosk.toml");
    let path = path_with_binaries();
    let mut master = Process::spawn_logged(
        "fusionfb",
        &w,
        &["run", "--backend", "headless", "--config", config],
        &[("PATH", &path), ("RUST_LOG", RUST_LOG)],
        Some(&log),
    );
    // The master starts fusionfb-paint itself, as its child.
    let apps = wait_apps(&w, &mut master, &log, "fusionfb-paint running", |a| {
        a.len() == 1 && running(&a[0])
    });
    assert_eq!(apps[0]["command"], "fusionfb-paint");
    assert_eq!(apps[0]["restart"], "always");
    assert_eq!(apps[0]["restarts"], 0);
    let first = pid_of(&apps[0]).unwrap();
    assert_eq!(parent_of(first), Some(master.pid()));
    assert!(
        read_log(&log).contains(&format!("app fusionfb-paint started (pid {first})")),
        "{}",
        read_log(&log)
    );
    // Its window covers the whole glass (it was given no geometry and found the world
    // through FUSIONFB_WORLD alone), and a tap through `fusionfb input` paints.
    let mut d = Display::connect_to(w.clone()).expect("join the master");
    let bg = PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    let px = |d: &mut Display, x: u32, y: u32| d.screenshot().unwrap().pixel(x, y) & 0xff_ffff;
    wait_until("paint to cover the glass", LIMIT, || {
        [(5, 5), (640, 400), (1274, 794)]
            .iter()
            .all(|&(x, y)| px(&mut d, x, y) == bg)
    });
    fusionfb_output(&w, &["input", "tap", "640", "400"]).expect("fusionfb input tap");
    wait_until("the tap to paint", LIMIT, || px(&mut d, 640, 400) != bg);
    assert_eq!(px(&mut d, 900, 200), bg, "paint only where the finger was");
    drop(d);

    // Killed, it is started again (restart = "always"), with a new pid.
    signal(first, true);
    let apps = wait_apps(&w, &mut master, &log, "fusionfb-paint restarted", |a| {
        running(&a[0]) && pid_of(&a[0]) != Some(first)
    });
    let second = pid_of(&apps[0]).unwrap();
    assert_eq!(apps[0]["restarts"], 1);
    assert_eq!(apps[0]["last_exit"]["signal"], 9);
    assert!(!alive(first), "the killed app was reaped");
    let text = read_log(&log);
    assert!(
        text.contains(&format!(
            "app fusionfb-paint (pid {first}) exited: killed by signal 9"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("app fusionfb-paint started (pid {second})")),
        "{text}"
    );
    let table = fusionfb_output(&w, &["status"]).expect("fusionfb status");
    assert!(table.contains("apps (1)"), "{table}");
    assert!(
        table.contains(&format!("fusionfb-paint  pid {second}  running")),
        "{table}"
    );

    // SIGTERM to the master: the app is stopped with it, and reaped.
    stop_master(&mut master, &log);
    assert!(!alive(second), "fusionfb-paint outlived the master");
    let text = read_log(&log);
    assert!(
        text.contains(&format!("app fusionfb-paint (pid {second}) stopped")),
        "{text}"
    );
    let _ = std::fs::remove_file(&log);
}

#[test]
fn an_app_that_keeps_failing_is_given_up_and_one_ignoring_sigterm_is_killed() {
    let w = world("kiosk-fail");
    let log = log_file(&w);
    let config = w.base_dir().join(format!("{}.toml", w.name));
    std::fs::write(
        &config,
        r#"
[display]
backend = "headless"
mode = "320x240@60"

[[app]]
command = "sh"
args = ["-c", "exit 1"]
restart = "on-failure"

[[app]]
command = "true"
restart = "on-failure"

[[app]]
command = "sh"
args = ["-c", "trap '' TERM; echo $$ > \"$PIDFILE\"; while :; do sleep 0.1; done"]
env = { PIDFILE = "PIDFILE_PATH" }
"#
        .replace(
            "PIDFILE_PATH",
            &w.base_dir()
                .join(format!("{}.pid", w.name))
                .to_string_lossy(),
        ),
    )
    .unwrap();
    let mut master = Process::spawn_logged(
        "fusionfb",
        &w,
        &["run", "--config", config.to_str().unwrap()],
        &[("RUST_LOG", RUST_LOG)],
        Some(&log),
    );
    let apps = wait_apps(&w, &mut master, &log, "the failing app given up", |a| {
        a.len() == 3 && a[0]["state"]["gave-up"].is_object() && running(&a[2])
    });
    // Exit status 1, restarted with a back-off until five quick exits: given up, and why.
    let reason = apps[0]["state"]["gave-up"]["reason"].as_str().unwrap();
    assert!(reason.contains("exited 5 times within 60 s"), "{reason}");
    assert!(reason.contains("exit status 1"), "{reason}");
    assert_eq!(apps[0]["restarts"], 4);
    assert_eq!(apps[0]["pid"], Value::Null);
    assert_eq!(apps[0]["last_exit"]["code"], 1);
    let text = read_log(&log);
    assert!(
        text.contains("app sh: gave up restarting it: it exited 5 times within 60 s"),
        "{text}"
    );
    assert!(text.contains("app sh: restarting in 0.5 s"), "{text}");
    // A clean exit is no failure: on-failure leaves it exited.
    assert_eq!(apps[1]["state"], "exited");
    assert_eq!(apps[1]["restarts"], 0);
    assert_eq!(apps[1]["last_exit"]["code"], 0);
    let table = fusionfb_output(&w, &["status"]).expect("fusionfb status");
    assert!(table.contains("apps (3)"), "{table}");
    assert!(
        table.contains("sh -c exit 1  not running  gave up: it exited 5 times"),
        "{table}"
    );
    assert!(
        table.contains("true  not running  exited (exit status 0)"),
        "{table}"
    );

    // The third app ignores SIGTERM: the master kills it when it shuts down.
    let pidfile = w.base_dir().join(format!("{}.pid", w.name));
    wait_until("the third app to write its pid", LIMIT, || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    });
    let stubborn = pid_of(&apps[2]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        stubborn.to_string()
    );
    stop_master(&mut master, &log);
    assert!(
        !alive(stubborn),
        "the app ignoring SIGTERM outlived the master"
    );
    let text = read_log(&log);
    assert!(
        text.contains(&format!(
            "app sh (pid {stubborn}) did not exit within 2.0 s of SIGTERM: killing it"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "app sh (pid {stubborn}) stopped: killed by signal 9"
        )),
        "{text}"
    );
    for file in [&log, &config, &pidfile] {
        let _ = std::fs::remove_file(file);
    }
}

/// Context switches the process `pid` made of its own accord (all its threads): each is a
/// wake-up from sleep.
fn voluntary_switches(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

#[test]
fn an_idle_master_sleeps_until_something_happens() {
    let w = world("kiosk-idle");
    let log = log_file(&w);
    let config = w.base_dir().join(format!("{}.toml", w.name));
    std::fs::write(
        &config,
        r#"
[display]
backend = "headless"
mode = "320x240@60"

[[app]]
command = "sleep"
args = ["600"]
restart = "always"
"#,
    )
    .unwrap();
    let mut master = Process::spawn_logged(
        "fusionfb",
        &w,
        &["run", "--config", config.to_str().unwrap()],
        &[("RUST_LOG", RUST_LOG)],
        Some(&log),
    );
    let apps = wait_apps(&w, &mut master, &log, "the app running", |a| {
        a.len() == 1 && running(&a[0])
    });
    let first = pid_of(&apps[0]).unwrap();
    // Nothing to do: no client, no input, no frame, an app that runs on. The master's loop
    // waits on its sources (the world's socket, the backend, the input, the stop signals and
    // the app's pidfd) without waking on a period; a poll every 200 ms would wake it 10 times
    // in 2 s.
    std::thread::sleep(Duration::from_millis(300));
    let before = voluntary_switches(master.pid());
    std::thread::sleep(Duration::from_secs(2));
    let woke = voluntary_switches(master.pid()) - before;
    assert!(woke <= 3, "the idle master woke {woke} times in 2 s");
    // The app's exit wakes it at once: restarted (the back-off's first step is 0.5 s).
    signal(first, true);
    wait_apps(&w, &mut master, &log, "the app restarted", |a| {
        running(&a[0]) && pid_of(&a[0]) != Some(first)
    });
    stop_master(&mut master, &log);
}
