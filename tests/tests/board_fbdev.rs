//! The fbdev backend on the emulated board (issue 4, item 2): `fusionfb run --backend fbdev`
//! on bochs' fbdev emulation (`/dev/fb0`, no DRM master held by anyone), with
//! `fusionfb-clock` and `fusionfb-paint` as slaves; QMP screendumps check that each shows at
//! its place in its known colours and that a killed slave's window leaves the glass.
//!
//! Two cases: the kernel's default framebuffer (virtual height = visible height: one buffer,
//! the master draws into the front) and `drm_kms_helper.drm_fbdev_overalloc=200` (a virtual
//! framebuffer twice as tall: two buffers flipped with FBIOPAN_DISPLAY). The master's log line
//! `framebuffer … buffers=N` says which mode the backend chose, and each case checks it.

use std::time::Duration;

use fusionfb_client::app::{CLOCK_BACKGROUND, PAINT_BACKGROUND};
use fusionfb_client::draw::Colour;
use fusionfb_tests::board::master::plain;
use fusionfb_tests::board::{Board, BoardSpec, Gpu, Image};

/// The paint application's Clear button fill (`fusionfb-paint`'s `BUTTON_FILL`).
const BUTTON_FILL: [u8; 3] = [70, 80, 95];
/// The master's background.
const BLACK: [u8; 3] = [0, 0, 0];

const CONFIG: &str = r##"
[display]
backend = "fbdev"
device = "/dev/fb0"
background = "#000000"

[input]
cursor-visible = false
"##;

fn rgb(c: Colour) -> [u8; 3] {
    [c.r, c.g, c.b]
}

/// A window's place on the glass.
#[derive(Debug, Clone, Copy)]
struct Place {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Place {
    fn args(&self) -> String {
        format!(
            "--x {} --y {} --width {} --height {}",
            self.x, self.y, self.w, self.h
        )
    }
}

/// Whether the clock shows at `p`: its dark background in the corners, and light text (the
/// time) somewhere inside.
fn clock_shows(img: &Image, p: Place) -> bool {
    let bg = rgb(CLOCK_BACKGROUND);
    let corners = [
        (p.x + 3, p.y + 3),
        (p.x + p.w - 4, p.y + 3),
        (p.x + 3, p.y + p.h - 4),
        (p.x + p.w - 4, p.y + p.h - 4),
    ];
    if corners.iter().any(|&(x, y)| img.pixel(x, y) != bg) {
        return false;
    }
    let mut light = 0;
    for y in p.y..p.y + p.h {
        for x in p.x..p.x + p.w {
            let [r, g, b] = img.pixel(x, y);
            if r > 200 && g > 200 && b > 200 {
                light += 1;
            }
        }
    }
    light > 100
}

/// Whether paint shows at `p`: its light canvas and the Clear button's fill left of the label.
fn paint_shows(img: &Image, p: Place) -> bool {
    let bg = rgb(PAINT_BACKGROUND);
    img.pixel(p.x + p.w - 4, p.y + p.h - 4) == bg
        && img.pixel(p.x + p.w / 2, p.y + p.h / 2) == bg
        && img.pixel(p.x + 3, p.y + p.h - 4) == bg
        && img.pixel(p.x + 14, p.y + 32) == BUTTON_FILL
}

/// Whether the rectangle `p` is all background.
fn empty(img: &Image, p: Place) -> bool {
    (p.y..p.y + p.h).all(|y| (p.x..p.x + p.w).all(|x| img.pixel(x, y) == BLACK))
}

fn clock_and_paint_on_fbdev(append: &str, buffers: u32) {
    let mut spec = BoardSpec::new(Gpu::Bochs);
    spec.append = append.to_string();
    let Some(mut board) = Board::boot_or_skip(spec) else {
        return;
    };
    // fbcon's cursor blinks into fb0 until the master puts the console in graphics mode.
    let virt = board.ok("cat /sys/class/graphics/fb0/virtual_size");
    let first = board.screendump().unwrap_or_else(|e| panic!("{e}"));
    let (w, h) = (first.width(), first.height());
    eprintln!("board: fb0 virtual size {}, glass {w}x{h}", virt.trim());

    let master = board.start_master(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    // Nobody holds DRM master: the fbdev emulation is what the master drives.
    let log = plain(&board.log(&master).unwrap());
    assert!(
        log.contains("backend: fbdev on /dev/fb0"),
        "the master did not say it runs on fbdev:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains(" framebuffer ") || l.ends_with(" framebuffer"))
        .unwrap_or_else(|| panic!("no `framebuffer` line in the master's log:\n{log}"));
    eprintln!("board: {line}");
    assert!(
        line.contains(&format!("buffers={buffers}")),
        "expected buffers={buffers} with fb0 virtual size {}: {line}",
        virt.trim()
    );

    let clock = Place {
        x: w / 20,
        y: 40,
        w: w * 2 / 5,
        h: 260,
    };
    let paint = Place {
        x: w / 2,
        y: 40,
        w: w * 2 / 5,
        h: 400,
    };
    let outside = [
        Place {
            x: 0,
            y: 0,
            w,
            h: 30,
        },
        Place {
            x: 0,
            y: 460,
            w,
            h: h - 460,
        },
    ];

    let clock_app = board
        .start_app(&format!("fusionfb-clock {}", clock.args()))
        .unwrap_or_else(|e| panic!("{e}"));
    board
        .start_app(&format!("fusionfb-paint {}", paint.args()))
        .unwrap_or_else(|e| panic!("{e}"));
    let windows = board.windows().unwrap();
    assert_eq!(windows.len(), 2, "windows: {windows:?}");

    let img = board
        .wait_for_screen(Duration::from_secs(60), "the clock and paint", |img| {
            clock_shows(img, clock) && paint_shows(img, paint)
        })
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", board.log(&master).unwrap()));
    board.save_artifact("both", &img);
    for o in outside {
        assert!(empty(&img, o), "something outside the windows in {o:?}");
    }

    // The master keeps the text console out of the framebuffer (KD_GRAPHICS): a screenful
    // of text written to tty1 does not reach the glass, nor does fbcon's blinking cursor.
    // Nothing but the clock's face may change.
    let before = board.screendump().unwrap_or_else(|e| panic!("{e}"));
    board.ok(
        "for i in $(seq 60); do echo '########################################'; done > /dev/tty1",
    );
    let in_clock = |x: u32, y: u32| {
        (clock.x..clock.x + clock.w).contains(&x) && (clock.y..clock.y + clock.h).contains(&y)
    };
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(400));
        let img = board.screendump().unwrap_or_else(|e| panic!("{e}"));
        let changed = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| !in_clock(x, y) && img.pixel(x, y) != before.pixel(x, y))
            .count();
        if changed > 0 {
            board.save_artifact("console-drew", &img);
            panic!("the text console drew over the display: {changed} pixels changed");
        }
    }

