//! Config reload without a restart: `fusionfb reload` and SIGHUP make the running master
//! read its config file again; the background (a pixel on the glass), the calibration, the
//! keymap and the placement rules change live, a mode change is named as needing a restart,
//! and a broken file is refused with its file, line and key while the running config stays.

use std::time::Duration;

use fusionfb_tests::{fusionfb_command, wait_for, wait_until, world, Process};

const LIMIT: Duration = Duration::from_secs(60);

fn config(background: &str, mode: &str, extra: &str) -> String {
    format!(
        "[display]\nbackend = \"headless\"\nmode = \"{mode}\"\nbackground = \"{background}\"\n{extra}"
    )
}

/// `fusionfb --world W ARGS`: (success, stdout, stderr).
fn fusionfb(w: &fusion::WorldConfig, args: &[&str]) -> (bool, String, String) {
    let out = fusionfb_command(w, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn background(w: &fusion::WorldConfig) -> u32 {
    fusionfb_tests::glass_pixel(w, 5, 5, LIMIT)
}

#[test]
fn reload_and_sighup_apply_live_keys_and_refuse_a_broken_file() {
    let w = world("reload");
    let file =
        fusionfb_tests::write_config(&w, "reload.toml", &config("#102030", "640x480@60", ""));
    let log = w.base_dir().join("reload.log");
    let mut master = Process::spawn_logged(
        "fusionfb",
        &w,
        &["run", "--config", file.to_str().unwrap()],
        &[("RUST_LOG", "warn,fusionfb=info")],
        Some(&log),
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the master", LIMIT, || {
        master.assert_running();
        fusionfb(&w, &["status"]).0
    });
    wait_until("the first frame", LIMIT, || background(&w) == 0x10_2030);

    // Live keys, and one that is not.
    let extra = r#"
[input]
calibration = [0.5, 0.0, 0.25, 0.0, 0.5, 0.25]
cursor-visible = false

[input.keyboard]
layout = "us"
repeat-delay = 400

[wayland]
[[wayland.rule]]
app-id = "weston-terminal"
position = [10, 20]
size = [300, 200]
"#;
    std::fs::write(&file, config("#405060", "800x600@60", extra)).unwrap();
    let (ok, out, err) = fusionfb(&w, &["reload"]);
    assert!(ok, "{out}{err}");
    for key in [
        "display.background",
        "input.calibration",
        "input.keyboard",
        "input.cursor-visible",
        "wayland.rule",
    ] {
        assert!(out.contains(key), "{key} not applied: {out}");
    }
    assert!(
        out.contains("taking a restart of the master: display.mode"),
        "{out}"
    );
    wait_until("the new background", LIMIT, || background(&w) == 0x40_5060);
    wait_until("the log line naming what takes a restart", LIMIT, || {
        read_log().contains("display.mode changed but take a restart")
    });

    // SIGHUP (to `fusionfb run`, which passes it on) does the same.
    std::fs::write(&file, config("#708090", "640x480@60", extra)).unwrap();
    let fd = fusionfb_sys::pidfd_open(master.pid()).unwrap();
    fusionfb_sys::pidfd_hup(std::os::fd::AsFd::as_fd(&fd)).unwrap();
    wait_until("SIGHUP to reload", LIMIT, || background(&w) == 0x70_8090);
    master.assert_running();

    // A broken file is refused with its file, line and key; nothing changes.
    std::fs::write(
        &file,
        config(
            "#ffffff",
            "640x480@60",
            "[input]\ncalibration = [1.0, 2.0]\n",
        ),
    )
    .unwrap();
    let (ok, out, err) = fusionfb(&w, &["reload"]);
    assert!(!ok, "a broken file was taken: {out}");
    let name = file.display().to_string();
    assert!(
        err.contains(&format!("{name}:")) && err.contains("calibration"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(background(&w), 0x70_8090, "the running config changed");
    assert!(read_log().contains("reload refused, the running config stays"));

    let fd = fusionfb_sys::pidfd_open(master.pid()).unwrap();
    fusionfb_sys::pidfd_term(std::os::fd::AsFd::as_fd(&fd)).unwrap();
    let status = wait_for("fusionfb run to stop", LIMIT, || master.exited());
    assert!(status.success(), "{}", read_log());
}
