//! The demo applications as real processes against a master on the headless backend: the
//! test owns the `Server`, starts `fusionfb-paint`, `fusionfb-clock` and `fusionfb-gallery`
//! (built next to this test by `cargo test --workspace`), feeds touches through the
//! master's input routing (`Server::touch`, as a touchscreen would) and checks the pixels on
//! the glass. Every wait is bounded; each test has a world of its own.

use std::time::Duration;

use fusionfb::server::Server;
use fusionfb_client::app::{CLEAR_BUTTON, CLOCK_BACKGROUND, PAINT_BACKGROUND, PALETTE};
use fusionfb_protocol::{InjectedTouch, TouchPhase};
use fusionfb_tests::{world, Process};
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig, Image};

/// The master's background where no window is.
const SERVER_BACKGROUND: u32 = 0xff20_2028;
/// How long anything may take before the test fails (never a hang).
const LIMIT: Duration = Duration::from_secs(30);

fn server(tag: &str, w: u32, h: u32) -> (Server, fusion::WorldConfig) {
    let wc = world(tag);
    let backend = HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(w, h, 60_000)])
        .expect("headless backend");
    (
        Server::new(wc.clone(), Box::new(backend)).expect("server"),
        wc,
    )
}

fn pixel(img: &Image, x: i32, y: i32) -> u32 {
    img.pixel(x as u32, y as u32) | 0xff00_0000
}

/// Serves until `done` holds for a screenshot; fails (naming `what`) if the app ends or
/// the limit passes.
fn wait_for(s: &mut Server, app: &mut Process, what: &str, mut done: impl FnMut(&Image) -> bool) {
    let ok = s
        .dispatch_until(LIMIT, |s| {
            app.assert_running();
            done(&s.screenshot().expect("screenshot"))
        })
        .expect("server");
    assert!(ok, "timed out waiting for {what}");
}

/// Serves for `d` (to let an application react to something that should change nothing).
fn serve_for(s: &mut Server, d: Duration) {
    let end = std::time::Instant::now() + d;
    s.dispatch_until(d + Duration::from_secs(1), |_| {
        std::time::Instant::now() >= end
    })
    .expect("server");
}

/// Makes the master compose the whole output again from every surface's front buffer (it
/// otherwise composes only what a flip damaged, which would hide a stale back buffer: this
/// is what checks the applications' double buffering).
fn recompose(s: &mut Server) {
    let frames = s.frames();
    s.set_background(SERVER_BACKGROUND & 0xff_ffff);
    let ok = s
        .dispatch_until(LIMIT, |s| s.frames() >= frames + 2)
        .expect("server");
    assert!(ok, "timed out waiting for the master to compose");
}

/// Injects touches (output coordinates), each followed by a frame event.
fn touches(s: &mut Server, events: &[(TouchPhase, u32, f32, f32)]) {
    for &(phase, slot, x, y) in events {
        s.touch(InjectedTouch { phase, slot, x, y }, 0);
        if !matches!(phase, TouchPhase::Frame) {
            s.touch(
                InjectedTouch {
                    phase: TouchPhase::Frame,
                    slot: 0,
                    x: 0.0,
                    y: 0.0,
                },
                0,
            );
        }
    }
}

/// Serves until `app` exits; returns whether it exited with status 0.
fn wait_exit(s: Option<&mut Server>, app: &mut Process) -> bool {
    let mut s = s;
    let status = fusionfb_tests::wait_for("the application to exit", LIMIT, || {
        if let Some(s) = s.as_mut() {
            s.dispatch(Some(Duration::from_millis(20))).expect("server");
        }
        app.exited()
    });
    status.success()
}