    // A VT switch: the console gets the framebuffer (text written to tty2 shows), the
    // clients keep running, and switching back shows them again.
    board.chvt(2).unwrap_or_else(|e| panic!("{e}"));
    board.ok("printf '\\n########################################\\n' > /dev/tty2");
    let light = |img: &Image| img.count(|p| p[0] > 0x80 && p[1] > 0x80 && p[2] > 0x80);
    let img = board
        .wait_for_screen(Duration::from_secs(60), "tty2's text console", |img| {
            !paint_shows(img, paint) && !clock_shows(img, clock) && light(img) > 100
        })
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", board.log(&master).unwrap()));
    board.save_artifact("switched-away", &img);
    board.chvt(1).unwrap_or_else(|e| panic!("{e}"));
    let img = board
        .wait_for_screen(Duration::from_secs(60), "the clock and paint back", |img| {
            clock_shows(img, clock)
                && paint_shows(img, paint)
                && outside.iter().all(|&o| empty(img, o))
        })
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", board.log(&master).unwrap()));
    board.save_artifact("switched-back", &img);
    let log = plain(&board.log(&master).unwrap());
    assert!(
        log.contains("VT switched away") && log.contains("VT back"),
        "the master's log says nothing of the switch:\n{log}"
    );
    assert_eq!(board.windows().unwrap().len(), 2, "a window was lost");

    // A slave killed outright: its window leaves the glass, the other stays.
    board
        .stop(&clock_app, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let img = board
        .wait_for_screen(
            Duration::from_secs(60),
            "the clock gone, paint still there",
            |img| empty(img, clock) && paint_shows(img, paint),
        )
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", board.log(&master).unwrap()));
    board.save_artifact("clock-killed", &img);
    let windows = board.windows().unwrap();
    assert_eq!(windows.len(), 1, "windows after the kill: {windows:?}");
    assert!(board.running(&master).unwrap(), "the master ended");
}

#[test]
fn fbdev_single_buffer_shows_clock_and_paint_and_drops_a_killed_slave() {
    clock_and_paint_on_fbdev("", 1);
}

#[test]
fn fbdev_panning_shows_clock_and_paint_and_drops_a_killed_slave() {
    clock_and_paint_on_fbdev("drm_kms_helper.drm_fbdev_overalloc=200", 2);
}
