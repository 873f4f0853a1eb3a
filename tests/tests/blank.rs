//! Display blanking on the headless backend: the master blanks after `blank-after` without
//! input (the glass reads dark, an animating client gets no frames), the first tap wakes it
//! and reaches nobody, the next one reaches the window; a client that inhibits blanking
//! keeps the display on until it leaves; `fusionfb blank on|off` works on a running master.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fusionfb::compose::Transform;
use fusionfb::server::{LayerSpec, Server};
use fusionfb_client::display::{ClientEvent, Display};
use fusionfb_client::Format;
use fusionfb_protocol::{Injected, TouchPhase};
use fusionfb_tests::{
    child_world, fusionfb_command, spawn, wait_for, wait_until, world, Proc, Process,
};
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};

const LIMIT: Duration = Duration::from_secs(30);
/// The window's colour.
const GREEN: u32 = 0x40_8040;

/// Entry point of child processes: `animator LOG` (a full-screen window that flips again on
/// every `FrameDone`; every event is logged, one `Debug` line each) or `inhibitor LOG`
/// (the same, after asking the master to keep the display on).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let mut d = Display::connect_to(child_world()).unwrap();
    let mut barrier = fusion::barrier::Barrier::from_env().unwrap();
    let log = PathBuf::from(args[1]);
    if args[0] == "inhibitor" {
        d.inhibit_blanking(true).unwrap();
    }
    let mut s = d.create_surface(320, 240, Format::Xrgb8888, 2).unwrap();
    s.back().fill(0xff00_0000 | GREEN).unwrap();
    let _w = d.create_window(&s, 0, 0, 0).unwrap();
    d.flip(&mut s, &[]).unwrap();
    d.wait_frame(&s, Duration::from_secs(10)).unwrap();
    barrier.place().unwrap();
    use std::io::Write;
    let mut f = std::fs::File::create(&log).unwrap();
    // Start animating: every FrameDone brings the next flip.
    d.flip(&mut s, &[]).unwrap();
    loop {
        d.dispatch(Some(Duration::from_millis(50))).unwrap();
        while let Some(e) = d.next_event() {
            if matches!(e, ClientEvent::Configure { .. }) {
                continue;
            }
            let frame_done = matches!(e, ClientEvent::FrameDone { .. });
            writeln!(f, "{e:?}").unwrap();
            if frame_done {
                s.back().fill(0xff00_0000 | GREEN).unwrap();
                d.flip(&mut s, &[]).unwrap();
            }
            if e == ClientEvent::MasterGone {
                return;
            }
        }
    }
}

fn server(tag: &str) -> (Server, fusion::WorldConfig) {
    let w = world(tag);
    let out = HeadlessOutputConfig::new().mode(320, 240, 60_000);
    let backend = HeadlessBackend::new(vec![out]).unwrap();
    let s = Server::with_layers(
        w.clone(),
        Box::new(backend),
        Transform::Normal,
        vec![LayerSpec::primary()],
    )
    .unwrap();
    (s, w)
}

/// A child in `role`; returns once its window is on the glass.
fn child(s: &mut Server, w: &fusion::WorldConfig, role: &str, tag: &str) -> (Proc, PathBuf) {
    let log = std::env::temp_dir().join(format!("fusionfb-blank-{}-{tag}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut c = spawn(&format!("{role} {}", log.display()), w, &[]);
    wait_until("the child to get ready", LIMIT, || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        c.barrier.sync(Some(Duration::from_millis(1))).is_ok()
    });
    (c, log)
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn frames_done(log: &Path) -> usize {
    log_lines(log)
        .iter()
        .filter(|l| l.starts_with("FrameDone"))
        .count()
}

fn touches(log: &Path) -> usize {
    log_lines(log)
        .iter()
        .filter(|l| l.starts_with("Touch"))
        .count()
}

/// Serves for `d`.
fn serve(s: &mut Server, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
}

fn tap(s: &mut Server, x: f32, y: f32) {
    let t = |phase| Injected::Touch {
        phase,
        slot: 0,
        x,
        y,
    };
    let frame = t(TouchPhase::Frame);
    s.inject(
        vec![t(TouchPhase::Down), frame.clone(), t(TouchPhase::Up), frame],
        fusionfb_sys::now_ns(),
    )
    .unwrap();
}

/// The glass's pixels that are not black.
fn lit(s: &Server) -> usize {
    let img = s.screenshot().unwrap();
    (0..img.height)
        .flat_map(|y| (0..img.width).map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y) & 0xff_ffff != 0)
        .count()
}

#[test]
fn idle_blanking_darkens_the_glass_stops_frames_and_the_waking_tap_reaches_nobody() {
    let (mut s, w) = server("blank-idle");
    let (mut c, log) = child(&mut s, &w, "animator", "idle");
    s.set_blank_after(Some(Duration::from_millis(400)));
    wait_until("frames while the display is on", LIMIT, || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        frames_done(&log) >= 3
    });
    assert!(!s.blanked());
    assert_eq!(s.screenshot().unwrap().pixel(160, 120) & 0xff_ffff, GREEN);
    wait_until("the display to blank", LIMIT, || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        s.blanked()
    });
    assert_eq!(lit(&s), 0, "the blanked glass is not dark");
    // The client keeps running but gets no frames.
    serve(&mut s, Duration::from_millis(100));
    let (committed, done) = (s.frames(), frames_done(&log));
    serve(&mut s, Duration::from_millis(500));
    assert_eq!(s.frames(), committed, "frames were made while blanked");
    assert_eq!(frames_done(&log), done, "FrameDone while blanked");

    // The waking tap turns it on and reaches nobody.
    tap(&mut s, 160.0, 120.0);
    assert!(!s.blanked());
    wait_until("frames again", LIMIT, || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        frames_done(&log) > done + 2
    });
    assert_eq!(s.screenshot().unwrap().pixel(160, 120) & 0xff_ffff, GREEN);
    assert_eq!(touches(&log), 0, "the waking tap reached the window");
    // The next one does.
    tap(&mut s, 160.0, 120.0);
    wait_until("the second tap to arrive", LIMIT, || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        touches(&log) >= 4
    });
    let b = s.scene().blanking.expect("blanking status");
    // The tap's down and up at least (frames as the input source makes them).
    assert_eq!((b.blanks, b.wakes), (1, 1), "{b:?}");
    assert!(b.swallowed >= 2, "{b:?}");
    assert_eq!(b.after_ms, Some(400));
    c.kill();
}