#[test]
fn paint_draws_one_colour_per_finger_continuous_strokes_and_clears() {
    use TouchPhase::*;
    let (mut s, w) = server("paint", 480, 320);
    // A window that does not start at the output's corner: touches arrive window-local.
    let (ox, oy) = (40, 20);
    let mut app = Process::spawn(
        "fusionfb-paint",
        &w,
        &[
            "--x", "40", "--y", "20", "--width", "400", "--height", "280",
        ],
    );
    let bg = PAINT_BACKGROUND.to_argb();
    // Window-local point to output point.
    let at = |x: i32, y: i32| (x + ox, y + oy);
    let px = |img: &Image, (x, y): (i32, i32)| pixel(img, x + ox, y + oy);
    let button = CLEAR_BUTTON.centre();
    let button_edge = (CLEAR_BUTTON.x + 4, CLEAR_BUTTON.y + 24);
    wait_for(&mut s, &mut app, "the paint window", |img| {
        px(img, (300, 200)) == bg && px(img, button_edge) != bg
    });
    let shot = s.screenshot().unwrap();
    assert_eq!(
        pixel(&shot, 10, 10),
        SERVER_BACKGROUND,
        "outside the window"
    );
    assert_eq!(
        px(&shot, (399, 279)),
        bg,
        "the window's bottom-right corner"
    );

    // Two fingers at once: slot 0 and slot 3, each in its own colour.
    let (a, b) = ((150, 100), (300, 150));
    let f = |p: (i32, i32)| {
        let (x, y) = at(p.0, p.1);
        (x as f32 + 0.5, y as f32 + 0.5)
    };
    s.touch(t(Down, 0, f(a)), 0);
    s.touch(t(Down, 3, f(b)), 0);
    s.touch(t(Frame, 0, (0.0, 0.0)), 0);
    s.touch(t(Up, 0, f(a)), 0);
    s.touch(t(Up, 3, f(b)), 0);
    s.touch(t(Frame, 0, (0.0, 0.0)), 0);
    let (c0, c3) = (PALETTE[0].to_argb(), PALETTE[3].to_argb());
    wait_for(&mut s, &mut app, "two dots", |img| {
        px(img, a) == c0 && px(img, b) == c3
    });
    let shot = s.screenshot().unwrap();
    // The dot has radius 12: its inside is the colour, a little further out the background.
    assert_eq!(px(&shot, (a.0 + 8, a.1)), c0);
    assert_eq!(px(&shot, (b.0, b.1 - 8)), c3);
    assert_eq!(px(&shot, (a.0 + 20, a.1)), bg);
    assert_eq!(px(&shot, (225, 125)), bg, "between the dots");
    assert_eq!(px(&shot, (350, 250)), bg);

    // A drag with slot 5, in steps wider than a dot: the stroke joins them.
    let y = 230;
    let mut drag = vec![(Down, 5, 60, y)];
    drag.extend((110..=360).step_by(50).map(|x| (Motion, 5, x, y)));
    drag.push((Up, 5, 360, y));
    let drag: Vec<_> = drag
        .into_iter()
        .map(|(p, slot, x, y)| {
            let (x, y) = f((x, y));
            (p, slot, x, y)
        })
        .collect();
    touches(&mut s, &drag);
    let c5 = PALETTE[5].to_argb();
    let line = |img: &Image| (60..=360).step_by(5).all(|x| px(img, (x, y)) == c5);
    wait_for(&mut s, &mut app, "a continuous line", line);
    recompose(&mut s);
    let shot = s.screenshot().unwrap();
    assert!(line(&shot), "the line is in the surface's front buffer");
    assert_eq!(px(&shot, (200, y + 20)), bg, "below the line");
    assert_eq!(px(&shot, (200, y - 20)), bg, "above the line");
    // Drawn into the other buffer: the earlier dots were carried over.
    assert_eq!(px(&shot, a), c0, "the first dot survived the next frame");
    assert_eq!(px(&shot, b), c3);

    // A touch on Clear wipes the canvas; the button stays.
    let p = f(button);
    touches(&mut s, &[(Down, 1, p.0, p.1), (Up, 1, p.0, p.1)]);
    wait_for(&mut s, &mut app, "a clear canvas", |img| {
        px(img, a) == bg && px(img, b) == bg && (60..=360).step_by(5).all(|x| px(img, (x, y)) == bg)
    });
    let shot = s.screenshot().unwrap();
    assert_ne!(
        px(&shot, button_edge),
        bg,
        "the Clear button is still there"
    );

    // The master asks it to leave: it exits with status 0.
    s.master().kill(None, Duration::from_secs(10));
    assert!(
        wait_exit(Some(&mut s), &mut app),
        "paint exits 0 when asked to leave"
    );
}

