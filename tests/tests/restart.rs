//! The glass survives a master crash: `fusionfb run` (its supervisor) starts a new master when
//! the master gets `SIGKILL`, and the applications rejoin it with their windows and their
//! last frames, without redrawing. Real processes throughout: the supervisor, its masters,
//! the demo applications it starts from the config's `[[app]]` tables, and `fusionfb`
//! commands; pixels read back through screenshots.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fusionfb_client::app::{CLOCK_BACKGROUND, PAINT_BACKGROUND, PALETTE};
use fusionfb_client::display::{ClientEvent, Display, Surface, Window};
use fusionfb_client::Format;
use fusionfb_tests::{
    alive, binary, fusionfb_output, layer_holder, path_with_binaries, poll_for, wait_for,
    wait_until, world, Process,
};
use gfx_drivers::Image;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// `fusionfb status --json`'s display part, once the master answers.
fn scene(w: &fusion::WorldConfig) -> Option<Value> {
    let out = fusionfb_output(w, &["status", "--json"])?;
    let v: Value = serde_json::from_str(&out).ok()?;
    Some(v["display"].clone())
}

/// The windows as `(x, y, width, height, layer)`, bottom to top.
fn windows(scene: &Value) -> Vec<(i64, i64, i64, i64, i64)> {
    scene["windows"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| {
                    let n = |k: &str| w[k].as_i64().unwrap_or(-1);
                    (n("x"), n("y"), n("width"), n("height"), n("layer"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn master_pid(scene: &Value) -> u32 {
    scene["health"]["pid"].as_u64().expect("the master's pid") as u32
}

/// A screenshot through a connection of its own (made after the master changed).
fn screenshot(w: &fusion::WorldConfig) -> Image {
    poll_for(LIMIT, || {
        let mut d = Display::connect_to(w.clone()).ok()?;
        d.set_rejoin(None);
        d.screenshot().ok()
    })
    .expect("a screenshot")
}

/// Whether the pixels of `r` = `(x, y, w, h)` are the same in `a` and `b`.
fn same_area(a: &Image, b: &Image, (x, y, w, h): (u32, u32, u32, u32)) -> bool {
    (y..y + h).all(|py| (x..x + w).all(|px| a.pixel(px, py) == b.pixel(px, py)))
}

/// Where `a` and `b` differ within `r`: how many pixels, their bounding box, one example.
fn diff(a: &Image, b: &Image, (x, y, w, h): (u32, u32, u32, u32)) -> String {
    let mut n = 0;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    let mut example = String::new();
    for py in y..y + h {
        for px in x..x + w {
            if a.pixel(px, py) != b.pixel(px, py) {
                n += 1;
                (x0, y0, x1, y1) = (x0.min(px), y0.min(py), x1.max(px), y1.max(py));
                if example.is_empty() {
                    example = format!(
                        "({px}, {py}): {:#x} then {:#x}",
                        a.pixel(px, py),
                        b.pixel(px, py)
                    );
                }
            }
        }
    }
    format!("{n} pixels in ({x0}, {y0})..=({x1}, {y1}), e.g. {example}")
}

fn kill(pid: u32) {
    let fd = fusionfb_sys::pidfd_open(pid).expect("pidfd");
    fusionfb_sys::pidfd_kill(std::os::fd::AsFd::as_fd(&fd)).expect("SIGKILL");
}

fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The supervised master of `w` with `config`, its log in the world's directory.
fn supervised(w: &fusion::WorldConfig, config: &str) -> (Process, PathBuf) {
    std::fs::create_dir_all(w.base_dir()).unwrap();
    let cfg = w.base_dir().join(format!("{}.toml", w.name));
    std::fs::write(&cfg, config).unwrap();
    let log = w.base_dir().join(format!("{}.log", w.name));
    let path = path_with_binaries();
    let master = Process::spawn_logged(
        "fusionfb",
        w,
        &["run", "--config", cfg.to_str().unwrap()],
        &[
            ("PATH", &path),
            ("RUST_LOG", "warn,fusionfb::supervisor=info"),
        ],
        Some(&log),
    );
    (master, log)
}

/// A window of this test's own, `side` pixels square at `(x, y)`, filled with `colour` and
/// on the glass, on a display that rejoins as the apps do.
fn own_window(
    w: &fusion::WorldConfig,
    side: u32,
    (x, y): (i32, i32),
    colour: u32,
) -> (Display, Surface, Window) {
    let mut d = poll_for(LIMIT, || Display::connect_to(w.clone()).ok()).unwrap();
    d.set_rejoin(Some(LIMIT));
    let mut s = d.create_surface(side, side, Format::Xrgb8888, 2).unwrap();
    let win = d.create_window(&s, 0, x, y).unwrap();
    s.back().fill(colour).unwrap();
    d.flip(&mut s, &[]).unwrap();
    d.wait_frame(&s, LIMIT).unwrap();
    (d, s, win)
}

/// SIGTERM to the supervisor; waits for it to exit 0.
fn stop(master: &mut Process, log: &Path) {
    let fd = fusionfb_sys::pidfd_open(master.pid()).expect("pidfd");
    fusionfb_sys::pidfd_term(std::os::fd::AsFd::as_fd(&fd)).expect("SIGTERM");
    let status = wait_for("fusionfb run to exit on SIGTERM", LIMIT, || master.exited());
    assert!(status.success(), "{status}\n{}", read_log(log));
}

const PAINT: (u32, u32, u32, u32) = (0, 0, 640, 400);
const CLOCK: (u32, u32, u32, u32) = (640, 0, 640, 200);
const GALLERY: (u32, u32, u32, u32) = (640, 400, 640, 400);

#[test]
fn kill_9_the_master_under_paint_clock_and_gallery_and_the_glass_comes_back() {
    let w = world("restart");
    let geometry = |(x, y, wd, h): (u32, u32, u32, u32)| {
        format!(
            "[\"--x\", \"{x}\", \"--y\", \"{y}\", \"--width\", \"{wd}\", \"--height\", \"{h}\"]"
        )
    };
    let config = format!(
        r#"
[display]
backend = "headless"
mode = "1280x800@60"

[[app]]
command = "fusionfb-paint"
args = {}

[[app]]
command = "fusionfb-clock"
args = {}

[[app]]
command = "fusionfb-gallery"
args = {}
"#,
        geometry(PAINT),
        geometry(CLOCK),
        geometry(GALLERY)
    );
    let (mut master, log) = supervised(&w, &config);
    let before = poll_for(LIMIT, || {
        master.assert_running();
        scene(&w).filter(|s| windows(s).len() == 3)
    })
    .unwrap_or_else(|| panic!("three windows\n{}", read_log(&log)));
    let apps: Vec<u64> = before["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["pid"].as_u64().unwrap())
        .collect();
    // A stroke on paint, then the picture before the crash (the clock's seconds change,
    // so its area is compared apart).
    fusionfb_output(&w, &["input", "swipe", "100", "150", "500", "300"]).expect("swipe");
    let bg = PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    let ink = PALETTE[0].to_argb() & 0xff_ffff;
    wait_until("the stroke and the gallery's picture", LIMIT, || {
        let img = screenshot(&w);
        img.pixel(300, 225) & 0xff_ffff == ink && img.pixel(GALLERY.0, GALLERY.1) & 0xff_ffff != 0
    });
    // Paint has drawn the whole stroke when two screenshots agree.
    let mut shot = screenshot(&w);
    wait_until("paint to finish the stroke", LIMIT, || {
        std::thread::sleep(Duration::from_millis(300));
        let next = screenshot(&w);
        let still = same_area(&shot, &next, PAINT);
        shot = next;
        still
    });
    let old = master_pid(&before);

    kill(old);
    let mut last = None;
    let after = poll_for(LIMIT, || {
        master.assert_running();
        last = scene(&w);
        last.clone()
            .filter(|s| s["health"]["restarts"] == 1 && windows(s).len() == 3)
    })
    .unwrap_or_else(|| {
        panic!(
            "a new master with the three windows; last scene {last:#?}\n{}",
            read_log(&log)
        )
    });
    assert_ne!(master_pid(&after), old);
    assert!(!alive(old));
    // The same windows, where they were, in the same order; the same app processes (they
    // rejoined, nobody restarted them).
    assert_eq!(windows(&after), windows(&before));
    let apps_after: Vec<u64> = after["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(apps_after, apps);
    assert!(after["apps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["restarts"] == 0 && a["state"] == "running"));
    // The strokes painted before the crash are on the glass, and so is the gallery's
    // picture, once the new master composed its first frames: nobody redrew them (paint
    // keeps no strokes to redraw from; its buffers came back).
    let mut back = screenshot(&w);
    let came_back = poll_for(Duration::from_secs(10), || {
        back = screenshot(&w);
        (same_area(&shot, &back, PAINT) && same_area(&shot, &back, GALLERY)).then_some(())
    });
    assert!(
        came_back.is_some(),
        "the picture did not come back: paint {}; gallery {}",
        diff(&shot, &back, PAINT),
        diff(&shot, &back, GALLERY)
    );
    // The clock keeps ticking on the new master.
    let clock_now = screenshot(&w);
    assert_eq!(
        clock_now.pixel(CLOCK.0 + 2, CLOCK.1 + 2) & 0xff_ffff,
        CLOCK_BACKGROUND.to_argb() & 0xff_ffff
    );
    wait_until("the clock to tick", LIMIT, || {
        !same_area(&clock_now, &screenshot(&w), CLOCK)
    });
    // A tap after the crash paints.
    fusionfb_output(&w, &["input", "tap", "320", "350"]).expect("tap");
    wait_until("the tap to paint", LIMIT, || {
        screenshot(&w).pixel(320, 350) & 0xff_ffff != bg
    });
    let text = read_log(&log);
    assert!(text.contains("died (signal: 9 (SIGKILL))"), "{text}");
    assert!(text.contains("is up after"), "{text}");

    stop(&mut master, &log);
    for pid in apps {
        assert!(!alive(pid as u32), "app {pid} outlived fusionfb run");
    }
    assert!(!w.socket_path().exists(), "the world's socket stayed");
}

#[test]
fn a_hundred_master_kills_in_a_row_leave_nothing_behind() {
    let w = world("restart-100");
    let config = r#"
[display]
backend = "headless"
mode = "640x480@60"

[[app]]
command = "fusionfb-paint"
"#;
    let (mut master, log) = supervised(&w, config);
    let paint = poll_for(LIMIT, || {
        master.assert_running();
        let s = scene(&w)?;
        (windows(&s).len() == 1).then(|| s["apps"][0]["pid"].as_u64())?
    })
    .unwrap_or_else(|| panic!("paint's window\n{}", read_log(&log))) as u32;
    // This test is a client too: a window of its own, rejoining as the apps do.
    let (mut d, s, _win) = own_window(&w, 64, (500, 300), 0xff30_c060);
    let mut masters = Vec::new();
    let mut fds = Vec::new();
    let started = Instant::now();
    for i in 0..100 {
        let pid = d.describe().unwrap().health.unwrap().pid;
        masters.push(pid);
        kill(pid);
        rejoined(&mut d, &log, &format!("kill {i}"));
        // Our last frame is on the new master's glass.
        d.wait_frame(&s, LIMIT).unwrap();
        let px = d.screenshot().unwrap().pixel(530, 330) & 0xff_ffff;
        assert_eq!(
            px,
            0x30_c060,
            "kill {i}: our window is not on top\n{}",
            fusionfb_output(&w, &["status"]).unwrap_or_default()
        );
        // (Not this process's: the other test shares it.)
        fds.push((fds_of(master.pid()), fds_of(paint)));
    }
    eprintln!(
        "100 master kills and rejoins in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Paint rode every restart; nobody's descriptors grew (no pool, memfd or socket of a
    // dead master kept).
    assert!(alive(paint), "paint died\n{}", read_log(&log));
    let scene_now = scene(&w).unwrap();
    assert_eq!(scene_now["health"]["restarts"], 100);
    assert_eq!(scene_now["apps"][0]["pid"], paint);
    assert_eq!(
        fds[10],
        fds[99],
        "descriptors grew: {:?}",
        (fds[10], fds[99])
    );
    for pid in &masters {
        assert!(!alive(*pid), "master {pid} is still there");
    }
    drop(d);
    let last = master_pid(&scene_now);
    stop(&mut master, &log);
    assert!(!alive(last) && !alive(paint));
    // No socket, and the world's lock is free.
    assert!(!w.socket_path().exists(), "the world's socket stayed");
    let lock = std::fs::File::open(w.lock_path()).unwrap();
    assert!(fusionfb_sys::try_flock_exclusive(std::os::fd::AsFd::as_fd(&lock)).unwrap());
}

#[test]
fn under_systemd_it_notifies_and_keeps_the_socket_in_the_fd_store() {
    use std::os::fd::AsFd;
    let w = world("restart-sd");
    std::fs::create_dir_all(w.base_dir()).unwrap();
    // systemd's side: the notify socket, and the stored descriptors.
    let notify_path = w.base_dir().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    let log = w.base_dir().join("sd.log");
    let notify_env = notify_path.to_str().unwrap().to_string();
    let mut master = Process::spawn_logged(
        "fusionfb",
        &w,
        &["run", "--backend", "headless"],
        &[
            ("NOTIFY_SOCKET", &notify_env),
            ("WATCHDOG_USEC", "60000000"),
            ("RUST_LOG", "warn,fusionfb::supervisor=info"),
        ],
        Some(&log),
    );
    let mut said = Vec::new();
    let mut stored = None;
    let heard = poll_for(LIMIT, || {
        master.assert_running();
        while let Ok(Some(m)) = fusionfb_sys::recv_msg(notify.as_fd(), 4096, true) {
            let text = String::from_utf8_lossy(&m.data).into_owned();
            if text.contains("FDSTORE=1") {
                stored = m.fds.into_iter().next();
            }
            said.push(text);
        }
        let all = said.join("\n");
        (all.contains("READY=1") && all.contains("WATCHDOG=1")).then_some(())
    });
    assert!(heard.is_some(), "{said:?}\n{}", read_log(&log));
    let all = said.join("\n");
    assert!(all.contains("FDNAME=fusion-listener"), "{all}");
    assert!(all.contains("STATUS=master pid"), "{all}");
    let stored = stored.expect("the listening socket, with FDSTORE=1");
    // The service stops; systemd keeps the socket, so its path stays for the next start.
    stop(&mut master, &log);
    assert!(all.contains("READY=1"));
    assert!(
        w.socket_path().exists(),
        "the socket's path went with the service"
    );
    // An app that enters meanwhile waits in the kept socket's backlog...
    let w2 = w.clone();
    let early = std::thread::spawn(move || {
        let mut d = Display::connect_to(w2)?;
        d.describe().map(|s| s.health.map(|h| h.pid))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!early.is_finished(), "entered a world with no master");
    // ... and the next start gets the socket back from the store (LISTEN_FDS, fd 3).
    fusionfb_sys::clear_cloexec(stored.as_fd()).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stored);
    let log2 = w.base_dir().join("sd2.log");
    let script = format!(
        "exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=fusion-listener \
         exec {} --world {} run --backend headless",
        binary("fusionfb").display(),
        w.name
    );
    // bash: dash's `exec 3<&N` takes one digit only.
    let mut second = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
        .env("RUST_LOG", "warn,fusion=info,fusionfb::supervisor=info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log2).unwrap())
        .spawn()
        .unwrap();
    drop(stored);
    wait_for("the early app to be admitted", LIMIT, || {
        early.is_finished().then_some(())
    });
    let master_pid = early
        .join()
        .unwrap()
        .expect("the early app entered")
        .unwrap();
    assert!(alive(master_pid));
    assert!(
        read_log(&log2).contains("listening on the socket kept from before"),
        "{}",
        read_log(&log2)
    );
    let fd = fusionfb_sys::pidfd_open(second.id()).unwrap();
    fusionfb_sys::pidfd_term(fd.as_fd()).unwrap();
    assert!(second.wait().unwrap().success(), "{}", read_log(&log2));
}

/// The colours an exclusive holder paints, top-left clockwise.
const QUADRANTS: [u32; 4] = [0xffd0_2030, 0xff20_c040, 0xffe0_c020, 0xff20_40d0];

/// The four quadrants' centres' colours in `img` (without alpha).
fn quadrants(img: &Image) -> [u32; 4] {
    let (w, h) = (img.width, img.height);
    [
        (w / 4, h / 4),
        (3 * w / 4, h / 4),
        (3 * w / 4, 3 * h / 4),
        (w / 4, 3 * h / 4),
    ]
    .map(|(x, y)| img.pixel(x, y) & 0xff_ffff)
}

#[test]
fn an_exclusive_layer_is_held_again_after_the_masters_death() {
    let w = world("restart-layer");
    let (mut master, log) = supervised(
        &w,
        "[display]\nbackend = \"headless\"\nmode = \"640x400@60\"\n\n\
         [[layer]]\nid = 0\nkind = \"primary\"\nallow-exclusive = true\n",
    );
    let mut d = poll_for(LIMIT, || {
        master.assert_running();
        Display::connect_to(w.clone()).ok()
    })
    .unwrap_or_else(|| panic!("a master\n{}", read_log(&log)));
    // The primary layer, held exclusively, the quadrants in both scan-out buffers.
    let mut surface = d.acquire_layer(0).expect("layer 0");
    let (sw, sh) = (surface.width(), surface.height());
    let rects = [(0, 0), (sw / 2, 0), (sw / 2, sh / 2), (0, sh / 2)]
        .map(|(x, y)| gfx_drivers::backend::Rect::new(x as i32, y as i32, sw / 2, sh / 2));
    for b in surface.buffers() {
        for (r, c) in rects.iter().zip(QUADRANTS) {
            b.fill_rect(*r, c).unwrap();
        }
    }
    d.flip(&mut surface, &[]).unwrap();
    d.wait_frame(&surface, LIMIT).unwrap();
    let want = QUADRANTS.map(|c| c & 0xff_ffff);
    assert_eq!(quadrants(&screenshot(&w)), want);
    let before = scene(&w).unwrap();
    assert_eq!(layer_holder(&before, 0), Some(surface.id() as u64));

    kill(master_pid(&before));
    // The display rejoins the new master inside `dispatch`, layer and all.
    let lost = poll_for(LIMIT, || {
        master.assert_running();
        d.dispatch(Some(Duration::from_millis(100))).ok()?;
        std::iter::from_fn(|| d.next_event()).find_map(|e| match e {
            ClientEvent::Rejoined { lost } => Some(lost),
            _ => None,
        })
    })
    .unwrap_or_else(|| panic!("no Rejoined event\n{}", read_log(&log)));
    assert!(lost.is_empty(), "surfaces lost: {lost:?}");
    // The last frame was flipped again on the new master: its `FrameDone` comes.
    d.wait_frame(&surface, LIMIT)
        .expect("the frame shown again on the new master");
    let after = poll_for(LIMIT, || scene(&w).filter(|s| s["health"]["restarts"] == 1))
        .expect("the new master's scene");
    assert_eq!(
        layer_holder(&after, 0),
        Some(surface.id() as u64),
        "layer 0 is not held again: {}",
        after["layers"]
    );
    // The quadrants are on the glass again (once the new master presented its first
    // frame), nobody drew them anew.
    let mut seen = [0; 4];
    let back = poll_for(Duration::from_secs(10), || {
        seen = quadrants(&screenshot(&w));
        (seen == want).then_some(())
    });
    assert!(
        back.is_some(),
        "the glass shows {seen:x?}, not the quadrants"
    );
    // The layer works on: a new picture flipped shows, and giving the layer back shows
    // the composed (empty) desktop again.
    surface.back().fill(0xff10_8060).unwrap();
    d.flip(&mut surface, &[]).unwrap();
    d.wait_frame(&surface, LIMIT).unwrap();
    assert_eq!(quadrants(&screenshot(&w)), [0x10_8060; 4]);
    d.release_layer(0).unwrap();
    wait_until("the desktop back after the layer's release", LIMIT, || {
        quadrants(&screenshot(&w)) != [0x10_8060; 4]
    });
    assert_eq!(layer_holder(&scene(&w).unwrap(), 0), None);
    drop(d);
    stop(&mut master, &log);
}

/// Sends `signal` to process `pid`.
fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::kill_process(pid, signal).expect("a signal");
}

/// Dispatches `d` until it rejoined a new master, having lost nothing; panics (saying
/// `what`, with `log`) if it does not.
fn rejoined(d: &mut Display, log: &Path, what: &str) {
    let lost = poll_for(LIMIT, || {
        d.dispatch(Some(Duration::from_millis(50))).unwrap();
        std::iter::from_fn(|| d.next_event()).find_map(|e| match e {
            ClientEvent::Rejoined { lost } => Some(lost),
            ClientEvent::MasterGone => panic!("{what}: gone\n{}", read_log(log)),
            _ => None,
        })
    })
    .unwrap_or_else(|| panic!("{what}: no rejoin\n{}", read_log(log)));
    assert!(lost.is_empty(), "{what}: surfaces lost: {lost:?}");
}

/// A window's position.
type At = (i64, i64);

/// The windows' positions, bottom to top, and the focused one's.
fn stack(scene: &Value) -> (Vec<At>, Option<At>) {
    let ws = scene["windows"].as_array().cloned().unwrap_or_default();
    let at = |w: &Value| (w["x"].as_i64().unwrap_or(-1), w["y"].as_i64().unwrap_or(-1));
    let focused = ws.iter().find(|w| w["focused"] == true).map(at);
    (ws.iter().map(at).collect(), focused)
}

#[test]
fn a_master_killed_while_an_application_rejoins_it_leaves_the_stack_as_it_was() {
    use rustix::process::Signal;
    let w = world("restart-mid");
    let (mut master, log) = supervised(
        &w,
        "[display]\nbackend = \"headless\"\nmode = \"640x480@60\"\n",
    );
    wait_until("the world's socket", LIMIT, || {
        master.assert_running();
        w.socket_path().exists()
    });
    // An application below: one window, and surfaces enough that taking them back into a
    // new master lasts a while.
    let below_log = w.base_dir().join("stack-client.log");
    let mut below = Process::spawn_logged(
        "fusionfb-stack-client",
        &w,
        &[
            "--at", "100,100", "--size", "128", "--colour", "ffc03030", "--extra", "250",
        ],
        &[("FUSIONFB_REJOIN", "60000")],
        Some(&below_log),
    );
    let ran = |below: &mut Process| {
        if let Some(status) = below.exited() {
            panic!("the application ended: {status}\n{}", read_log(&below_log));
        }
    };
    wait_until("the application's window", LIMIT, || {
        ran(&mut below);
        read_log(&below_log).contains("fusionfb-stack-client: shown")
    });
    // This test, above: a window overlapping it, made later.
    let (mut d, _s, _win) = own_window(&w, 128, (164, 164), 0xff30_c060);
    let first = scene(&w).unwrap();
    let before = stack(&first);
    assert_eq!(before.0, [(100, 100), (164, 164)]);

    // The first master dies while the application sleeps: this test rejoins the second
    // alone. Then the application takes its surfaces back into the second master, and is
    // stopped half-way: surfaces back, its window not yet.
    signal(below.pid(), Signal::STOP);
    kill(master_pid(&first));
    rejoined(&mut d, &log, "the test's display");
    // (Each surface taken back has a reactor: a probe of its own counts them, quicker than
    // `fusionfb status`.)
    let mut probe = fusion::Slave::enter(w.clone().client_name("probe")).unwrap();
    let reactors = |probe: &mut fusion::Slave| probe.snapshot().unwrap().reactors.len();
    let base = reactors(&mut probe);
    signal(below.pid(), Signal::CONT);
    let back = poll_for(LIMIT, || {
        Some(reactors(&mut probe) - base).filter(|&n| n > 1)
    })
    .unwrap_or_else(|| panic!("the application does not rejoin\n{}", read_log(&log)));
    signal(below.pid(), Signal::STOP);
    eprintln!("caught the application with {back} of its 251 surfaces back");
    drop(probe);
    let second = scene(&w).unwrap();
    assert_eq!(
        stack(&second).0,
        [(164, 164)],
        "the application was not caught half-way (more --extra surfaces would slow it)"
    );
    // The second master dies too; this test rejoins the third first, then the
    // application goes on into it from where it was.
    kill(master_pid(&second));
    rejoined(&mut d, &log, "the test's display");
    signal(below.pid(), Signal::CONT);
    wait_until("the application's rejoin", LIMIT, || {
        ran(&mut below);
        read_log(&below_log).contains("fusionfb-stack-client: rejoined lost=0")
    });
    let third = poll_for(LIMIT, || {
        scene(&w).filter(|s| s["health"]["restarts"] == 2 && stack(s).0.len() == 2)
    })
    .expect("both windows on the third master");
    // As it was on the first master: the application's window below, the focus where it
    // was; on the glass this test's window covers the overlap.
    assert_eq!(stack(&third), before, "{}", read_log(&below_log));
    let px = screenshot(&w).pixel(200, 200) & 0xff_ffff;
    assert_eq!(px, 0x30_c060, "the overlap shows {px:#x}");
    drop(below);
    drop(d);
    stop(&mut master, &log);
}
