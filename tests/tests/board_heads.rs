//! A board with two displays (issue 15, item 1): a virtio-gpu card with two heads, connectors
//! `Virtual-1` (1280×800) and `Virtual-2` (1024×768), and a touchscreen on each, mapped to its
//! output by udev's `WL_OUTPUT` property (a rule matching the device's name, as Weston has
//! integrators do). [`BoardSpec::heads`] says what QEMU and the guest kernel need for the
//! second head to read `connected` without a QEMU display.
//!
//! - `two_heads_are_connected_and_each_touchscreen_names_its_output`: what the board itself
//!   provides, checked without fusionfb's multi-output work: both connectors `connected`;
//!   each touchscreen tagged for libinput with its own `WL_OUTPUT`, and one without a rule
//!   with none; one screendump per head, each of its head's size; and, so that a screendump
//!   of head 2 is known to show head 2 and not head 1 again, a master driving only
//!   `Virtual-2` (`[display] output`) with a coloured background: its colour fills head 2's
//!   glass and not head 1's.
//! - `paint_on_each_output_lands_under_its_own_touchscreen`: `fusionfb run` on DRM with no `[[output]]` lays
//!   `Virtual-1` at (0,0) and `Virtual-2` right of it; `fusionfb status` says so; a
//!   `fusionfb-paint` on each output (`--output NAME`); a tap on each touchscreen paints a dot
//!   under the finger on its own head's glass and nothing on the other's;
//!   `fusionfb screenshot --output Virtual-2` writes that output's picture; and
//!   `FUSIONFB_OUTPUT` places a window like `--output` does.

use std::time::Duration;

use fusionfb_client::app::{PAINT_BACKGROUND, PALETTE};
use fusionfb_client::draw::Colour;
use fusionfb_tests::board::master::{plain, WORLD};
use fusionfb_tests::board::{
    shell_quote, Background, Board, BoardSpec, Contact, Image, Touchscreen, EXTRA_HEAD_SIZE,
    FIRST_HEAD_SIZE,
};

/// The connectors of the two heads, in the card's order.
const OUTPUTS: [&str; 2] = ["Virtual-1", "Virtual-2"];
/// The touchscreens' names, one per head; udev rules match them.
const TOUCH: [&str; 2] = ["fusionfb-touch-1", "fusionfb-touch-2"];
/// How far from a tap the dot may reach: the paint brush's radius (12) and a pixel and a half
/// for rounding (only pixels of the exact colour count).
const REACH: f64 = 13.5;

fn rgb(c: Colour) -> [u8; 3] {
    [c.r, c.g, c.b]
}

/// The value of udev property `key` of the device node `path` (from the human-readable
/// `udevadm info`, `E: KEY=VALUE` lines), if it has one.
fn udev_property(board: &mut Board, path: &str, key: &str) -> Option<String> {
    let info = board.ok(&format!("udevadm info {}", shell_quote(path)));
    info.lines()
        .filter_map(|l| l.strip_prefix("E: "))
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
}