/// On a board with a mouse and no touchscreen the apps work too: a left-button drag
/// paints like a finger (slot `MOUSE_SLOT`), and moving without the button paints nothing.
#[test]
fn paint_draws_with_a_mouse_as_with_a_finger() {
    use fusionfb_client::app::MOUSE_SLOT;
    use fusionfb_protocol::Injected;
    let (mut s, w) = server("paint-mouse", 480, 320);
    let mut app = Process::spawn("fusionfb-paint", &w, &[]);
    let bg = PAINT_BACKGROUND.to_argb();
    wait_for(&mut s, &mut app, "the paint window", |img| {
        pixel(img, 300, 200) == bg
    });
    let to = |x: f32, y: f32| Injected::PointerTo { x, y };
    let button = |pressed| Injected::Button {
        button: 0x110,
        pressed,
    };
    // Hovering paints nothing; then a drag with the left button held from (100, 150) to
    // (300, 150).
    s.inject(vec![to(200.5, 60.5), to(250.5, 60.5)], 0).unwrap();
    let mut drag = vec![to(100.5, 150.5), button(true)];
    drag.extend((150..=300).step_by(50).map(|x| to(x as f32 + 0.5, 150.5)));
    drag.push(button(false));
    drag.push(to(350.5, 250.5));
    s.inject(drag, 0).unwrap();
    let c = PALETTE[MOUSE_SLOT as usize % PALETTE.len()].to_argb();
    let line = |img: &Image| (100..=300).step_by(5).all(|x| pixel(img, x, 150) == c);
    wait_for(&mut s, &mut app, "a line drawn with the mouse", line);
    serve_for(&mut s, Duration::from_millis(200));
    let shot = s.screenshot().unwrap();
    assert_eq!(pixel(&shot, 225, 60), bg, "hovering painted");
    assert_eq!(
        pixel(&shot, 325, 200),
        bg,
        "moving after the release painted"
    );
    assert_eq!(pixel(&shot, 350, 250), bg);
}

fn t(phase: TouchPhase, slot: u32, (x, y): (f32, f32)) -> InjectedTouch {
    InjectedTouch { phase, slot, x, y }
}

#[test]
fn clock_shows_the_time_and_ticks() {
    let (mut s, w) = server("clock", 480, 320);
    let mut app = Process::spawn("fusionfb-clock", &w, &[]);
    let bg = CLOCK_BACKGROUND.to_argb();
    // The text is centred: its middle band holds ink, the corners stay background.
    let band = |img: &Image| -> Vec<u32> {
        (110..210)
            .flat_map(|y| (0..480).map(move |x| (x, y)))
            .map(|(x, y)| pixel(img, x, y))
            .collect()
    };
    wait_for(&mut s, &mut app, "the clock's face", |img| {
        pixel(img, 2, 2) == bg && band(img).iter().any(|&p| p != bg)
    });
    let first = band(&s.screenshot().unwrap());
    let ink = first.iter().filter(|&&p| p != bg).count();
    assert!(ink > 200, "large text: {ink} pixels of ink");
    // A second later the time reads differently.
    wait_for(&mut s, &mut app, "the next second", |img| {
        band(img) != first
    });
    recompose(&mut s);
    let shot = s.screenshot().unwrap();
    assert_eq!(
        pixel(&shot, 2, 2),
        bg,
        "the front buffer holds the whole face"
    );
    assert_eq!(pixel(&shot, 477, 317), bg);
    assert!(band(&shot).iter().any(|&p| p != bg));
    // The master goes away: the clock exits with status 0.
    drop(s);
    assert!(
        wait_exit(None, &mut app),
        "clock exits 0 when the master is gone"
    );
}

