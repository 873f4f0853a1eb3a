//! Touch on the emulated board (issue 5, item 7): a real kernel input device — a uinput
//! multi-touch touchscreen made with `evemu-device`, tagged by udev, opened by libinput in the
//! master — touched with `evemu-event`, and `fusionfb-paint` windows painting where the
//! fingers are. QMP screendumps check that the dots are under the touches **on the glass**
//! and nowhere else: every pixel in a finger's colour lies within the brush's reach of that
//! finger's path, and pixels on the path have the colour.
//!
//! - `taps_drags_and_two_fingers_land_under_the_fingers`: two paint windows side by side; a
//!   tap and a drag in the left one (slot 0, red), then two fingers at once, one on each
//!   window (slot 0 red on the left, slot 1 green on the right), the left finger dragged over
//!   the border into the right window — its window keeps it (implicit grab), so no red
//!   appears on the right.
//! - `rotated_output_puts_the_dot_under_the_finger`: the output rotated by 90 degrees
//!   (`transform = "90"`); touches at known places on the glass must paint exactly there.
//! - `a_blanked_display_goes_dark_and_the_waking_tap_paints_nothing`: `fusionfb blank on`
//!   turns the CRTC off (the glass reads dark), a tap turns it back on without reaching the
//!   paint window, and the next tap paints.
//!
//! Coordinates: libinput maps the touchscreen's axes onto the output's glass
//! ([`Touchscreen::device_xy`]); the master turns glass into upright (logical) coordinates for
//! the application, and composes the application's pixels back onto the glass through the same
//! transform, so a dot must appear under the finger whatever the rotation.
//!
//! The backend is [`BACKEND`], `drm` (bochs KMS, as the issue asks);
//! `FUSIONFB_BOARD_INPUT_BACKEND=fbdev` runs the same scenarios on the fbdev backend.

use std::time::Duration;

use fusionfb_client::app::{PAINT_BACKGROUND, PALETTE};
use fusionfb_client::draw::Colour;
use fusionfb_tests::board::master::plain;
use fusionfb_tests::board::{Background, Board, BoardSpec, Contact, Gpu, Image, Touchscreen};

/// The display backend the input tests run on (see the module docs).
const BACKEND: &str = "drm";

/// How far from a finger's path its paint may reach: the brush radius (12) and a pixel and a
/// half for rounding and anti-aliased edges (only pixels of the exact colour count).
const REACH: f64 = 13.5;

fn backend() -> String {
    std::env::var("FUSIONFB_BOARD_INPUT_BACKEND").unwrap_or_else(|_| BACKEND.to_string())
}

fn config(transform: &str) -> String {
    let device = match backend().as_str() {
        "drm" => "/dev/dri/card0",
        _ => "/dev/fb0",
    };
    format!(
        r##"
[display]
backend = "{backend}"
device = "{device}"
transform = "{transform}"
background = "#000000"

[input]
seat = "seat0"
cursor-visible = false
"##,
        backend = backend()
    )
}

fn rgb(c: Colour) -> [u8; 3] {
    [c.r, c.g, c.b]
}

/// A finger's path on the glass: a point or a segment.
#[derive(Debug, Clone, Copy)]
struct Stroke {
    from: (f64, f64),
    to: (f64, f64),
}

impl Stroke {
    fn dot(x: u32, y: u32) -> Stroke {
        let p = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        Stroke { from: p, to: p }
    }

    fn line(a: (u32, u32), b: (u32, u32)) -> Stroke {
        Stroke {
            from: (f64::from(a.0) + 0.5, f64::from(a.1) + 0.5),
            to: (f64::from(b.0) + 0.5, f64::from(b.1) + 0.5),
        }
    }

    /// Distance from the pixel centre (`x`, `y`) to the path.
    fn distance(&self, x: u32, y: u32) -> f64 {
        let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let (dx, dy) = (self.to.0 - self.from.0, self.to.1 - self.from.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (((px - self.from.0) * dx + (py - self.from.1) * dy) / len2).clamp(0.0, 1.0)
        };
        let (cx, cy) = (self.from.0 + t * dx, self.from.1 + t * dy);
        ((px - cx).powi(2) + (py - cy).powi(2)).sqrt()
    }
}

