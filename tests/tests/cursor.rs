//! The hardware cursor on the headless backend: where the output has a cursor plane, pointer
//! motion moves the plane and composes nothing, and the cursor shows at the new position on
//! the glass; where it has none (like bochs), or the output is rotated, or the display
//! refuses the plane, the cursor is composed as before and each motion composes bytes.
//! `fusionfb status` says which, with the bytes composed per pointer motion.

use std::time::Duration;

use fusionfb::compose::Transform;
use fusionfb::server::{LayerSpec, Server};
use fusionfb_protocol::{CursorStatus, Injected};
use fusionfb_tests::{fusionfb_command, wait_for, wait_until, world, Process};
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};

const LIMIT: Duration = Duration::from_secs(30);
/// The background the tests set: the cursor's white and black are far from it.
const BACKGROUND: u32 = 0x20_4060;

fn server(tag: &str, out: HeadlessOutputConfig, transform: Transform) -> Server {
    let backend = HeadlessBackend::new(vec![out.mode(320, 240, 60_000)]).unwrap();
    let mut s = Server::with_layers(
        world(tag),
        Box::new(backend),
        transform,
        vec![LayerSpec::primary()],
    )
    .unwrap();
    s.set_background(BACKGROUND);
    // No pointing device on a test machine: shown by config, as `cursor-visible = true`.
    s.set_cursor_visible(Some(true));
    s
}

fn cursor(s: &Server) -> CursorStatus {
    s.scene().cursor.expect("the master reports its cursor")
}

/// Serves until nothing is in flight and nothing is left to draw (two presents in a row
/// with no new frame between them).
fn settle(s: &mut Server) {
    let mut last = (u64::MAX, u64::MAX);
    wait_until("the frames to settle", LIMIT, || {
        s.dispatch(Some(Duration::from_millis(40))).unwrap();
        let now = (s.frames(), s.presented());
        let done = now == last && now.0 == now.1;
        last = now;
        done
    });
}

/// Whether the glass shows the arrow's tip at `(x, y)`: its white inside one pixel right of
/// the left edge, and its black outline on the left edge.
fn arrow_at(s: &Server, x: u32, y: u32) -> bool {
    let shot = s.screenshot().unwrap();
    let px = |dx, dy| shot.pixel(x + dx, y + dy) & 0xff_ffff;
    px(1, 5) == 0xff_ffff && px(0, 5) == 0 && px(5, 1) == BACKGROUND
}

/// Moves the pointer `n` times by (4, 3) from `(x, y)`, letting each move reach the glass;
/// returns where it ends.
fn move_pointer(s: &mut Server, (mut x, mut y): (u32, u32), n: u32) -> (u32, u32) {
    for i in 0..n {
        s.inject(
            vec![Injected::PointerMotion { dx: 4.0, dy: 3.0 }],
            1000 + u64::from(i),
        )
        .unwrap();
        (x, y) = (x + 4, y + 3);
        settle(s);
    }
    (x, y)
}

#[test]
fn with_a_cursor_plane_motion_composes_nothing_and_the_cursor_moves() {
    let mut s = server("hwcursor", HeadlessOutputConfig::new(), Transform::Normal);
    s.inject(vec![Injected::PointerTo { x: 40.0, y: 50.0 }], 1)
        .unwrap();
    settle(&mut s);
    let c = cursor(&s);
    assert!(c.hardware && c.visible, "{c:?}");
    assert_eq!(c.plane_size, Some((64, 64)));
    assert!(arrow_at(&s, 40, 50), "the cursor on the glass at (40, 50)");

    let before = (s.bytes_composed_total(), s.frames(), c.plane_commits);
    let end = move_pointer(&mut s, (40, 50), 20);
    let c = cursor(&s);
    assert_eq!(c.motions, 21, "{c:?}");
    assert_eq!(
        s.bytes_composed_total(),
        before.0,
        "a motion with the cursor plane composes nothing"
    );
    assert_eq!(c.composed_bytes, 0, "{c:?}");
    assert_eq!(c.bytes_per_motion(), 0);
    // Each motion was a commit of the cursor plane alone.
    assert_eq!(c.plane_commits - before.2, 20, "{c:?}");
    assert_eq!(s.frames() - before.1, 20);
    assert!(arrow_at(&s, end.0, end.1), "the cursor moved to {end:?}");
    assert!(!arrow_at(&s, 40, 50), "and left (40, 50)");

    // Hidden: the plane goes off, still without composing.
    s.set_cursor_visible(Some(false));
    settle(&mut s);
    assert!(!arrow_at(&s, end.0, end.1));
    assert_eq!(s.bytes_composed_total(), before.0);
    assert!(!cursor(&s).visible);
}

/// Runs the motions on `s` and checks the cursor is composed, for `why`, each motion
/// composing bytes, and still drawn where the pointer is; returns the bytes per motion.
fn composes(mut s: Server, why: &str, at: (u32, u32)) -> u64 {
    s.inject(
        vec![Injected::PointerTo {
            x: at.0 as f32,
            y: at.1 as f32,
        }],
        1,
    )
    .unwrap();
    settle(&mut s);
    let before = (s.bytes_composed_total(), cursor(&s).composed_bytes);
    let end = move_pointer(&mut s, at, 10);
    let c = cursor(&s);
    assert!(!c.hardware, "{c:?}");
    assert!(c.composed_because.contains(why), "{c:?}");
    assert!(c.composed_bytes > before.1, "{c:?}");
    // Nothing else changed: everything composed was the cursor's.
    assert_eq!(
        s.bytes_composed_total() - before.0,
        c.composed_bytes - before.1
    );
    let per_motion = (c.composed_bytes - before.1) / 10;
    assert!(per_motion > 0);
    if s.transform() == Transform::Normal {
        assert!(arrow_at(&s, end.0, end.1), "the composed cursor at {end:?}");
    }
    per_motion
}

