//! Input routing end to end on the headless backend: real client processes with windows log
//! every input event they get, the master routes injected input through its input source
//! (the same path as libinput devices), and the logs say who got what.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fusionfb::compose::Transform;
use fusionfb::server::{LayerSpec, Server};
use fusionfb_client::display::{ClientEvent, Display};
use fusionfb_client::Format;
use fusionfb_protocol::{Injected, Rect, TouchPhase, WindowChange};
use fusionfb_tests::{child_world, spawn, wait_for, wait_until, world, Proc, Process};
use gfx_drivers::backend::PlaneKind;
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};

/// Entry point of child processes: `logger X Y W H REGION_W LOG` (a window, input region
/// `REGION_W` pixels wide from its left edge when not 0) or `exclusive LAYER LOG`; every
/// event is appended to LOG, one `Debug` line each.
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let mut d = Display::connect_to(child_world()).unwrap();
    let mut barrier = fusion::barrier::Barrier::from_env().unwrap();
    let log = PathBuf::from(args.last().unwrap());
    let _keep = match args[0] {
        "logger" => {
            let n: Vec<i32> = args[1..6].iter().map(|a| a.parse().unwrap()).collect();
            let mut s = d
                .create_surface(n[2] as u32, n[3] as u32, Format::Xrgb8888, 1)
                .unwrap();
            s.back().fill(0xff40_8040).unwrap();
            let w = d.create_window(&s, 0, n[0], n[1]).unwrap();
            if n[4] > 0 {
                let r = Rect::new(0, 0, n[4] as u32, n[3] as u32);
                d.set_window(&w, WindowChange::InputRegion(Some(vec![r])))
                    .unwrap();
            }
            d.flip(&mut s, &[]).unwrap();
            d.wait_frame(&s, Duration::from_secs(10)).unwrap();
            (Some(s), Some(w))
        }
        "exclusive" => {
            let mut s = d.acquire_layer(args[1].parse().unwrap()).unwrap();
            s.back().fill(0xff80_4040).unwrap();
            d.flip(&mut s, &[]).unwrap();
            d.wait_frame(&s, Duration::from_secs(10)).unwrap();
            (Some(s), None)
        }
        other => panic!("unknown role {other}"),
    };
    barrier.place().unwrap();
    use std::io::Write;
    let mut f = std::fs::File::create(&log).unwrap();
    loop {
        d.dispatch(Some(Duration::from_millis(50))).unwrap();
        while let Some(e) = d.next_event() {
            if matches!(
                e,
                ClientEvent::FrameDone { .. } | ClientEvent::Configure { .. }
            ) {
                continue;
            }
            writeln!(f, "{e:?}").unwrap();
            if e == ClientEvent::MasterGone {
                return;
            }
        }
    }
}

fn server(
    tag: &str,
    transform: Transform,
    layers: Vec<LayerSpec>,
) -> (Server, fusion::WorldConfig) {
    let w = world(tag);
    let out = HeadlessOutputConfig::new().mode(320, 240, 60_000);
    let backend = HeadlessBackend::new(vec![out]).unwrap();
    (
        Server::with_layers(w.clone(), Box::new(backend), transform, layers).unwrap(),
        w,
    )
}

/// A logging child; returns once its window is on the glass.
fn logger(s: &mut Server, w: &fusion::WorldConfig, role: &str, tag: &str) -> (Proc, PathBuf) {
    let log = std::env::temp_dir().join(format!("fusionfb-input-{}-{tag}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut child = spawn(&format!("{role} {}", log.display()), w, &[]);
    wait_until("the child to get ready", Duration::from_secs(30), || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        child.barrier.sync(Some(Duration::from_millis(1))).is_ok()
    });
    (child, log)
}

/// Serves until `log` holds at least `lines` lines (or 10 s pass); returns them.
fn wait_log(s: &mut Server, log: &Path, lines: usize) -> Vec<String> {
    let read = || -> Vec<String> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    };
    // Short of `lines` after the limit, the caller's assertions say what is missing.
    fusionfb_tests::poll_for(Duration::from_secs(10), || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        let got = read();
        (got.len() >= lines).then_some(got)
    })
    .unwrap_or_else(read)
}