/// Boots the two-head board and adds a touchscreen for each head, its rule naming that
/// head's connector; `None` when board tests are skipped.
fn two_head_board() -> Option<(Board, Vec<Touchscreen>)> {
    let mut board = Board::boot_or_skip(BoardSpec::heads(2))?;
    let touches = TOUCH
        .iter()
        .zip(OUTPUTS)
        .map(|(name, output)| {
            board
                .add_touchscreen_on(name, output)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    Some((board, touches))
}

fn fail(board: &mut Board, master: &Background, e: impl std::fmt::Display) -> ! {
    let log = board.log(master).map(|l| plain(&l)).unwrap_or_default();
    panic!("{e}\nmaster log:\n{log}")
}

#[test]
fn two_heads_are_connected_and_each_touchscreen_names_its_output() {
    let Some((mut board, touches)) = two_head_board() else {
        return;
    };
    for output in OUTPUTS {
        let status = board.ok(&format!("cat /sys/class/drm/card0-{output}/status"));
        assert_eq!(status.trim(), "connected", "{output}");
    }

    // Each touchscreen: still a touchscreen for libinput, and its own output.
    for touch in &touches {
        let output = touch.output.as_deref().expect("added with an output");
        assert_eq!(
            udev_property(&mut board, &touch.path, "ID_INPUT_TOUCHSCREEN").as_deref(),
            Some("1"),
            "{} is not tagged for libinput",
            touch.name
        );
        assert_eq!(
            udev_property(&mut board, &touch.path, "WL_OUTPUT").as_deref(),
            Some(output),
            "{}'s WL_OUTPUT",
            touch.name
        );
        let shown = board.ok(&format!(
            "udevadm info {} | grep WL_OUTPUT",
            shell_quote(&touch.path)
        ));
        eprintln!("board: {} ({}): {}", touch.name, touch.path, shown.trim());
    }
    // The rules match by name: a touchscreen no rule names has no WL_OUTPUT.
    let plain_touch = board
        .add_touchscreen("fusionfb-touch-plain")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        udev_property(&mut board, &plain_touch.path, "WL_OUTPUT"),
        None,
        "a touchscreen without a rule"
    );

    // One screendump per head, each its head's size.
    let sizes = [FIRST_HEAD_SIZE, EXTRA_HEAD_SIZE];
    for (head, size) in (0..).zip(sizes) {
        let img = board
            .screendump_head(head)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (img.width(), img.height()),
            size,
            "the screendump of head {head} ({})",
            OUTPUTS[head as usize]
        );
    }
    assert!(
        board.screendump_head(2).is_err(),
        "a screendump of a third head of a two-head card"
    );

    // Head 2's screendump is head 2: a master driving only Virtual-2 fills it with its
    // background, which head 1 does not show.
    const BACKGROUND: [u8; 3] = [0x30, 0x90, 0x50];
    let [r, g, b] = BACKGROUND;
    let master = board
        .start_master(&format!(
            r##"
[display]
backend = "drm"
device = "/dev/dri/card0"
output = "Virtual-2"
background = "#{r:02x}{g:02x}{b:02x}"

[input]
seat = "seat0"
cursor-visible = false
"##
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let (w2, h2) = EXTRA_HEAD_SIZE;
    let head2 = board
        .wait_for_screen_head(
            1,
            Duration::from_secs(60),
            "head 2 in the background",
            |img| img.count(|p| p == BACKGROUND) == (w2 * h2) as usize,
        )
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("head2", &head2);
    let head1 = board
        .screendump_head(0)
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    board.save_artifact("head1", &head1);
    let on_head1 = head1.count(|p| p == BACKGROUND);
    assert_eq!(
        on_head1, 0,
        "head 1 shows the background of the master that drives only Virtual-2"
    );
}

/// One line of `fusionfb status`: `output <NAME>: <W>x<H> at <X>,<Y>` (more may follow).
fn output_line(status: &str, name: &str) -> Option<((u32, u32), (i64, i64))> {
    let rest = status
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("output {name}: ")))?;
    let mut words = rest.split_whitespace();
    let (w, h) = words.next()?.split_once('x')?;
    if words.next()? != "at" {
        return None;
    }
    let at = words.next()?.trim_end_matches([',', ';']);
    let (x, y) = at.split_once(',')?;
    Some((
        (w.parse().ok()?, h.parse().ok()?),
        (x.parse().ok()?, y.parse().ok()?),
    ))
}

/// Checks the glass of one head after taps at `taps` (glass pixels of that head): every
/// pixel of `colour` within [`REACH`] of a tap, each tap's pixel of `colour`, and about a
/// dot's worth of them per tap. Returns how many there are, or what is wrong.
fn dots_only_at(img: &Image, colour: [u8; 3], taps: &[(u32, u32)]) -> Result<usize, String> {
    let mut count = 0;
    let mut stray = Vec::new();
    for y in 0..img.height() {
        for x in 0..img.width() {
            if img.pixel(x, y) != colour {
                continue;
            }
            count += 1;
            let near = taps.iter().any(|&(tx, ty)| {
                let (dx, dy) = (f64::from(x) - f64::from(tx), f64::from(y) - f64::from(ty));
                (dx * dx + dy * dy).sqrt() <= REACH
            });
            if !near && stray.len() < 10 {
                stray.push((x, y));
            }
        }
    }
    if !stray.is_empty() {
        return Err(format!(
            "{colour:?} away from the taps {taps:?} at {stray:?} ({count} such pixels)"
        ));
    }
    if let Some(t) = taps.iter().find(|&&(x, y)| img.pixel(x, y) != colour) {
        return Err(format!("not {colour:?} under the tap at {t:?}"));
    }
    // A dot of radius 12 has about 450 pixels; well under half of that is not a dot.
    if count < 200 * taps.len() || count > 2000 * taps.len() {
        return Err(format!(
            "{count} pixels of {colour:?} for {} taps",
            taps.len()
        ));
    }
    Ok(count)
}

/// The size of the PNG file `path` in the guest (its `IHDR` width and height, big-endian at
/// bytes 16..24).
fn png_size(board: &mut Board, path: &str) -> (u32, u32) {
    let out = board.ok(&format!("od -An -tu1 -j16 -N8 {}", shell_quote(path)));
    let b: Vec<u32> = out
        .split_whitespace()
        .map(|v| v.parse().expect("od prints numbers"))
        .collect();
    assert_eq!(b.len(), 8, "{path} is too short for a PNG: {out:?}");
    let be = |s: &[u32]| s.iter().fold(0, |acc, v| acc << 8 | v);
    (be(&b[..4]), be(&b[4..]))
}

