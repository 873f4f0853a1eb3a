//! Several outputs on the headless backend, end to end through `fusionfb run`: two
//! `[[output]]` tables give two outputs side by side (each its own size and background),
//! `fusionfb status` lists them with their place in the layout, a `fusionfb-paint` on each
//! (one placed by `[[app]] output`, one by `--output`) covers its output and nothing else,
//! a tap at a layout point paints under it on the right output only, and `fusionfb
//! screenshot --output` reads each output's glass.

use std::time::Duration;

use fusionfb::server::{LayerSpec, OutputRules, OutputSpec, Server};
use fusionfb_client::app::PAINT_BACKGROUND;
use fusionfb_client::display::Display;
use fusionfb_tests::{
    fusionfb_command, fusionfb_output, path_with_binaries, wait_until, world, write_config, Process,
};
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};

const LIMIT: Duration = Duration::from_secs(30);
const LEFT_BG: u32 = 0x20_3040;
const RIGHT_BG: u32 = 0x40_2010;

/// The pixels of output `name` (`None`: the first), as XRGB.
fn shot(d: &mut Display, name: Option<&str>) -> gfx_drivers::Image {
    match name {
        Some(n) => d.screenshot_output(n).unwrap(),
        None => d.screenshot().unwrap(),
    }
}

/// The pixels that differ between two screenshots of one output, and their centre.
fn changed(a: &gfx_drivers::Image, b: &gfx_drivers::Image) -> (usize, (f64, f64)) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let (mut n, mut sx, mut sy) = (0usize, 0f64, 0f64);
    for y in 0..a.height {
        for x in 0..a.width {
            if a.pixel(x, y) & 0xff_ffff != b.pixel(x, y) & 0xff_ffff {
                n += 1;
                sx += f64::from(x);
                sy += f64::from(y);
            }
        }
    }
    let centre = if n == 0 {
        (0.0, 0.0)
    } else {
        (sx / n as f64, sy / n as f64)
    };
    (n, centre)
}

/// Taps layout point `at` with `fusionfb input tap`, waits for output `on` to change and
/// checks `other` did not; returns what changed on `on` (pixels, centre).
fn tap(
    d: &mut Display,
    w: &fusion::WorldConfig,
    at: (u32, u32),
    on: &str,
    other: &str,
) -> (usize, (f64, f64)) {
    let (before, other_before) = (shot(d, Some(on)), shot(d, Some(other)));
    let (x, y) = (at.0.to_string(), at.1.to_string());
    fusionfb_output(w, &["input", "tap", &x, &y]).expect("fusionfb input tap");
    let mut after = before.clone();
    wait_until(
        &format!("the tap at {at:?} to paint on {on}"),
        LIMIT,
        || {
            after = shot(d, Some(on));
            changed(&before, &after).0 > 0
        },
    );
    let other_after = shot(d, Some(other));
    assert_eq!(
        changed(&other_before, &other_after).0,
        0,
        "a tap on {on} painted on {other}"
    );
    changed(&before, &after)
}