/// Checks the pixels of `colour` against the finger paths `strokes`: none further than
/// [`REACH`] from all of them, none in `forbidden` (x range), and the colour at every pixel in
/// `on` (points on the paths). Returns what is wrong.
fn check_paint(
    img: &Image,
    what: &str,
    colour: [u8; 3],
    strokes: &[Stroke],
    on: &[(u32, u32)],
    forbidden: Option<std::ops::Range<u32>>,
) -> Result<usize, String> {
    let mut count = 0;
    let mut stray = Vec::new();
    for y in 0..img.height() {
        for x in 0..img.width() {
            if img.pixel(x, y) != colour {
                continue;
            }
            count += 1;
            let near = strokes.iter().any(|s| s.distance(x, y) <= REACH);
            let banned = forbidden.as_ref().is_some_and(|r| r.contains(&x));
            if (!near || banned) && stray.len() < 10 {
                stray.push((x, y));
            }
        }
    }
    if !stray.is_empty() {
        return Err(format!(
            "{what}: {colour:?} away from the fingers at {stray:?} ({count} such pixels)"
        ));
    }
    let missing: Vec<_> = on
        .iter()
        .filter(|&&(x, y)| img.pixel(x, y) != colour)
        .map(|&(x, y)| ((x, y), img.pixel(x, y)))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{what}: not {colour:?} under the finger at (point, pixel) {missing:?}"
        ));
    }
    Ok(count)
}

/// Boots a bochs board with a touchscreen and a master on [`backend`] with `transform`, and
/// checks that libinput in the master opened the touchscreen.
fn board_with_touch(transform: &str) -> Option<(Board, Touchscreen, Background, (u32, u32))> {
    let mut board = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs))?;
    board.ok("echo 0 > /sys/class/graphics/fbcon/cursor_blink || true");
    let touch = board
        .add_touchscreen("fusionfb-touch")
        .unwrap_or_else(|e| panic!("{e}"));
    let master = board
        .start_master(&config(transform))
        .unwrap_or_else(|e| panic!("{e}"));
    let said = plain(&board.log(&master).unwrap());
    assert!(
        said.contains(&format!("backend: {} ", backend())),
        "the master is not on the {} backend:\n{said}",
        backend()
    );
    let want = format!("(\"{}\"): touch", touch.name);
    let dev = touch
        .path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let found = board.wait_until(
        Duration::from_secs(30),
        "the master's line for the touchscreen",
        |b| {
            let log = plain(&b.log(&master)?);
            Ok(log
                .lines()
                .find(|l| l.contains("input device ") && l.contains(&want) && l.contains(&dev))
                .map(str::to_string))
        },
    );
    let log = plain(&board.log(&master).unwrap());
    let line = found.unwrap_or_else(|e| panic!("{e}\nmaster log:\n{log}"));
    eprintln!("board: {}", line.trim());
    let glass = board.screendump().unwrap_or_else(|e| panic!("{e}"));
    let size = (glass.width(), glass.height());
    eprintln!(
        "board: {} backend, glass {}x{}, transform {transform}",
        backend(),
        size.0,
        size.1
    );
    Some((board, touch, master, size))
}

/// A finger position in device units for glass pixel `p`.
fn dev(p: (u32, u32), size: (u32, u32)) -> (u32, u32) {
    Touchscreen::device_xy(p.0, p.1, size.0, size.1)
}

fn down(slot: u32, p: (u32, u32), size: (u32, u32)) -> Contact {
    let (x, y) = dev(p, size);
    Contact::Down { slot, x, y }
}

fn moved(slot: u32, p: (u32, u32), size: (u32, u32)) -> Contact {
    let (x, y) = dev(p, size);
    Contact::Move { slot, x, y }
}

fn fail(board: &mut Board, master: &Background, e: impl std::fmt::Display) -> ! {
    let log = board.log(master).map(|l| plain(&l)).unwrap_or_default();
    panic!("{e}\nmaster log:\n{log}")
}