/// Serves a little longer so that anything that was going to arrive has.
fn settle(s: &mut Server) {
    let end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < end {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
}

fn touch(phase: TouchPhase, slot: u32, x: f32, y: f32) -> Injected {
    Injected::Touch { phase, slot, x, y }
}

fn frame() -> Injected {
    touch(TouchPhase::Frame, 0, 0.0, 0.0)
}

fn kill(mut c: Proc) {
    c.kill();
}

/// The system allocator, counting the allocations a thread makes inside [`allocations_in`].
struct Counting;

thread_local! {
    /// `Some(n)`: counting, `n` so far.
    static COUNTED: Cell<Option<u64>> = const { Cell::new(None) };
}

fn count_one() {
    let _ = COUNTED.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

// SAFETY: every call goes to `System` with the caller's arguments; the counting touches only
// a const-initialised thread-local `Cell` (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning what it returned and how many allocations this thread made in it.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNTED.set(Some(0));
    let r = f();
    (r, COUNTED.replace(None).unwrap_or(0))
}

/// Issue 14, item 4: from the input source to the window's reactor ring, routing a touch
/// allocates nothing (once the master's buffers have grown on the first touches). The
/// injection takes the same path as a device's touches from the input source on.
#[test]
fn routing_touches_allocates_nothing() {
    use TouchPhase::*;
    let (mut s, w) = server("alloc", Transform::Normal, vec![LayerSpec::primary()]);
    let (a, la) = logger(&mut s, &w, "logger 0 0 100 100 0", "alloc");
    // The focus line, then a line per event.
    let mut lines = 1;
    let mut tap = |s: &mut Server, i: u64| -> [u64; 3] {
        let counts = [Down, Motion, Up].map(|phase| {
            // The list is the caller's: made before counting.
            let events = vec![touch(phase, 0, 20.0 + i as f32, 30.0), frame()];
            let (r, n) = allocations_in(|| s.inject(events, i));
            r.unwrap();
            n
        });
        // The window reads them before the next tap (its ring holds only so many).
        lines += 6;
        let got = wait_log(s, &la, lines).len();
        assert_eq!(got, lines, "tap {i}: the window's log has {got} lines");
        counts
    };
    for i in 1..4 {
        tap(&mut s, i);
    }
    let counts: Vec<u64> = (10..30).flat_map(|i| tap(&mut s, i)).collect();
    assert!(
        counts.iter().all(|&n| n == 0),
        "allocations per routed event: {counts:?}"
    );
    kill(a);
}

#[test]
fn two_fingers_on_two_windows_at_once_each_keep_their_window() {
    use TouchPhase::*;
    let (mut s, w) = server("two", Transform::Normal, vec![LayerSpec::primary()]);
    let (a, la) = logger(&mut s, &w, "logger 0 0 100 100 0", "two-a");
    let (b, lb) = logger(&mut s, &w, "logger 150 0 100 100 0", "two-b");
    s.inject(
        vec![
            touch(Down, 0, 50.0, 50.0),
            touch(Down, 1, 200.0, 40.0),
            frame(),
        ],
        111,
    )
    .unwrap();
    // Finger 0 slides over B: its implicit grab keeps it with A, in A's coordinates.
    s.inject(vec![touch(Motion, 0, 210.0, 60.0), frame()], 222)
        .unwrap();
    s.inject(
        vec![touch(Up, 0, 0.0, 0.0), touch(Up, 1, 0.0, 0.0), frame()],
        333,
    )
    .unwrap();
    let a_log = wait_log(&mut s, &la, 7);
    let b_log = wait_log(&mut s, &lb, 5);
    settle(&mut s);
    let a_log = a_log.join("\n");
    let b_log = b_log.join("\n");
    assert!(
        a_log.contains(
            "phase: Down, slot: 0, x: 50.0, y: 50.0, screen_x: 50.0, screen_y: 50.0, time_ns: 111"
        ),
        "{a_log}"
    );
    assert!(
        a_log.contains("phase: Motion, slot: 0, x: 210.0, y: 60.0"),
        "{a_log}"
    );
    assert!(a_log.contains("phase: Up, slot: 0"), "{a_log}");
    assert!(a_log.contains("phase: Frame"), "{a_log}");
    assert!(!a_log.contains("slot: 1"), "{a_log}");
    assert!(
        b_log.contains("phase: Down, slot: 1, x: 50.0, y: 40.0, screen_x: 200.0"),
        "{b_log}"
    );
    assert!(b_log.contains("phase: Up, slot: 1"), "{b_log}");
    assert!(
        !b_log.contains("Down, slot: 0") && !b_log.contains("Motion, slot: 0"),
        "finger 0 never reaches B: {b_log}"
    );
    kill(a);
    kill(b);
}

#[test]
fn input_regions_let_touches_through_and_exclusive_layers_take_theirs() {
    use TouchPhase::*;
    let layers = vec![
        LayerSpec::primary(),
        LayerSpec {
            id: 1,
            kind: PlaneKind::Overlay,
            allow_exclusive: true,
            size: Some((320, 40)),
            position: (0, 200),
            output: None,
        },
    ];
    let (mut s, w) = server("region", Transform::Normal, layers);
    let (under, lu) = logger(&mut s, &w, "logger 0 0 200 240 0", "region-under");
    // On top, but taking input only in its left 50 pixels.
    let (top, lt) = logger(&mut s, &w, "logger 0 0 200 240 50", "region-top");
    let (excl, le) = logger(&mut s, &w, "exclusive 1", "region-excl");
    s.inject(
        vec![
            touch(Down, 0, 20.0, 20.0),
            frame(),
            touch(Up, 0, 0.0, 0.0),
            frame(),
        ],
        1,
    )
    .unwrap();
    s.inject(
        vec![
            touch(Down, 0, 120.0, 20.0),
            frame(),
            touch(Up, 0, 0.0, 0.0),
            frame(),
        ],
        2,
    )
    .unwrap();
    // Over the window, but inside the exclusive overlay at the bottom.
    s.inject(
        vec![
            touch(Down, 0, 30.0, 210.0),
            frame(),
            touch(Up, 0, 0.0, 0.0),
            frame(),
        ],
        3,
    )
    .unwrap();
    let t = wait_log(&mut s, &lt, 4).join("\n");
    let u = wait_log(&mut s, &lu, 4).join("\n");
    let e = wait_log(&mut s, &le, 4).join("\n");
    settle(&mut s);
    assert!(
        t.contains("x: 20.0, y: 20.0") && !t.contains("x: 120.0") && !t.contains("y: 210.0"),
        "top: {t}"
    );
    assert!(
        u.contains("x: 120.0, y: 20.0") && !u.contains("x: 20.0,") && !u.contains("210.0"),
        "under: {u}"
    );
    // Local coordinates of an exclusive layer are the layer's own.
    assert!(
        e.contains("phase: Down, slot: 0, x: 30.0, y: 10.0, screen_x: 30.0, screen_y: 210.0"),
        "exclusive: {e}"
    );
    kill(under);
    kill(top);
    kill(excl);
}

#[test]
fn a_rotated_output_maps_panel_touches_to_the_upright_picture() {
    // A 320x240 panel mounted rotated 90°: applications see 240x320.
    let (mut s, w) = server("rot", Transform::Rotate90, vec![LayerSpec::primary()]);
    assert_eq!(s.size(), (240, 320));
    let (app, log) = logger(&mut s, &w, "logger 0 0 240 320 0", "rot");
    // A touch a quarter across and half down the glass: rotated back, that is half across
    // and three quarters down the upright picture.
    s.inject(
        vec![
            Injected::DeviceTouch {
                phase: TouchPhase::Down,
                slot: 0,
                u: 0.25,
                v: 0.5,
            },
            frame(),
        ],
        5,
    )
    .unwrap();
    let l = wait_log(&mut s, &log, 2).join("\n");
    assert!(l.contains("x: 120.0, y: 240.0"), "{l}");
    kill(app);
}

#[test]
fn pointer_grabs_enters_and_leaves_and_keys_follow_the_click() {
    let (mut s, w) = server("pointer", Transform::Normal, vec![LayerSpec::primary()]);
    let (a, la) = logger(&mut s, &w, "logger 0 0 100 100 0", "ptr-a");
    let (b, lb) = logger(&mut s, &w, "logger 150 0 100 100 0", "ptr-b");
    let btn = |pressed| Injected::Button {
        button: 0x110,
        pressed,
    };
    let key = |pressed| Injected::KeyName {
        name: "a".into(),
        pressed,
    };
    s.inject(vec![Injected::PointerTo { x: 50.0, y: 50.0 }, btn(true)], 1)
        .unwrap();
    // Dragged over B with the button held: still A's.
    s.inject(vec![Injected::PointerMotion { dx: 150.0, dy: 0.0 }], 2)
        .unwrap();
    s.inject(vec![btn(false), key(true), key(false)], 3)
        .unwrap();
    wait_log(&mut s, &la, 7);
    // The release ends the grab: A is left, B is entered; a click in B moves the focus.
    s.inject(vec![btn(true), btn(false), key(true)], 4).unwrap();
    let bl = wait_log(&mut s, &lb, 5).join("\n");
    settle(&mut s);
    let al = std::fs::read_to_string(&la).unwrap();
    assert!(al.contains("kind: Enter, x: 50.0, y: 50.0"), "{al}");
    assert!(
        al.contains("Focus { window: ") && al.contains("focused: true"),
        "{al}"
    );
    assert!(al.contains("kind: Motion, x: 200.0, y: 50.0"), "grab: {al}");
    assert!(al.contains("kind: Leave"), "{al}");
    assert!(
        al.contains("keycode: 30, pressed: true, repeat: false, keysym: 97, text: \"a\""),
        "{al}"
    );
    assert!(al.contains("focused: false"), "{al}");
    assert_eq!(al.matches("keycode: 30, pressed: true").count(), 1, "{al}");
    assert!(bl.contains("kind: Enter, x: 50.0, y: 50.0"), "{bl}");
    assert!(bl.contains("keycode: 30, pressed: true"), "{bl}");
    assert!(
        !bl.contains("kind: Motion, x: 50.0, y: 50.0, screen_x: 200.0, screen_y: 50.0, time_ns: 2"),
        "{bl}"
    );
    kill(a);
    kill(b);
}

/// `fusionfb input swipe` and `tap` reach a real fusionfb-paint under a real `fusionfb run`:
/// paint appears along the swipe and at the tap, and nowhere else.
#[test]
fn the_cli_tap_and_swipe_reach_paint() {
    let w = world("cli");
    let _master = Process::spawn("fusionfb", &w, &["run", "--backend", "headless"]);
    let mut d = wait_for("the master to come up", Duration::from_secs(20), || {
        Display::connect_to(w.clone()).ok()
    });
    let _paint = Process::spawn(
        "fusionfb-paint",
        &w,
        &[
            "--x", "100", "--y", "100", "--width", "600", "--height", "400",
        ],
    );
    let before = wait_for("paint to show", Duration::from_secs(20), || {
        let shot = d.screenshot().unwrap();
        (shot.pixel(650, 450) != shot.pixel(5, 5)).then_some(shot)
    });
    let run = |args: &[&str]| {
        let st = std::process::Command::new(fusionfb_tests::binary("fusionfb"))
            .arg("--world")
            .arg(&w.name)
            .args(args)
            .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
            .status()
            .unwrap();
        assert!(st.success(), "fusionfb {args:?}");
    };
    run(&[
        "input",
        "swipe",
        "300",
        "300",
        "500",
        "300",
        "--duration",
        "100",
        "--steps",
        "10",
    ]);
    run(&["input", "tap", "400", "420"]);
    let changed = |img: &gfx_drivers::Image, x: u32, y: u32| img.pixel(x, y) != before.pixel(x, y);
    let after = wait_for(
        "paint under the swipe and the tap",
        Duration::from_secs(10),
        || {
            let shot = d.screenshot().unwrap();
            (changed(&shot, 400, 300) && changed(&shot, 400, 420)).then_some(shot)
        },
    );
    for x in [310, 350, 450, 490] {
        assert!(changed(&after, x, 300), "the stroke is continuous at x={x}");
    }
    for (x, y) in [(400, 200), (600, 300), (400, 360), (200, 420)] {
        assert!(!changed(&after, x, y), "no paint at ({x}, {y})");
    }
}

/// `fusionfb-calibrate` on a panel mounted at 90° whose touch is off (a known distortion):
/// the matrix it writes into the config undoes the distortion, and the rest of the file stays.
#[test]
fn calibrate_computes_the_matrix_that_undoes_a_known_distortion() {
    use fusionfb::compose::Size;
    use fusionfb_input::Calibration;
    let (mut s, w) = server("calib", Transform::Rotate90, vec![LayerSpec::primary()]);
    let (lw, lh) = s.size();
    let cfg = std::env::temp_dir().join(format!("fusionfb-calib-{}.toml", std::process::id()));
    std::fs::write(&cfg, "# my board\n[input]\nseat = \"seat0\"\n").unwrap();
    let cfg_arg = cfg.to_str().unwrap().to_string();
    let mut app = Process::spawn(
        "fusionfb-calibrate",
        &w,
        &["--config", &cfg_arg, "--timeout", "20"],
    );
    let distortion = Calibration([1.04, 0.03, -0.02, -0.02, 0.95, 0.03]);
    let targets = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.5, 0.5)];
    for (fx, fy) in targets {
        let (tx, ty) = ((fx * lw as f64) as i32, (fy * lh as f64) as i32);
        // Wait for the target's red centre on the glass (the glass is the physical picture).
        let (px, py) = Transform::Rotate90
            .to_physical(Size::new(lw, lh))
            .apply(tx as f64 + 0.5, ty as f64 + 0.5);
        wait_until(
            &format!("target ({tx}, {ty}) to show"),
            Duration::from_secs(20),
            || {
                app.assert_running();
                s.dispatch(Some(Duration::from_millis(5))).unwrap();
                s.screenshot().unwrap().pixel(px as u32, py as u32) & 0xff_ffff == 0xe0_4040
            },
        );
        let (u, v) = Transform::Rotate90.normalized_to_physical(fx, fy);
        let (ru, rv) = distortion.apply(u, v);
        let down = Injected::DeviceTouch {
            phase: TouchPhase::Down,
            slot: 0,
            u: ru as f32,
            v: rv as f32,
        };
        let up = Injected::DeviceTouch {
            phase: TouchPhase::Up,
            slot: 0,
            u: 0.0,
            v: 0.0,
        };
        s.inject(vec![down, frame(), up, frame()], 1).unwrap();
    }
    let status = wait_for(
        "fusionfb-calibrate to finish",
        Duration::from_secs(20),
        || {
            s.dispatch(Some(Duration::from_millis(5))).unwrap();
            app.exited()
        },
    );
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.starts_with("# my board\n[input]\n") && text.contains("seat = \"seat0\""),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("calibration = ["))
        .expect(&text);
    let m: Vec<f32> = line["calibration = [".len()..line.len() - 1]
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    let want = distortion.inverse().unwrap();
    for (got, want) in m.iter().zip(want.0) {
        assert!((got - want).abs() < 2e-3, "{m:?} vs {want:?}");
    }
    let _ = std::fs::remove_file(&cfg);
}