#[test]
fn paint_on_each_output_lands_under_its_own_touchscreen() {
    let Some((mut board, mut touches)) = two_head_board() else {
        return;
    };
    // No [[output]] and no display.output: every connected output, side by side.
    let master = board
        .start_master(
            r##"
[display]
backend = "drm"
device = "/dev/dri/card0"
background = "#000000"

[input]
seat = "seat0"
cursor-visible = false
"##,
        )
        .unwrap_or_else(|e| panic!("{e}"));

    // The glass of each head, and the layout fusionfb status reports.
    let glass: Vec<(u32, u32)> = (0..2)
        .map(|head| {
            let img = board
                .screendump_head(head)
                .unwrap_or_else(|e| fail(&mut board, &master, e));
            (img.width(), img.height())
        })
        .collect();
    assert_eq!(glass, [FIRST_HEAD_SIZE, EXTRA_HEAD_SIZE]);
    let status = board.ok(&format!("fusionfb --world {WORLD} status"));
    let v1 = output_line(&status, OUTPUTS[0]);
    let v2 = output_line(&status, OUTPUTS[1]);
    assert_eq!(v1, Some((glass[0], (0, 0))), "Virtual-1 in:\n{status}");
    assert_eq!(
        v2,
        Some((glass[1], (i64::from(glass[0].0), 0))),
        "Virtual-2 right of Virtual-1 in:\n{status}"
    );

    // A paint window on each output, filling it.
    for output in OUTPUTS {
        board
            .start_app(&format!("fusionfb-paint --output {output}"))
            .unwrap_or_else(|e| fail(&mut board, &master, e));
    }
    let canvas = rgb(PAINT_BACKGROUND);
    for (head, &(w, h)) in (0..).zip(&glass) {
        board
            .wait_for_screen_head(head, Duration::from_secs(60), "a paint canvas", |img| {
                img.pixel(w / 2, h / 2) == canvas
            })
            .unwrap_or_else(|e| fail(&mut board, &master, e));
    }

    // A tap on each touchscreen, one at a time: the dot is under the finger on its own head,
    // and the other head keeps what it had.
    let red = rgb(PALETTE[0]);
    let mut taps: [Vec<(u32, u32)>; 2] = [Vec::new(), Vec::new()];
    for (i, touch) in touches.iter_mut().enumerate() {
        let (w, h) = glass[i];
        let tap = (w / 3, h / 2);
        let (x, y) = Touchscreen::device_xy(tap.0, tap.1, w, h);
        touch
            .frames(
                &mut board,
                &[
                    &[Contact::Down { slot: 0, x, y }],
                    &[Contact::Up { slot: 0 }],
                ],
            )
            .unwrap_or_else(|e| fail(&mut board, &master, e));
        taps[i].push(tap);
        let img = board
            .wait_for_screen_head(i as u32, Duration::from_secs(30), "the tap's dot", |img| {
                img.pixel(tap.0, tap.1) == red
            })
            .unwrap_or_else(|e| fail(&mut board, &master, e));
        board.save_artifact(&format!("tap-head{}", i + 1), &img);
        for head in 0..2 {
            let img = board
                .screendump_head(head as u32)
                .unwrap_or_else(|e| fail(&mut board, &master, e));
            let checked = if taps[head].is_empty() {
                let n = img.count(|p| p == red);
                (n == 0).then_some(0).ok_or_else(|| {
                    format!("{n} red pixels though its touchscreen was not touched yet")
                })
            } else {
                dots_only_at(&img, red, &taps[head])
            };
            let n = checked.unwrap_or_else(|e| {
                fail(
                    &mut board,
                    &master,
                    format!("head {} after tapping {}: {e}", head + 1, touch.name),
                )
            });
            eprintln!(
                "board: after tapping {}: {n} red pixels on {}",
                touch.name, OUTPUTS[head]
            );
        }
    }

    // fusionfb screenshot --output writes that output's picture.
    let world = WORLD;
    board.ok(&format!(
        "fusionfb --world {world} screenshot --output {} /tmp/v2.png",
        OUTPUTS[1]
    ));
    assert_eq!(png_size(&mut board, "/tmp/v2.png"), glass[1]);

    // FUSIONFB_OUTPUT places a window like --output: --x/--y are on Virtual-2.
    board
        .start_app(&format!(
            "env FUSIONFB_OUTPUT={} fusionfb-paint --x 100 --y 50 --width 200 --height 150",
            OUTPUTS[1]
        ))
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let windows = board
        .windows()
        .unwrap_or_else(|e| fail(&mut board, &master, e));
    let want = (
        Some(i64::from(glass[0].0) + 100),
        Some(50),
        Some(200),
        Some(150),
    );
    assert!(
        windows.iter().any(|w| (
            w["x"].as_i64(),
            w["y"].as_i64(),
            w["width"].as_i64(),
            w["height"].as_i64()
        ) == want),
        "no window at (x, y, width, height) {want:?} in the layout: {windows:?}"
    );
}

#[test]
fn status_output_lines_are_parsed() {
    let status = "display: on\noutput Virtual-1: 1280x800 at 0,0 (60 Hz); 3 frames\n  \
                  output Virtual-2: 1024x768 at 1280,0\n";
    assert_eq!(
        output_line(status, "Virtual-1"),
        Some(((1280, 800), (0, 0)))
    );
    assert_eq!(
        output_line(status, "Virtual-2"),
        Some(((1024, 768), (1280, 0)))
    );
    assert_eq!(output_line(status, "Virtual-3"), None);
    assert_eq!(
        output_line("output Virtual-1: big at 0,0", "Virtual-1"),
        None
    );
}