#[test]
fn gallery_changes_picture_on_a_horizontal_swipe_only() {
    use TouchPhase::*;
    let (mut s, w) = server("gallery", 400, 300);
    let mut app = Process::spawn("fusionfb-gallery", &w, &[]);
    // Before the first frame the glass is black, then the master's background; the
    // picture comes in one flip, so once some of it shows all of it does.
    let shown = |img: &Image, x, y| ![0xff00_0000, SERVER_BACKGROUND].contains(&pixel(img, x, y));
    wait_for(&mut s, &mut app, "the first picture", |img| {
        shown(img, 200, 150) && shown(img, 2, 2)
    });
    let first = s.screenshot().unwrap().data;

    // A tap and a vertical swipe change nothing.
    touches(
        &mut s,
        &[
            (Down, 0, 200.0, 150.0),
            (Up, 0, 201.0, 151.0),
            (Down, 1, 200.0, 40.0),
            (Motion, 1, 210.0, 150.0),
            (Up, 1, 215.0, 260.0),
        ],
    );
    serve_for(&mut s, Duration::from_millis(600));
    app.assert_running();
    assert!(
        s.screenshot().unwrap().data == first,
        "a tap or a vertical swipe changed the picture"
    );

    // A leftward swipe shows the next picture.
    touches(
        &mut s,
        &[
            (Down, 0, 320.0, 150.0),
            (Motion, 0, 260.0, 155.0),
            (Motion, 0, 200.0, 160.0),
            (Up, 0, 150.0, 160.0),
        ],
    );
    wait_for(&mut s, &mut app, "the next picture", |img| {
        img.data != first
    });
    let second = s.screenshot().unwrap().data;
    recompose(&mut s);
    assert!(
        s.screenshot().unwrap().data == second,
        "the front buffer holds the whole picture"
    );
    // A rightward swipe goes back to the first, pixel for pixel.
    touches(
        &mut s,
        &[
            (Down, 2, 100.0, 100.0),
            (Motion, 2, 180.0, 110.0),
            (Up, 2, 250.0, 100.0),
        ],
    );
    wait_for(&mut s, &mut app, "the first picture again", |img| {
        img.data == first
    });
    recompose(&mut s);
    assert!(s.screenshot().unwrap().data == first);
    assert!(second != first);

    // The master goes away: the gallery exits with status 0.
    drop(s);
    assert!(
        wait_exit(None, &mut app),
        "gallery exits 0 when the master is gone"
    );
}

/// A mistaken command line is answered with what exists: a layer that is not there names
/// the layers, a window off the output names the output's size.
#[test]
fn a_wrong_layer_or_position_says_what_exists() {
    let (mut s, w) = server("usage", 480, 320);
    let run = |s: &mut Server, args: &[&str]| {
        let child = std::process::Command::new(fusionfb_tests::binary("fusionfb-clock"))
            .args(["--world", &w.name])
            .args(args)
            .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let h = std::thread::spawn(move || child.wait_with_output().unwrap());
        let ok = s
            .dispatch_until(LIMIT, |_| h.is_finished())
            .expect("server");
        assert!(ok, "fusionfb-clock {args:?} did not end");
        let out = h.join().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&mut s, &["--layer", "7"]);
    assert!(err.contains("layer 7"), "{err}");
    assert!(err.contains("0 (primary)"), "{err}");
    let err = run(&mut s, &["--x", "5000"]);
    assert!(err.contains("--x 5000"), "{err}");
    assert!(err.contains("480x320 output"), "{err}");
}