#[test]
fn the_status_shows_who_holds_the_input_and_what_a_killed_slave_left() {
    use TouchPhase::*;
    let (mut s, w) = server("health", Transform::Normal, vec![LayerSpec::primary()]);
    let (a, _la) = logger(&mut s, &w, "logger 0 0 100 100 0", "health-a");
    let (b, _lb) = logger(&mut s, &w, "logger 150 0 100 100 0", "health-b");
    settle(&mut s);
    let scene = s.scene();
    let ids: Vec<u32> = scene.windows.iter().map(|w| w.id).collect();
    let (wa, wb) = (ids[0], ids[1]);
    let h = scene.health.clone().unwrap();
    assert!(
        h.input.touches.is_empty() && h.input.pointer_grab.is_none(),
        "{h:?}"
    );
    assert!(
        h.windows_frame >= 1 && h.windows_frame <= scene.frames.committed,
        "{h:?}"
    );
    // Each surface's one 100x100 XRGB buffer.
    assert_eq!(h.surface_bytes.len(), 2, "{h:?}");
    assert!(
        h.surface_bytes.iter().all(|&(_, b)| b == 100 * 100 * 4),
        "{h:?}"
    );
    assert_eq!(h.cleanup.departed, 0, "{h:?}");
    // Two fingers down, one on each window, and a button held in A.
    s.inject(
        vec![
            touch(Down, 0, 50.0, 50.0),
            touch(Down, 1, 200.0, 40.0),
            frame(),
            Injected::PointerTo { x: 20.0, y: 20.0 },
            Injected::Button {
                button: 0x110,
                pressed: true,
            },
        ],
        1,
    )
    .unwrap();
    let h = s.scene().health.unwrap();
    assert_eq!(h.input.touches, vec![(0, wa), (1, wb)], "{h:?}");
    assert_eq!(h.input.pointer_grab, Some(wa), "{h:?}");
    assert_eq!(h.input.focus, Some(wa), "the click focused A: {h:?}");
    assert_eq!(h.input.pending_injections, 0, "{h:?}");
    // B dies with its finger down: its grab goes, its departure is counted, and the window
    // list's frame moves on.
    let before = h.windows_frame;
    kill(b);
    wait_until("B's window to go", Duration::from_secs(10), || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        s.scene().windows.len() == 1
    });
    settle(&mut s);
    let scene = s.scene();
    let h = scene.health.unwrap();
    assert_eq!(h.input.touches, vec![(0, wa)], "{h:?}");
    assert_eq!(h.cleanup.departed, 1, "{h:?}");
    assert_eq!(h.surface_bytes.len(), 1, "{h:?}");
    assert!(
        h.windows_frame > before && h.windows_frame <= scene.frames.committed,
        "{before} -> {h:?}, committed {}",
        scene.frames.committed
    );
    let table = fusionfb::cli::status::table(&s.scene());
    assert!(table.contains("cleanup: 1 departed"), "{table}");
    assert!(table.contains(&format!("touches 0->{wa};")), "{table}");
    assert!(table.contains(&format!("pointer grab {wa};")), "{table}");
    kill(a);
}