#[test]
fn an_inhibiting_client_keeps_the_display_on_until_it_leaves() {
    let (mut s, w) = server("blank-inhibit");
    let (mut c, _log) = child(&mut s, &w, "inhibitor", "inhibit");
    s.set_blank_after(Some(Duration::from_millis(200)));
    serve(&mut s, Duration::from_millis(1200));
    assert!(!s.blanked(), "blanked although a client inhibits");
    let b = s.scene().blanking.unwrap();
    assert_eq!(b.inhibited_by, vec![c.pid()], "{b:?}");
    c.kill();
    wait_until(
        "the display to blank once the client is gone",
        LIMIT,
        || {
            s.dispatch(Some(Duration::from_millis(5))).unwrap();
            s.blanked()
        },
    );
    assert!(s.scene().blanking.unwrap().inhibited_by.is_empty());
    // By hand: on and off, and a key wakes it too.
    s.blank(false).unwrap();
    assert!(!s.blanked());
    s.blank(true).unwrap();
    assert!(s.blanked());
    s.inject(
        vec![Injected::Key {
            keycode: 30,
            pressed: true,
        }],
        1,
    )
    .unwrap();
    assert!(!s.blanked(), "a key did not wake the display");
}

#[test]
fn fusionfb_blank_turns_a_running_masters_display_off_and_on() {
    let w = world("blank-cli");
    let file = fusionfb_tests::write_config(
        &w,
        "blank.toml",
        "[display]\nbackend = \"headless\"\nmode = \"320x240@60\"\nbackground = \"#204060\"\n",
    );
    let mut master = Process::spawn("fusionfb", &w, &["run", "--config", file.to_str().unwrap()]);
    let run = |args: &[&str]| {
        let out = fusionfb_command(&w, args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    wait_until("the master", LIMIT, || {
        master.assert_running();
        run(&["status"]).0
    });
    let glass = || fusionfb_tests::glass_pixel(&w, 5, 5, LIMIT);
    wait_until("the first frame", LIMIT, || glass() == 0x20_4060);
    let (ok, out, err) = run(&["blank", "on"]);
    assert!(ok && out.contains("display blanked"), "{out}{err}");
    assert_eq!(glass(), 0, "the glass is not dark");
    let (_, status, _) = run(&["status"]);
    assert!(
        status.contains("display: blanked, never blanks by itself"),
        "{status}"
    );
    let (ok, out, err) = run(&["blank", "off"]);
    assert!(ok && out.contains("display on"), "{out}{err}");
    wait_until("the picture back", LIMIT, || glass() == 0x20_4060);
    let (ok, _, err) = run(&["blank", "maybe"]);
    assert!(!ok && err.contains("maybe"), "{err}");

    // A bad value names the file, the line and the key.
    std::fs::write(
        &file,
        "[display]\nbackend = \"headless\"\nblank-after = \"soon\"\n",
    )
    .unwrap();
    let out = fusionfb_command(&w, &["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad blank-after was taken");
    assert!(
        err.contains(&format!("{}:3", file.display())) && err.contains("blank-after"),
        "{err}"
    );
    let fd = fusionfb_sys::pidfd_open(master.pid()).unwrap();
    fusionfb_sys::pidfd_term(std::os::fd::AsFd::as_fd(&fd)).unwrap();
    let status = wait_for("fusionfb run to stop", LIMIT, || master.exited());
    assert!(status.success());
}