#[test]
fn two_outputs_side_by_side_each_with_its_app_and_its_taps() {
    let w = world("outputs");
    let file = write_config(
        &w,
        "outputs.toml",
        &format!(
            "[display]\nbackend = \"headless\"\n\
             [[output]]\nname = \"Left\"\nmode = \"320x240\"\nbackground = \"#{LEFT_BG:06x}\"\n\
             [[output]]\nname = \"Right\"\nmode = \"240x200\"\nbackground = \"#{RIGHT_BG:06x}\"\n\
             [[app]]\ncommand = \"fusionfb-paint\"\noutput = \"Right\"\n"
        ),
    );
    let path = path_with_binaries();
    let mut master = Process::spawn_env(
        "fusionfb",
        &w,
        &["run", "--no-restart", "--config", file.to_str().unwrap()],
        &[("PATH", &path)],
    );
    // Both outputs, where the layout puts them: Right right of Left, top edges aligned.
    let mut status = String::new();
    wait_until("the master's status", LIMIT, || {
        master.assert_running();
        status = fusionfb_output(&w, &["status"]).unwrap_or_default();
        status.contains("output Right")
    });
    assert!(
        status.contains("output Left: 320x240 at 0,0 (mode 320x240 @ 60.000 Hz, normal, first)"),
        "{status}"
    );
    assert!(
        status.contains("output Right: 240x200 at 320,0 (mode 240x200 @ 60.000 Hz, normal)"),
        "{status}"
    );
    // The second paint goes on Left by its command line.
    let mut left_app = Process::spawn("fusionfb-paint", &w, &["--output", "Left"]);
    let mut d = Display::connect_to(w.clone()).expect("join the master");
    let outputs = d.outputs().unwrap();
    let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Left", "Right"]);
    let bg = PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    wait_until("a paint window to cover each output", LIMIT, || {
        left_app.assert_running();
        let l = shot(&mut d, Some("Left"));
        let r = shot(&mut d, Some("Right"));
        (l.width, l.height, r.width, r.height) == (320, 240, 240, 200)
            && [(100, 100), (319, 239)]
                .iter()
                .all(|&(x, y)| l.pixel(x, y) & 0xff_ffff == bg)
            && [(100, 100), (239, 199)]
                .iter()
                .all(|&(x, y)| r.pixel(x, y) & 0xff_ffff == bg)
    });
    // Each paint window is exactly its output's: two windows, one at each origin.
    let scene = d.describe().unwrap();
    let mut places: Vec<(i32, i32)> = scene.windows.iter().map(|w| (w.x, w.y)).collect();
    places.sort();
    assert_eq!(places, [(0, 0), (320, 0)], "{:?}", scene.windows);
    // The plain screenshot is the first output's.
    let plain = shot(&mut d, None);
    assert_eq!((plain.width, plain.height), (320, 240));

    // A tap at layout (400, 100) is on Right, 80 px from its left edge: it paints there
    // and nowhere on Left. One on Left paints on Left only.
    let (n, (cx, cy)) = tap(&mut d, &w, (400, 100), "Right", "Left");
    assert!(
        (cx - 80.0).abs() < 3.0 && (cy - 100.0).abs() < 3.0,
        "the dot's centre on Right is ({cx:.1}, {cy:.1}) ({n} px), not under the finger at (80, 100)"
    );
    let (n, (cx, cy)) = tap(&mut d, &w, (50, 120), "Left", "Right");
    assert!(
        (cx - 50.0).abs() < 3.0 && (cy - 120.0).abs() < 3.0,
        "the dot's centre on Left is ({cx:.1}, {cy:.1}) ({n} px), not under the finger at (50, 120)"
    );

    // Below Right (200 px tall) but within Left's height: on no output, and said so.
    let out = fusionfb_command(&w, &["input", "tap", "400", "220"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("on none of the outputs"), "{err}");

    // The CLI's screenshot per output, and a clear error for an output that is not there.
    let png = w.base_dir().join("right.png");
    let out = fusionfb_command(
        &w,
        &["screenshot", "--output", "Right", png.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(240x200)"), "{text}");
    let out = fusionfb_command(&w, &["screenshot", "--output", "Nope", "/dev/null"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such output \"Nope\" (the outputs are Left, Right)"),
        "{err}"
    );
    drop(d);
    left_app.terminate(Duration::from_secs(5));
    master.terminate(Duration::from_secs(10));
}

#[test]
fn an_app_asking_for_an_output_that_is_not_there_is_told_which_are() {
    let w = world("outputs-missing");
    let file = write_config(
        &w,
        "outputs-missing.toml",
        "[display]\nbackend = \"headless\"\n[[output]]\nname = \"Only\"\nmode = \"160x120\"\n",
    );
    let mut master = Process::spawn(
        "fusionfb",
        &w,
        &["run", "--no-restart", "--config", file.to_str().unwrap()],
    );
    wait_until("the master", LIMIT, || {
        master.assert_running();
        fusionfb_output(&w, &["status"]).is_some()
    });
    let out = std::process::Command::new(fusionfb_tests::binary("fusionfb-paint"))
        .args(["--world", &w.name, "--output", "Elsewhere"])
        .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such output \"Elsewhere\" (the master's outputs are Only)"),
        "{err}"
    );
    master.terminate(Duration::from_secs(10));
}

/// Serves `s` until `done` holds.
fn serve_until(s: &mut Server, what: &str, mut done: impl FnMut(&Server) -> bool) {
    wait_until(what, LIMIT, || {
        s.dispatch(Some(Duration::from_millis(20))).unwrap();
        done(s)
    });
}

#[test]
fn a_display_plugged_in_joins_the_layout_and_leaves_it_without_disturbing_the_first() {
    let backend = HeadlessBackend::new(vec![
        HeadlessOutputConfig::new().name("A").mode(320, 240, 60_000),
        HeadlessOutputConfig::new()
            .name("B")
            .mode(200, 100, 60_000)
            .connected(false),
    ])
    .unwrap();
    let plug = backend.hotplug().unwrap();
    let mut b = OutputSpec::named("B");
    b.transform = Some(fusionfb::compose::Transform::Rotate90);
    b.background = Some(0x10_7020);
    let rules = OutputRules {
        named: vec![OutputSpec::named("A"), b],
        ..OutputRules::default()
    };
    let mut s = Server::with_outputs(
        world("outputs-hotplug"),
        Box::new(backend),
        rules,
        vec![LayerSpec::primary()],
        None,
    )
    .unwrap();
    s.set_background(0x30_3030);
    let names =
        |s: &Server| -> Vec<String> { s.scene().outputs.iter().map(|o| o.name.clone()).collect() };
    assert_eq!(names(&s), ["A"]);
    // A settles: both its scan-out buffers drawn and presented, nothing more to do.
    let frames_of_a = |s: &Server| s.scene().outputs[0].frames;
    let mut last = u64::MAX;
    serve_until(&mut s, "A to settle", |s| {
        let st = &s.scene().outputs[0];
        let settled = st.frames == last && st.frames == st.presented && st.frames >= 2;
        last = st.frames;
        settled
    });
    let before = frames_of_a(&s);
    for _ in 0..5 {
        s.dispatch(Some(Duration::from_millis(20))).unwrap();
    }
    assert_eq!(frames_of_a(&s), before, "A is idle");

    plug.plug("B").unwrap();
    serve_until(&mut s, "B to join", |s| names(s) == ["A", "B"]);
    let st = s.scene().outputs;
    // Rotated: its logical size is the glass's turned, right of A.
    assert_eq!(
        (st[1].x, st[1].y, st[1].width, st[1].height),
        (320, 0, 100, 200),
        "{st:?}"
    );
    assert_eq!((st[1].physical_width, st[1].physical_height), (200, 100));
    assert_eq!(st[1].transform, "90");
    serve_until(&mut s, "B's first frame", |s| {
        s.scene().outputs[1].presented >= 1
    });
    let glass = s.screenshot_named("B").unwrap();
    assert_eq!((glass.width, glass.height), (200, 100));
    assert_eq!(
        glass.pixel(100, 50) & 0xff_ffff,
        0x10_7020,
        "B's own background"
    );
    assert_eq!(frames_of_a(&s), before, "B joining redrew nothing on A");
    assert_eq!(
        s.screenshot().unwrap().pixel(10, 10) & 0xff_ffff,
        0x30_3030,
        "A keeps the default background"
    );

    plug.unplug("B").unwrap();
    serve_until(&mut s, "B to leave", |s| names(s) == ["A"]);
    assert!(s.screenshot_named("B").is_err());
    assert_eq!(frames_of_a(&s), before, "B leaving redrew nothing on A");
    // Back where it was.
    plug.plug("B").unwrap();
    serve_until(&mut s, "B to come back", |s| names(s) == ["A", "B"]);
    assert_eq!(s.scene().outputs[1].x, 320);
}

#[test]
fn an_overlay_layer_bound_to_the_second_output_holds_windows_there() {
    let w = world("outputs-layer");
    let file = write_config(
        &w,
        "outputs-layer.toml",
        "[display]\nbackend = \"headless\"\n\
         [[output]]\nname = \"A\"\nmode = \"320x240\"\n\
         [[output]]\nname = \"B\"\nmode = \"200x160\"\n\
         [[layer]]\nid = 0\nkind = \"primary\"\n\
         [[layer]]\nid = 1\nkind = \"overlay\"\noutput = \"B\"\n",
    );
    let mut master = Process::spawn(
        "fusionfb",
        &w,
        &["run", "--no-restart", "--config", file.to_str().unwrap()],
    );
    let mut status = String::new();
    wait_until("the master's status", LIMIT, || {
        master.assert_running();
        status = fusionfb_output(&w, &["status"]).unwrap_or_default();
        status.contains("output B")
    });
    assert!(
        status.contains("output B: 200x160 at 320,0 (mode 200x160 @ 60.000 Hz, normal, layers 1)"),
        "{status}"
    );
    // A paint on layer 1, given no place: it is B's, and so is the window's corner.
    let mut app = Process::spawn("fusionfb-paint", &w, &["--layer", "1"]);
    let mut d = Display::connect_to(w.clone()).expect("join the master");
    let bg = PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    wait_until("paint to cover B", LIMIT, || {
        app.assert_running();
        let b = shot(&mut d, Some("B"));
        [(0, 0), (199, 159)]
            .iter()
            .all(|&(x, y)| b.pixel(x, y) & 0xff_ffff == bg)
    });
    let scene = d.describe().unwrap();
    let win = &scene.windows[0];
    assert_eq!((win.layer, win.x, win.y), (1, 0, 0), "{win:?}");
    let layer = scene.layers.iter().find(|l| l.id == 1).unwrap();
    assert_eq!(
        (layer.width, layer.height),
        (200, 160),
        "B's glass: {layer:?}"
    );
    assert!(layer.hardware, "B's overlay plane: {layer:?}");
    let a = shot(&mut d, Some("A"));
    assert_ne!(
        a.pixel(10, 10) & 0xff_ffff,
        bg,
        "the paint window is not on A"
    );
    // A tap at layout (370, 60) is B's (50, 60): it paints there.
    let (_, (cx, cy)) = tap(&mut d, &w, (370, 60), "B", "A");
    assert!(
        (cx - 50.0).abs() < 3.0 && (cy - 60.0).abs() < 3.0,
        "({cx:.1}, {cy:.1})"
    );
    // Layer 1 is B's: asking for it on A is an error that says so.
    let out = std::process::Command::new(fusionfb_tests::binary("fusionfb-paint"))
        .args(["--world", &w.name, "--layer", "1", "--output", "A"])
        .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("layer 1 is on output B, not A"), "{err}");
    drop(d);
    app.terminate(Duration::from_secs(5));
    master.terminate(Duration::from_secs(10));
}