#[test]
fn without_a_cursor_plane_the_cursor_is_composed() {
    let s = server(
        "swcursor",
        HeadlessOutputConfig::new().cursor_plane(false),
        Transform::Normal,
    );
    let per_motion = composes(s, "no cursor plane", (40, 50));
    // Each motion damages the old and the new 12x12 rectangle; the back buffer composed
    // also catches up with the previous motion's damage (two scan-out buffers take turns):
    // at most three rectangles.
    assert!(per_motion <= 3 * 12 * 12 * 4, "{per_motion}");
}

#[test]
fn a_refused_cursor_plane_falls_back_to_composing() {
    let s = server(
        "refusedcursor",
        HeadlessOutputConfig::new().refuse_overlays(true),
        Transform::Normal,
    );
    composes(s, "refused the cursor plane", (40, 50));
}

#[test]
fn a_rotated_output_composes_the_cursor() {
    let s = server(
        "rotcursor",
        HeadlessOutputConfig::new(),
        Transform::Rotate90,
    );
    composes(s, "transformed", (40, 50));
}

/// Whether `shot` shows the arrow's tip at `(x, y)` (see [`arrow_at`]).
fn arrow_in(shot: &gfx_drivers::Image, x: u32, y: u32) -> bool {
    let px = |dx, dy| shot.pixel(x + dx, y + dy) & 0xff_ffff;
    px(1, 5) == 0xff_ffff && px(0, 5) == 0 && px(5, 1) == BACKGROUND
}

#[test]
fn the_cursor_plane_follows_the_pointer_to_the_second_output() {
    let backend = HeadlessBackend::new(vec![
        HeadlessOutputConfig::new().name("A").mode(320, 240, 60_000),
        HeadlessOutputConfig::new().name("B").mode(320, 240, 60_000),
    ])
    .unwrap();
    let mut s = Server::with_outputs(
        world("hwcursor2"),
        Box::new(backend),
        fusionfb::server::OutputRules::default(),
        vec![LayerSpec::primary()],
        None,
    )
    .unwrap();
    s.set_background(BACKGROUND);
    s.set_cursor_visible(Some(true));
    s.inject(vec![Injected::PointerTo { x: 200.0, y: 50.0 }], 1)
        .unwrap();
    settle(&mut s);
    assert!(cursor(&s).hardware, "{:?}", cursor(&s));
    assert!(arrow_in(&s.screenshot_named("A").unwrap(), 200, 50));
    // Across the edge: B's (320, 0) is the layout's x 320. On the way the arrow straddles
    // both outputs and is composed; once wholly on B, B's cursor plane shows it and A's is
    // off.
    let before = cursor(&s);
    for i in 0..12u32 {
        s.inject(
            vec![Injected::PointerMotion { dx: 20.0, dy: 0.0 }],
            10 + u64::from(i),
        )
        .unwrap();
        settle(&mut s);
    }
    let (x, y) = (200 + 12 * 20 - 320, 50);
    let c = cursor(&s);
    assert!(c.hardware, "{c:?}");
    let b = s.screenshot_named("B").unwrap();
    assert!(arrow_in(&b, x, y), "the arrow on B at ({x}, {y})");
    let a = s.screenshot_named("A").unwrap();
    let lit = (0..a.height)
        .flat_map(|y| (0..a.width).map(move |x| (x, y)))
        .filter(|&(x, y)| a.pixel(x, y) & 0xff_ffff != BACKGROUND)
        .count();
    assert_eq!(
        lit, 0,
        "A's cursor plane is off and nothing is left composed on A"
    );
    // Only the motions across the edge composed anything.
    let composing = (c.composed_bytes - before.composed_bytes) / (12 * 12 * 4);
    assert!(
        composing <= 6,
        "{composing} cursor rectangles composed: {c:?}"
    );
    // Wholly on B, a motion composes nothing.
    let total = s.bytes_composed_total();
    move_pointer(&mut s, (x + 320, y), 5);
    assert_eq!(s.bytes_composed_total(), total);
    assert!(cursor(&s).hardware);
}

/// `fusionfb status` of a real `fusionfb run`: the hardware cursor in use and 0 bytes per
/// motion after `fusionfb input pointer` moved it.
#[test]
fn status_reports_the_hardware_cursor() {
    let w = world("hwstatus");
    let file = fusionfb_tests::write_config(
        &w,
        "cursor.toml",
        "[display]\nbackend = \"headless\"\n[input]\ncursor-visible = true\n",
    );
    let mut master = Process::spawn("fusionfb", &w, &["run", "--config", file.to_str().unwrap()]);
    let status = || {
        let out = fusionfb_command(&w, &["status"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    wait_for("the master", LIMIT, || {
        master.assert_running();
        status()
    });
    for (x, y) in [(100, 100), (110, 105), (120, 110)] {
        let out = fusionfb_command(&w, &["input", "pointer", &x.to_string(), &y.to_string()]);
        assert!(out.status.success(), "{out:?}");
    }
    let text = wait_for("three motions in the status", LIMIT, || {
        status().filter(|t| t.contains(" 3 pointer motions"))
    });
    let line = text
        .lines()
        .find(|l| l.starts_with("cursor:"))
        .unwrap_or_else(|| panic!("no cursor line: {text}"));
    assert!(
        line.starts_with("cursor: hardware cursor plane (64x64), shown;"),
        "{line}"
    );
    assert!(
        line.contains("0 B composed for the cursor (0 B per motion)"),
        "{line}"
    );
    master.terminate(LIMIT);
}