#[test]
fn taps_drags_and_two_fingers_land_under_the_fingers() {
    let Some((mut board, mut touch, master, size)) = board_with_touch("normal") else {
        return;
    };
    let (w, h) = size;
    let half = w / 2;
    let left = board
        .start_app(&format!(
            "fusionfb-paint --latency --x 0 --y 0 --width {half} --height {h}"
        ))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board
        .start_app(&format!(
            "fusionfb-paint --x {half} --y 0 --width {} --height {h}",
            w - half
        ))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let bg = rgb(PAINT_BACKGROUND);
    board
        .wait_for_screen(Duration::from_secs(60), "two paint canvases", |img| {
            img.pixel(w / 4, h / 2) == bg && img.pixel(3 * w / 4, h / 2) == bg
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let (red, green) = (rgb(PALETTE[0]), rgb(PALETTE[1]));

    // A tap (down, up) in the left window.
    let tap = (w / 4, h / 2);
    touch
        .frames(
            &mut board,
            &[&[down(0, tap, size)], &[Contact::Up { slot: 0 }]],
        )
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let mut red_strokes = vec![Stroke::dot(tap.0, tap.1)];
    let img = board
        .wait_for_screen(Duration::from_secs(30), "the tap's dot", |img| {
            img.pixel(tap.0, tap.1) == red
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("tap", &img);
    let n = check_paint(&img, "after the tap", red, &red_strokes, &[tap], None)
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    eprintln!("board: the tap painted {n} red pixels");
    // A dot of radius 12 has about 450 pixels; well under half of that is not a dot.
    assert!(n > 200, "the tap's dot has only {n} pixels");

    // A drag in the left window: one continuous line.
    let (a, b) = ((w / 8, 3 * h / 4), (3 * w / 8, 3 * h / 4 - 40));
    touch
        .frames(&mut board, &[&[down(0, a, size)]])
        .and_then(|()| touch.drag(&mut board, 0, dev(a, size), dev(b, size), 8))
        .and_then(|()| touch.frames(&mut board, &[&[Contact::Up { slot: 0 }]]))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    red_strokes.push(Stroke::line(a, b));
    let along: Vec<(u32, u32)> = (0..=10)
        .map(|i| (a.0 + (b.0 - a.0) * i / 10, a.1 - (a.1 - b.1) * i / 10))
        .collect();
    let img = board
        .wait_for_screen(Duration::from_secs(30), "the drag's line", |img| {
            along.iter().all(|&(x, y)| img.pixel(x, y) == red)
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("drag", &img);
    check_paint(&img, "after the drag", red, &red_strokes, &along, None)
        .unwrap_or_else(|e| fail(&mut board, &master, e));

    // Two fingers at once, one on each window, in the same kernel frames. The left one (slot
    // 0) is dragged over the border into the right window: the left window keeps it.
    let (l0, l1) = ((half - 120, h / 4), (half + 120, h / 4));
    let (r0, r1) = ((3 * w / 4, h / 4 - 60), (3 * w / 4, h / 4 + 100));
    let mut frames: Vec<[Contact; 2]> = vec![[down(0, l0, size), down(1, r0, size)]];
    for i in 1..=8u32 {
        let lerp = |p: (u32, u32), q: (u32, u32)| {
            (
                (i64::from(p.0) + (i64::from(q.0) - i64::from(p.0)) * i64::from(i) / 8) as u32,
                (i64::from(p.1) + (i64::from(q.1) - i64::from(p.1)) * i64::from(i) / 8) as u32,
            )
        };
        frames.push([moved(0, lerp(l0, l1), size), moved(1, lerp(r0, r1), size)]);
    }
    frames.push([Contact::Up { slot: 0 }, Contact::Up { slot: 1 }]);
    let frames: Vec<&[Contact]> = frames.iter().map(|f| &f[..]).collect();
    touch
        .frames(&mut board, &frames)
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    red_strokes.push(Stroke::line(l0, l1));
    let green_strokes = [Stroke::line(r0, r1)];
    let red_on = [l0, (half - 60, h / 4), (half - 3, h / 4)];
    let green_on = [r0, (r0.0, h / 4), r1];
    let img = board
        .wait_for_screen(Duration::from_secs(30), "both fingers' lines", |img| {
            red_on.iter().all(|&(x, y)| img.pixel(x, y) == red)
                && green_on.iter().all(|&(x, y)| img.pixel(x, y) == green)
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("two-fingers", &img);
    // Red only in the left window (the grab), green only in the right one.
    let reds = check_paint(&img, "slot 0", red, &red_strokes, &red_on, Some(half..w))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let greens = check_paint(
        &img,
        "slot 1",
        green,
        &green_strokes,
        &green_on,
        Some(0..half),
    )
    .unwrap_or_else(|e| fail(&mut board, &master, e));
    eprintln!("board: {reds} red and {greens} green pixels, each in its own window");
    assert_eq!(
        img.pixel(half + 20, h / 4),
        bg,
        "the right window at the left finger's path"
    );
    assert!(board.running(&left).unwrap(), "the left paint ended");

    // Touch-to-app latency, from the kernel's timestamp to the left paint taking the event
    // from the master (`--latency`), over everything it got. Printed, never asserted:
    // software emulation (TCG) with evemu-event processes starting around each frame.
    let log = board.log(&left).unwrap();
    let mut lat: Vec<u64> = Vec::new();
    let mut downs = 0;
    for l in log.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(ns) = f.first().and_then(|v| v.strip_prefix("latency_ns=")) else {
            continue;
        };
        if f.get(2) == Some(&"phase=Frame") {
            continue;
        }
        downs += usize::from(f.get(2) == Some(&"phase=Down"));
        lat.push(ns.parse().expect("latency_ns=N"));
    }
    assert_eq!(
        downs, 3,
        "the left window's touch-downs (tap, drag, left finger):\n{log}"
    );
    lat.sort_unstable();
    let q = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)];
    eprintln!(
        "board: touch-to-app latency on the {} backend (TCG emulation), {} events: \
         median {} us, p99 {} us, max {} us",
        backend(),
        lat.len(),
        q(50) / 1000,
        q(99) / 1000,
        lat[lat.len() - 1] / 1000
    );
}

#[test]
fn rotated_output_puts_the_dot_under_the_finger() {
    let Some((mut board, mut touch, master, size)) = board_with_touch("90") else {
        return;
    };
    let (w, h) = size;
    board
        .start_app("fusionfb-paint")
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let windows = board
        .windows()
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    // The upright (logical) output is the glass turned: the window fills it.
    assert_eq!(
        (windows[0]["width"].as_u64(), windows[0]["height"].as_u64()),
        (Some(u64::from(h)), Some(u64::from(w))),
        "a full-screen window on the rotated output: {windows:?}"
    );
    let bg = rgb(PAINT_BACKGROUND);
    board
        .wait_for_screen(Duration::from_secs(60), "the paint canvas", |img| {
            img.pixel(w / 2, h / 2) == bg
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let red = rgb(PALETTE[0]);

    // Taps off both diagonals, so a wrong rotation (or none) lands elsewhere; then a drag.
    let taps = [(w / 4, h / 3), (3 * w / 4, h / 5), (5 * w / 8, 4 * h / 5)];
    let mut strokes = Vec::new();
    for &t in &taps {
        touch
            .frames(
                &mut board,
                &[&[down(0, t, size)], &[Contact::Up { slot: 0 }]],
            )
            .unwrap_or_else(|e| fail(&mut board, &master, e));
        strokes.push(Stroke::dot(t.0, t.1));
    }
    let (a, b) = ((w / 3, 2 * h / 3), (w / 2, h / 2 + 20));
    touch
        .frames(&mut board, &[&[down(0, a, size)]])
        .and_then(|()| touch.drag(&mut board, 0, dev(a, size), dev(b, size), 8))
        .and_then(|()| touch.frames(&mut board, &[&[Contact::Up { slot: 0 }]]))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    strokes.push(Stroke::line(a, b));
    let mut on = taps.to_vec();
    on.extend([a, ((a.0 + b.0) / 2, (a.1 + b.1) / 2), b]);
    let img = board
        .wait_for_screen(Duration::from_secs(30), "dots under the fingers", |img| {
            on.iter().all(|&(x, y)| img.pixel(x, y) == red)
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("rotated", &img);
    let n = check_paint(&img, "rotated 90", red, &strokes, &on, None)
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    eprintln!("board: rotated 90: {n} red pixels, all under the fingers");
}

/// Keys typed on a real keyboard (a uinput device, opened by libinput in the master and
/// translated by xkbcommon with the `us` layout) go to the window with the keyboard focus,
/// and the focus follows the finger: a tap on the left paint window, then keys, reach only
/// it; a tap on the right one moves them there.
#[test]
fn keys_from_a_real_keyboard_follow_the_focus() {
    let Some((mut board, mut touch, master, size)) = board_with_touch("normal") else {
        return;
    };
    let keyboard = board
        .add_keyboard("fusionfb-keys")
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let want = format!("(\"{}\"): keyboard", keyboard.name);
    board
        .wait_until(
            Duration::from_secs(30),
            "the master's line for the keyboard",
            |b| {
                let log = plain(&b.log(&master)?);
                Ok(log
                    .lines()
                    .any(|l| l.contains("input device ") && l.contains(&want))
                    .then_some(()))
            },
        )
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let (w, h) = size;
    let half = w / 2;
    let left = board
        .start_app(&format!(
            "fusionfb-paint --keys --x 0 --y 0 --width {half} --height {h}"
        ))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let right = board
        .start_app(&format!(
            "fusionfb-paint --keys --x {half} --y 0 --width {} --height {h}",
            w - half
        ))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let keys_of = |b: &mut Board, app: &Background| -> Vec<String> {
        b.log(app)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("key ") && l.contains("pressed=true"))
            .map(str::to_string)
            .collect()
    };
    let tap = |b: &mut Board, t: &mut Touchscreen, p: (u32, u32)| {
        t.frames(b, &[&[down(0, p, size)], &[Contact::Up { slot: 0 }]])
    };

    tap(&mut board, &mut touch, (w / 4, h / 2)).unwrap_or_else(|e| fail(&mut board, &master, e));
    keyboard
        .type_keys(&mut board, &["KEY_H", "KEY_I"])
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let got = board
        .wait_until(Duration::from_secs(30), "h and i in the left window", |b| {
            let k = keys_of(b, &left);
            Ok((k.len() >= 2).then_some(k))
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    assert!(
        got[0].contains("code=35") && got[0].contains("text=\"h\""),
        "{got:?}"
    );
    assert!(
        got[1].contains("code=23") && got[1].contains("text=\"i\""),
        "{got:?}"
    );

    tap(&mut board, &mut touch, (3 * w / 4, h / 2))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    keyboard
        .type_keys(&mut board, &["KEY_O", "KEY_K"])
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let got = board
        .wait_until(
            Duration::from_secs(30),
            "o and k in the right window",
            |b| {
                let k = keys_of(b, &right);
                Ok((k.len() >= 2).then_some(k))
            },
        )
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    assert!(
        got[0].contains("text=\"o\"") && got[1].contains("text=\"k\""),
        "{got:?}"
    );
    assert_eq!(
        keys_of(&mut board, &left).len(),
        2,
        "the left window got keys after losing the focus"
    );
    // A key held down repeats (the master's repeat timer: 600 ms, then 25 a second), and
    // stops when it is released.
    keyboard
        .hold_key(&mut board, "KEY_L", 1.5)
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let repeats = |b: &mut Board| -> Vec<String> {
        keys_of(b, &right)
            .into_iter()
            .filter(|l| l.contains("code=38") && l.contains("repeat=true"))
            .collect()
    };
    let held = board
        .wait_until(Duration::from_secs(30), "l repeating", |b| {
            let r = repeats(b);
            Ok((r.len() >= 5).then_some(r.len()))
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    // Released (hold_key returned): a repeat still on the way may land, then no more.
    std::thread::sleep(Duration::from_millis(700));
    let released = repeats(&mut board).len();
    std::thread::sleep(Duration::from_millis(700));
    let later = repeats(&mut board).len();
    assert_eq!(
        released, later,
        "the key went on repeating after its release"
    );
    eprintln!("board: a held key repeated {held}, {later} times in all");
    eprintln!(
        "board: keys left {:?}, right {got:?}",
        keys_of(&mut board, &left)
    );
}

#[test]
fn a_blanked_display_goes_dark_and_the_waking_tap_paints_nothing() {
    let Some((mut board, mut touch, master, size)) = board_with_touch("normal") else {
        return;
    };
    let (w, h) = size;
    board
        .start_app("fusionfb-paint")
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let bg = rgb(PAINT_BACKGROUND);
    board
        .wait_for_screen(Duration::from_secs(60), "the paint canvas", |img| {
            img.pixel(w / 2, h / 2) == bg
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let world = fusionfb_tests::board::master::WORLD;
    let out = board.ok(&format!("fusionfb --world {world} blank on"));
    assert!(out.contains("display blanked"), "{out}");
    // The CRTC is off: bochs shows nothing.
    let dark = board
        .wait_for_screen(Duration::from_secs(30), "a dark glass", |img| {
            img.count(|p| p != [0, 0, 0]) == 0
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("blanked", &dark);
    let status = board.ok(&format!("fusionfb --world {world} status"));
    assert!(status.contains("display: blanked"), "{status}");

    // The tap that wakes it paints nothing; the picture is back.
    let tap = (w / 2, h / 2);
    touch
        .frames(
            &mut board,
            &[&[down(0, tap, size)], &[Contact::Up { slot: 0 }]],
        )
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let back = board
        .wait_for_screen(Duration::from_secs(30), "the canvas back", |img| {
            img.pixel(w / 2, h / 2) == bg && img.pixel(w / 4, h / 4) == bg
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("woken", &back);
    std::thread::sleep(Duration::from_millis(500));
    let after = board
        .screendump()
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let red = rgb(PALETTE[0]);
    assert_eq!(after.count(|p| p == red), 0, "the waking tap painted a dot");
    // The next tap paints.
    touch
        .frames(
            &mut board,
            &[&[down(0, tap, size)], &[Contact::Up { slot: 0 }]],
        )
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board
        .wait_for_screen(Duration::from_secs(30), "the second tap's dot", |img| {
            img.pixel(tap.0, tap.1) == red
        })
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let status = board.ok(&format!("fusionfb --world {world} status"));
    assert!(
        status.contains("display: on") && status.contains("blanked 1 times, woken 1"),
        "{status}"
    );
}
