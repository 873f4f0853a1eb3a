//! fusionfb's DRM backend on the emulated board (issue 4, item 5): the master runs
//! `fusionfb run --backend drm` on a real kernel's KMS driver and the glass (QMP screendump,
//! what the display controller scans out) shows what it should.
//!
//! - bochs: `fusionfb-paint` and `fusionfb-clock` as slaves, composed into dumb buffers; a
//!   killed slave's window leaves the glass while the other stays; an exclusive layer is
//!   refused with a clear error (bochs cannot export dumb buffers as dma-bufs); the master
//!   killed with SIGKILL is replaced on the card by `fusionfb run`'s supervisor and the glass
//!   comes back (a dot painted before, the gallery's picture pixel for pixel, the clock
//!   ticking), the apps still running.
//! - virtio-gpu: `fusionfb-layer-client` takes the primary layer exclusively and paints into
//!   the card's dumb buffer through its PRIME dma-buf mapping (zero copies); its pattern is on
//!   the glass; the master killed with SIGKILL is replaced and the client hands the layer's
//!   buffers back to the new one, whose glass shows the pattern again; when the client is
//!   killed the master composes the windows again.
//!
//! - the cursor: hidden until a uinput mouse is plugged in; on virtio-gpu on the cursor
//!   plane, moving the mouse composing 0 bytes and `fusionfb status` naming the hardware
//!   cursor; on bochs (no cursor plane) composed, bytes per motion, the arrow on the glass.
//!
//! Two boots for the displays, two for the cursor (20–60 s each on TCG). Figures (bytes composed per frame, frame counts)
//! are printed on stderr, not asserted.

use std::io::Write;
use std::time::Duration;

use fusionfb_client::app::{CLOCK_BACKGROUND, PAINT_BACKGROUND};
use fusionfb_tests::board::master::{plain, WORLD};
use fusionfb_tests::board::{Background, Board, BoardSpec, Gpu, Image};
use fusionfb_tests::layer_holder;
use serde_json::Value;

/// The master's background in the test's config (the shipped profile's black would be
/// indistinguishable from a dark screen).
const BACKGROUND: [u8; 3] = [0x30, 0x50, 0x70];
/// `fusionfb-layer-client`'s quadrants, top-left clockwise (its `QUADRANTS` as RGB).
const QUADRANTS: [[u8; 3]; 4] = [
    [0xd0, 0x20, 0x30],
    [0x20, 0xc0, 0x40],
    [0xe0, 0xc0, 0x20],
    [0x20, 0x40, 0xd0],
];
/// Where the apps go: `(x, y, width, height)`.
const PAINT: (u32, u32, u32, u32) = (40, 40, 520, 400);
const CLOCK: (u32, u32, u32, u32) = (640, 60, 560, 300);
/// Where the gallery goes in the master-restart part.
const GALLERY: (u32, u32, u32, u32) = (640, 420, 400, 240);
/// A point no window covers.
const OUTSIDE: (u32, u32) = (900, 700);

const SLOW: Duration = Duration::from_secs(60);

fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn rgb(c: fusionfb_client::draw::Colour) -> [u8; 3] {
    let argb = c.to_argb();
    [(argb >> 16) as u8, (argb >> 8) as u8, argb as u8]
}

/// The shipped bochs profile (`configs/qemu-bochs.toml`) with a visible background, and its
/// primary layer open to exclusive use (the profile keeps it shared). The world is the
/// harness's [`WORLD`], given on the master's command line.
fn config() -> String {
    let [r, g, b] = BACKGROUND;
    let shipped = include_str!("../../configs/qemu-bochs.toml");
    let cfg = shipped
        .replace(
            "background = \"#000000\"",
            &format!("background = \"#{r:02x}{g:02x}{b:02x}\""),
        )
        .replace(
            "kind = \"primary\"\n",
            "kind = \"primary\"\nallow-exclusive = true\n",
        );
    assert!(
        cfg.contains("allow-exclusive = true") && !cfg.contains("#000000"),
        "configs/qemu-bochs.toml changed shape; update this test's edits"
    );
    cfg
}

/// Starts the master on DRM with [`config`] and waits until it answers.
fn start_master(board: &mut Board) -> Background {
    board
        .start_master(&config())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The master's `DRM device open` line says `atomic=true` or `atomic=false`.
fn atomic(board: &mut Board, server: &Background) -> bool {
    let log = plain(&master_log(board, server));
    let line = log
        .lines()
        .find(|l| l.contains("DRM device open"))
        .unwrap_or_else(|| panic!("no `DRM device open` line in the master's log:\n{log}"));
    assert!(
        line.contains("atomic=true") || line.contains("atomic=false"),
        "{line}"
    );
    line.contains("atomic=true")
}

fn master_log(board: &mut Board, server: &Background) -> String {
    board
        .log(server)
        .unwrap_or_else(|e| format!("(no log: {e})"))
}

fn status(board: &mut Board) -> Value {
    let out = board.ok(&format!("fusionfb --world {WORLD} status --json"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}\n{out}"))
}

/// `fusionfb status --json` once a master answers (`None` while none does: one is being
/// restarted).
fn status_when_up(board: &mut Board) -> Result<Option<Value>, fusionfb_tests::board::BoardError> {
    let out = board.run(&format!("fusionfb --world {WORLD} status --json"))?;
    Ok(serde_json::from_str(&out.stdout).ok())
}

fn windows(status: &Value) -> Vec<Value> {
    status["display"]["windows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The window of geometry `g` in `status`.
fn has_window(status: &Value, g: (u32, u32, u32, u32)) -> bool {
    windows(status).iter().any(|w| {
        (
            w["x"].as_i64(),
            w["y"].as_i64(),
            w["width"].as_u64(),
            w["height"].as_u64(),
        ) == (
            Some(i64::from(g.0)),
            Some(i64::from(g.1)),
            Some(u64::from(g.2)),
            Some(u64::from(g.3)),
        )
    })
}

/// Prints every `bytes_composed*` figure `fusionfb status --json` has (the counters may not
/// be exposed there yet: then it says so).
fn report_composed(status: &Value, what: &str) {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = format!("{path}.{k}");
                    if k.contains("bytes_composed") {
                        out.push(format!("{p} = {v}"));
                    } else {
                        walk(v, &p, out);
                    }
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{path}[{i}]"), out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(status, "", &mut found);
    if found.is_empty() {
        report(&format!(
            "board-drm figures ({what}): fusionfb status does not expose bytes_composed yet"
        ));
    }
    for f in found {
        report(&format!("board-drm figures ({what}): {f}"));
    }
}

/// Surfaces' flip and presented counts, for the closing figures.
fn report_frames(status: &Value, what: &str) {
    for s in status["display"]["surfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        report(&format!(
            "board-drm figures ({what}): surface {} {}x{} flips {} presented {}",
            s["id"], s["width"], s["height"], s["flips"], s["presented"]
        ));
    }
}

fn inside(g: (u32, u32, u32, u32), dx: u32, dy: u32) -> (u32, u32) {
    (g.0 + dx, g.1 + dy)
}

/// The paint canvas (away from its Clear button), the clock's face corner and the master's
/// background where no window is.
fn paint_shown(img: &Image) -> bool {
    let (x, y) = inside(PAINT, PAINT.2 - 30, PAINT.3 - 30);
    img.pixel(x, y) == rgb(PAINT_BACKGROUND)
        && img.pixel(PAINT.0 + PAINT.2 / 2, PAINT.1 + PAINT.3 / 2) == rgb(PAINT_BACKGROUND)
}

fn clock_shown(img: &Image) -> bool {
    let (x, y) = inside(CLOCK, 4, 4);
    let (x2, y2) = inside(CLOCK, CLOCK.2 - 5, CLOCK.3 - 5);
    img.pixel(x, y) == rgb(CLOCK_BACKGROUND) && img.pixel(x2, y2) == rgb(CLOCK_BACKGROUND)
}

fn background_shown(img: &Image) -> bool {
    img.pixel(OUTSIDE.0, OUTSIDE.1) == BACKGROUND && img.pixel(5, 5) == BACKGROUND
}

fn describe(img: &Image) -> String {
    format!(
        "{}x{}: paint {:?} clock {:?} outside {:?}",
        img.width(),
        img.height(),
        img.pixel(PAINT.0 + PAINT.2 / 2, PAINT.1 + PAINT.3 / 2),
        img.pixel(CLOCK.0 + 4, CLOCK.1 + 4),
        img.pixel(OUTSIDE.0, OUTSIDE.1)
    )
}

fn spawn_app(board: &mut Board, app: &str, g: (u32, u32, u32, u32)) -> Background {
    board
        .spawn(&format!(
            "FUSIONFB_WORLD={WORLD} exec {app} --x {} --y {} --width {} --height {}",
            g.0, g.1, g.2, g.3
        ))
        .unwrap()
}

/// Waits until the master lists both windows and the glass shows them, or panics with the
/// logs.
fn wait_for_apps(board: &mut Board, server: &Background, apps: &[&Background]) -> Image {
    let listed = board.wait_until(SLOW, "both windows in fusionfb status", |b| {
        let s = status(b);
        Ok((has_window(&s, PAINT) && has_window(&s, CLOCK)).then_some(()))
    });
    if let Err(e) = listed {
        let mut logs = master_log(board, server);
        for a in apps {
            logs += &format!("\n{}:\n{}", a.cmd, board.log(a).unwrap_or_default());
        }
        panic!("{e}\n{logs}");
    }
    let shown = board.wait_for_screen(SLOW, "paint, clock and the background", |img| {
        paint_shown(img) && clock_shown(img) && background_shown(img)
    });
    match shown {
        Ok(img) => img,
        Err(e) => {
            let img = board.screendump().unwrap();
            let log = master_log(board, server);
            panic!(
                "{e}\nlast screen {}\nthe master's log:\n{log}",
                describe(&img)
            );
        }
    }
}

/// Kills `pid` (which must be `name`) with SIGKILL.
fn kill9(board: &mut Board, bg: &Background, name: &str) {
    let comm = board.ok(&format!("cat /proc/{}/comm", bg.pid));
    assert_eq!(comm.trim(), name, "pid {} of `{}`", bg.pid, bg.cmd);
    board.ok(&format!("kill -9 {}", bg.pid));
}

#[test]
fn drm_on_bochs_shows_paint_and_clock_and_drops_a_killed_slave() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };
    board.ok("echo 0 > /sys/class/graphics/fbcon/cursor_blink || true");
    let server = start_master(&mut board);
    let log = plain(&master_log(&mut board, &server));
    assert!(
        log.contains("backend: drm"),
        "the master did not say it runs on drm:\n{log}"
    );
    assert!(atomic(&mut board, &server), "bochs is an atomic driver");

    // Only the background before any slave.
    let img = board
        .wait_for_screen(SLOW, "the master's background", |img| {
            background_shown(img) && img.pixel(PAINT.0 + 10, PAINT.1 + 10) == BACKGROUND
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    assert_eq!(
        (img.width(), img.height()),
        (1280, 800),
        "bochs' preferred mode"
    );
    let total = (img.width() * img.height()) as usize;
    assert!(
        img.count(|p| p == BACKGROUND) * 100 >= total * 99,
        "the glass is not the background colour: {}",
        describe(&img)
    );

    let paint = spawn_app(&mut board, "fusionfb-paint", PAINT);
    let clock = spawn_app(&mut board, "fusionfb-clock", CLOCK);
    let img = wait_for_apps(&mut board, &server, &[&paint, &clock]);
    board.save_artifact("paint-and-clock", &img);
    // The clock's digits are light on its dark face.
    let light = |p: [u8; 3]| p[0] > 0xc0 && p[1] > 0xc0 && p[2] > 0xc0;
    let mut digits = 0;
    for y in CLOCK.1..CLOCK.1 + CLOCK.3 {
        for x in CLOCK.0..CLOCK.0 + CLOCK.2 {
            digits += usize::from(light(img.pixel(x, y)));
        }
    }
    assert!(
        digits > 500,
        "no clock digits on the glass ({digits} light pixels)"
    );
    let s = status(&mut board);
    report_composed(&s, "bochs, paint + clock windowed");
    report_frames(&s, "bochs, paint + clock windowed");

    // An exclusive layer needs a PRIME export, which bochs does not have: a clear error, and
    // the master goes on composing.
    let excl = board
        .run_timeout(
            &format!("FUSIONFB_WORLD={WORLD} fusionfb-layer-client --layer 0"),
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(
        !excl.success(),
        "acquiring a layer on bochs succeeded: {excl}"
    );
    assert!(
        excl.stdout.contains("ERROR acquiring layer 0")
            && excl
                .stdout
                .contains("cannot export a dumb buffer as dma-buf (PRIME)"),
        "the exclusive layer's error on bochs: {excl}"
    );
    report(&format!(
        "board-drm: bochs exclusive layer: {}",
        excl.stdout.trim()
    ));

    // Kill the paint slave: its area shows the background, the clock stays, and the master
    // still composes (the clock's seconds keep changing the glass).
    kill9(&mut board, &paint, "fusionfb-paint");
    board
        .wait_until(SLOW, "the paint window gone from fusionfb status", |b| {
            let s = status(b);
            Ok((!has_window(&s, PAINT) && has_window(&s, CLOCK)).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    let img = board
        .wait_for_screen(SLOW, "the paint window gone from the glass", |img| {
            img.pixel(PAINT.0 + PAINT.2 / 2, PAINT.1 + PAINT.3 / 2) == BACKGROUND
                && img.pixel(PAINT.0 + PAINT.2 - 30, PAINT.1 + PAINT.3 - 30) == BACKGROUND
                && clock_shown(img)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board.save_artifact("paint-killed", &img);
    let paint_area = |img: &Image| {
        let mut n = 0;
        for y in PAINT.1..PAINT.1 + PAINT.3 {
            for x in PAINT.0..PAINT.0 + PAINT.2 {
                n += usize::from(img.pixel(x, y) == BACKGROUND);
            }
        }
        n
    };
    assert_eq!(
        paint_area(&img),
        (PAINT.2 * PAINT.3) as usize,
        "pixels of the dead paint window are left on the glass"
    );
    let clock_face = |img: &Image| {
        let mut face = Vec::new();
        for y in CLOCK.1..CLOCK.1 + CLOCK.3 {
            for x in CLOCK.0..CLOCK.0 + CLOCK.2 {
                face.push(img.pixel(x, y));
            }
        }
        face
    };
    let before = clock_face(&img);
    board
        .wait_for_screen(Duration::from_secs(10), "the clock ticking", |img| {
            clock_shown(img) && clock_face(img) != before
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    assert!(board.running(&clock).unwrap(), "the clock ended");
    assert!(board.running(&server).unwrap(), "the master ended");

    // The master dies (SIGKILL): `fusionfb run`'s supervisor starts another on the card, the
    // apps rejoin it, and the glass comes back: the dot painted before, the gallery's
    // picture pixel for pixel, the clock ticking.
    let paint = spawn_app(&mut board, "fusionfb-paint", PAINT);
    let gallery = spawn_app(&mut board, "fusionfb-gallery", GALLERY);
    wait_for_apps(&mut board, &server, &[&paint, &clock, &gallery]);
    board
        .wait_until(SLOW, "the gallery's window in fusionfb status", |b| {
            Ok(has_window(&status(b), GALLERY).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    let gallery_area = |img: &Image| {
        let (x, y, w, h) = GALLERY;
        (y..y + h)
            .flat_map(|py| (x..x + w).map(move |px| (px, py)))
            .map(|(px, py)| img.pixel(px, py))
            .collect::<Vec<_>>()
    };
    let gallery_shown = |img: &Image| {
        let area = gallery_area(img);
        area.iter().filter(|&&p| p != BACKGROUND).count() * 2 > area.len()
    };
    let tap = (PAINT.0 + 120, PAINT.1 + 150);
    board.ok(&format!(
        "fusionfb --world {WORLD} input tap {} {}",
        tap.0, tap.1
    ));
    let dot = |img: &Image| {
        let p = img.pixel(tap.0, tap.1);
        p != rgb(PAINT_BACKGROUND) && p != BACKGROUND
    };
    let shown = board
        .wait_for_screen(SLOW, "the dot and the gallery", |img| {
            dot(img) && paint_shown(img) && gallery_shown(img)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    let pictures = gallery_area(&shown);
    let old = status(&mut board)["display"]["health"]["pid"]
        .as_u64()
        .expect("the master's pid");
    board.ok(&format!("kill -9 {old}"));
    board
        .wait_until(SLOW, "a new master with both windows", |b| {
            let Some(s) = status_when_up(b)? else {
                return Ok(None);
            };
            let back = s["display"]["health"]["restarts"] == 1
                && has_window(&s, PAINT)
                && has_window(&s, CLOCK)
                && has_window(&s, GALLERY);
            Ok(back.then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    let img = board
        .wait_for_screen(SLOW, "the glass back after the master's death", |img| {
            dot(img)
                && paint_shown(img)
                && clock_shown(img)
                && background_shown(img)
                && gallery_area(img) == pictures
        })
        .unwrap_or_else(|e| {
            let img = board.screendump().unwrap();
            board.save_artifact("master-restart-missing", &img);
            panic!(
                "{e}\nlast screen {}\n{}",
                describe(&img),
                master_log(&mut board, &server)
            )
        });
    board.save_artifact("master-restarted", &img);
    let before = clock_face(&img);
    board
        .wait_for_screen(Duration::from_secs(10), "the clock ticking again", |img| {
            clock_shown(img) && clock_face(img) != before
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    for (bg, what) in [
        (&paint, "paint"),
        (&clock, "the clock"),
        (&gallery, "the gallery"),
        (&server, "fusionfb run"),
    ] {
        assert!(board.running(bg).unwrap(), "{what} ended with the master");
    }
    let log = plain(&master_log(&mut board, &server));
    assert!(log.contains("is up after"), "{log}");
    report(&format!(
        "board-drm: bochs master restart: {}",
        log.lines()
            .find(|l| l.contains("is up after"))
            .unwrap_or_default()
    ));
}

#[test]
fn drm_on_virtio_gpu_shows_an_exclusive_layer_zero_copy() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::VirtioGpu)) else {
        return;
    };
    let server = start_master(&mut board);

    // A windowed client first, for the figures and to see the windows come back.
    let paint = spawn_app(&mut board, "fusionfb-paint", PAINT);
    let clock = spawn_app(&mut board, "fusionfb-clock", CLOCK);
    wait_for_apps(&mut board, &server, &[&paint, &clock]);
    report_composed(&status(&mut board), "virtio-gpu, paint + clock windowed");

    // Damage: the master composes only what changed into the back buffer of two and hands
    // the driver those rectangles (FB_DAMAGE_CLIPS where the plane has the property;
    // virtio-gpu uploads each new buffer to the host). Each tap draws a dot that reaches
    // the glass, and the earlier dots stay: what is passed is what changed in *this* buffer
    // since it was last shown, not only the last frame's change.
    let taps = [(150, 200), (300, 260), (450, 320)];
    for (i, &(x, y)) in taps.iter().enumerate() {
        board.ok(&format!("fusionfb --world {WORLD} input tap {x} {y}"));
        let shown = &taps[..=i];
        let dots = |img: &Image| {
            shown.iter().all(|&(x, y)| {
                img.pixel(x, y) != rgb(PAINT_BACKGROUND) && img.pixel(x, y) != BACKGROUND
            })
        };
        let img = board
            .wait_for_screen(SLOW, &format!("{} dots on the glass", i + 1), |img| {
                dots(img) && paint_shown(img) && clock_shown(img)
            })
            .unwrap_or_else(|e| {
                let img = board.screendump().unwrap();
                board.save_artifact("dots-missing", &img);
                panic!("{e}\n{}", master_log(&mut board, &server))
            });
        if i + 1 == taps.len() {
            board.save_artifact("dots", &img);
        }
    }
    // Nothing else on the canvas changed: a point between the dots is still the canvas.
    let img = board.screendump().unwrap();
    assert_eq!(
        img.pixel(225, 330),
        rgb(PAINT_BACKGROUND),
        "paint outside the dots"
    );

    // The exclusive layer: the client's own dma-buf mapping goes to the glass.
    let layer = board
        .spawn(&format!(
            "FUSIONFB_WORLD={WORLD} exec fusionfb-layer-client --layer 0 --frames 3"
        ))
        .unwrap();
    let said = board
        .wait_for(
            &format!(
                "grep -q 'fusionfb-layer-client: \\(shown\\|ERROR\\)' {}",
                layer.log
            ),
            SLOW,
        )
        .map(|_| board.log(&layer).unwrap());
    let said = said.unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    assert!(
        said.contains("shown 1280x800 dma-buf=true flips=3"),
        "the layer client: {said}\nthe master's log:\n{}",
        master_log(&mut board, &server)
    );
    let quads = |img: &Image| {
        let (w, h) = (img.width(), img.height());
        [
            img.pixel(w / 4, h / 4),
            img.pixel(3 * w / 4, h / 4),
            img.pixel(3 * w / 4, 3 * h / 4),
            img.pixel(w / 4, 3 * h / 4),
        ]
    };
    // Waits for the glass to show the quadrants (`whole`: and nothing else), or panics
    // with what it shows and the master's log.
    let wait_for_quadrants = |board: &mut Board, what: &str, whole: bool| {
        board
            .wait_for_screen(SLOW, what, |img| {
                quads(img) == QUADRANTS
                    && (!whole
                        || img.count(|p| QUADRANTS.contains(&p))
                            == (img.width() * img.height()) as usize)
            })
            .unwrap_or_else(|e| {
                let img = board.screendump().unwrap();
                panic!(
                    "{e}\nquadrants {:?}\n{}",
                    quads(&img),
                    master_log(board, &server)
                )
            })
    };
    let img = wait_for_quadrants(&mut board, "the exclusive layer's quadrants", false);
    board.save_artifact("exclusive-layer", &img);
    let total = (img.width() * img.height()) as usize;
    let pattern = img.count(|p| QUADRANTS.contains(&p));
    assert_eq!(pattern, total, "pixels outside the pattern on the glass");
    let s = status(&mut board);
    assert!(
        layer_holder(&s["display"], 0).is_some(),
        "layer 0 is not held exclusively: {}",
        s["display"]["layers"]
    );
    report_composed(&s, "virtio-gpu, exclusive layer");
    // Zero copies: the frames since the client's flips composed nothing.
    assert_eq!(
        s["display"]["frames"]["bytes_composed_last"].as_u64(),
        Some(0),
        "the master composed pixels while the layer was held exclusively: {}",
        s["display"]["frames"]
    );
    report_frames(&s, "virtio-gpu, exclusive layer");

    // The master dies while the layer is held: the supervisor starts another, the layer
    // client rejoins it and hands back its scan-out buffers (the card imports its own
    // dma-bufs again), and the quadrants are on the glass again without being redrawn.
    let old = s["display"]["health"]["pid"]
        .as_u64()
        .expect("the master's pid");
    board.ok(&format!("kill -9 {old}"));
    board
        .wait_until(SLOW, "a new master holding layer 0 again", |b| {
            let Some(s) = status_when_up(b)? else {
                return Ok(None);
            };
            let held = layer_holder(&s["display"], 0).is_some();
            Ok((s["display"]["health"]["restarts"] == 1 && held).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    let img = wait_for_quadrants(
        &mut board,
        "the quadrants back after the master's death",
        true,
    );
    board.save_artifact("exclusive-layer-restarted", &img);
    let said = board.log(&layer).unwrap();
    assert!(
        said.contains("fusionfb-layer-client: rejoined lost=0"),
        "the layer client: {said}"
    );
    let s = status(&mut board);
    report(&format!(
        "board-drm: virtio-gpu exclusive layer after the master's restart: {}",
        if s["display"]["frames"]["bytes_composed_last"].as_u64() == Some(0) {
            "scanned out again (0 bytes composed)"
        } else {
            "composed (the card did not import the buffers again)"
        }
    ));

    // The layer's holder dies: the master takes the plane back and composes the windows.
    kill9(&mut board, &layer, "fusionfb-layer-");
    let img = board
        .wait_for_screen(
            SLOW,
            "the windows back after the layer's holder died",
            |img| paint_shown(img) && clock_shown(img) && background_shown(img),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board.save_artifact("layer-released", &img);
    assert!(board.running(&server).unwrap(), "the master ended");
}

/// The legacy (non-atomic) KMS path, forced with smithay's `SMITHAY_USE_LEGACY=1`, as on
/// drivers without atomic support: the mode is set, frames flip, windows show and a killed
/// slave leaves the glass.
#[test]
fn drm_legacy_on_bochs_shows_paint_and_clock() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };
    board.ok("echo 0 > /sys/class/graphics/fbcon/cursor_blink || true");
    let server = board
        .start_master_with(&config(), "SMITHAY_USE_LEGACY=1")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !atomic(&mut board, &server),
        "SMITHAY_USE_LEGACY=1 did not give the legacy path"
    );
    let paint = spawn_app(&mut board, "fusionfb-paint", PAINT);
    let clock = spawn_app(&mut board, "fusionfb-clock", CLOCK);
    let img = wait_for_apps(&mut board, &server, &[&paint, &clock]);
    board.save_artifact("legacy-paint-and-clock", &img);
    let s = status(&mut board);
    report_frames(&s, "bochs legacy, paint + clock windowed");
    let presented = s["display"]["frames"]["presented"].as_u64().unwrap_or(0);

    kill9(&mut board, &paint, "fusionfb-paint");
    board
        .wait_for_screen(
            SLOW,
            "the paint window gone from the glass (legacy)",
            |img| {
                img.pixel(PAINT.0 + PAINT.2 / 2, PAINT.1 + PAINT.3 / 2) == BACKGROUND
                    && clock_shown(img)
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    // Page flips complete (vblank events on the legacy path too): the clock's frames go on.
    board
        .wait_until(SLOW, "more frames presented", |b| {
            let now = status(b)["display"]["frames"]["presented"]
                .as_u64()
                .unwrap_or(0);
            Ok((now > presented).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    assert!(board.running(&server).unwrap(), "the master ended");
}

/// A VT switch away and back on DRM opened directly (no seat manager): the master takes
/// tty1 itself (graphics mode, console keyboard off, `VT_PROCESS`), pauses when the console
/// is switched to tty2 (the text console is on the glass; the clients keep running, their
/// frames complete on a timer) and shows the same clients again when switched back. Then
/// the display is unplugged and plugged back (connector hot-plug) with the same outcome.
#[test]
fn drm_vt_switch_and_replug_keep_every_client() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };
    let server = start_master(&mut board);
    let log = plain(&master_log(&mut board, &server));
    assert!(
        log.contains("console: tty1 in graphics mode"),
        "the master did not take the console:\n{log}"
    );
    // KDGETMODE on tty1: KD_GRAPHICS (1).
    let mode = board.ok(
        "perl -e 'open(my $t, \"+<\", \"/dev/tty1\") or die; my $m = pack(\"i\", 0); \
         ioctl($t, 0x4B3B, $m) or die \"KDGETMODE: $!\"; print unpack(\"i\", $m)'",
    );
    assert_eq!(mode.trim(), "1", "tty1 is not in graphics mode");
    let paint = spawn_app(&mut board, "fusionfb-paint", PAINT);
    let clock = spawn_app(&mut board, "fusionfb-clock", CLOCK);
    wait_for_apps(&mut board, &server, &[&paint, &clock]);

    board.chvt(2).unwrap_or_else(|e| panic!("{e}"));
    board
        .wait_until(SLOW, "the master to log the pause", |b| {
            Ok(plain(&b.log(&server)?)
                .contains("session paused")
                .then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    // The text console draws again: a line written to tty2 shows.
    board.ok("printf '\\n################################################\\n' > /dev/tty2");
    let text = |img: &Image| img.count(|p| p[0] > 0x80 && p[1] > 0x80 && p[2] > 0x80);
    let img = board
        .wait_for_screen(SLOW, "the text console on the glass", |img| {
            !background_shown(img) && !paint_shown(img) && !clock_shown(img) && text(img) > 100
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board.save_artifact("switched-away", &img);
    // Away, the clients are still there and the clock's frames still complete.
    let s = status(&mut board);
    assert!(
        has_window(&s, PAINT) && has_window(&s, CLOCK),
        "a window was lost"
    );
    let presented = s["display"]["frames"]["presented"].as_u64().unwrap_or(0);
    board
        .wait_until(SLOW, "frames presented while away", |b| {
            let now = status(b)["display"]["frames"]["presented"]
                .as_u64()
                .unwrap_or(0);
            Ok((now > presented).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));

    board.chvt(1).unwrap_or_else(|e| panic!("{e}"));
    let img = board
        .wait_for_screen(SLOW, "paint and clock back on the glass", |img| {
            paint_shown(img) && clock_shown(img) && background_shown(img)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board.save_artifact("switched-back", &img);
    let log = plain(&master_log(&mut board, &server));
    assert!(log.contains("session resumed"), "{log}");
    for (bg, name) in [(&paint, "paint"), (&clock, "clock")] {
        assert!(board.running(bg).unwrap(), "{name} ended across the switch");
    }

    // Hot-plug: the kernel's connector is forced off and on again through sysfs, each time
    // followed by the card's `change` uevent a real cable's hot-plug interrupt makes (forcing
    // the status re-probes the connector but sends no uevent of its own). Unplugged, the
    // master keeps its clients and their frames go on; plugged back, the glass shows them
    // again.
    let status_file = "/sys/class/drm/card0-Virtual-1/status";
    let presented = status(&mut board)["display"]["frames"]["presented"]
        .as_u64()
        .unwrap_or(0);
    board.ok(&format!(
        "echo off > {status_file} && echo change > /sys/class/drm/card0/uevent"
    ));
    board
        .wait_until(SLOW, "the master to see the display unplugged", |b| {
            Ok(plain(&b.log(&server)?)
                .contains("display unplugged")
                .then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board
        .wait_until(SLOW, "frames presented while unplugged", |b| {
            let now = status(b)["display"]["frames"]["presented"]
                .as_u64()
                .unwrap_or(0);
            Ok((now > presented + 2).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board.ok(&format!(
        "echo on > {status_file} && echo change > /sys/class/drm/card0/uevent"
    ));
    board
        .wait_until(SLOW, "the master to see the display back", |b| {
            Ok(plain(&b.log(&server)?)
                .contains("display back")
                .then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    let img = board
        .wait_for_screen(SLOW, "paint and clock back after the replug", |img| {
            paint_shown(img) && clock_shown(img) && background_shown(img)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(&mut board, &server)));
    board.save_artifact("replugged", &img);
    let s = status(&mut board);
    assert!(
        has_window(&s, PAINT) && has_window(&s, CLOCK),
        "a window was lost"
    );
    for (bg, name) in [(&paint, "paint"), (&clock, "clock")] {
        assert!(board.running(bg).unwrap(), "{name} ended across the replug");
    }
    assert!(board.running(&server).unwrap(), "the master ended");
}

/// [`config`] without its `cursor-visible = false`: the cursor shows while a pointing
/// device is present (the default rule).
fn cursor_config() -> String {
    let cfg = config().replace("cursor-visible = false\n", "");
    assert!(
        !cfg.contains("cursor-visible"),
        "configs/qemu-bochs.toml changed shape; update this test's edits"
    );
    cfg
}

/// The cursor's part of `fusionfb status --json`, and the frames' composed bytes in all.
fn cursor_status(board: &mut Board) -> (Value, u64) {
    let s = status(board);
    let total = s["display"]["frames"]["bytes_composed_total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no bytes_composed_total: {s}"));
    (s["display"]["cursor"].clone(), total)
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Whether the screendump shows the arrow's tip at `(x, y)`: white one pixel right of its
/// black left edge, the background beside it.
fn arrow_at(img: &Image, (x, y): (u32, u32)) -> bool {
    img.pixel(x + 1, y + 5) == [0xff; 3]
        && img.pixel(x, y + 5) == [0; 3]
        && img.pixel(x + 5, y + 1) == BACKGROUND
}

/// The cursor on a board: hidden until a mouse is plugged in (a uinput mouse made with
/// evemu), then on the cursor plane (virtio-gpu) or composed (bochs). Moves the mouse
/// `MOTIONS` times and returns the cursor's status after, with the bytes composed in all
/// during the motions; the pointer is then put at `AT` by injection.
fn cursor_on(board: &mut Board, server: &Background) -> (Value, u64) {
    let (c, _) = cursor_status(board);
    assert_eq!(c["visible"], false, "no pointing device, no cursor: {c}");
    let mouse = board.add_mouse("fusionfb-mouse").unwrap();
    let c = board
        .wait_until(SLOW, "the cursor to show for the mouse", |b| {
            let (c, _) = cursor_status(b);
            Ok((c["visible"] == true).then_some(c))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(board, server)));
    report(&format!("board-drm figures (cursor shown): {c}"));
    // Let the frame that shows it go by, then count from here.
    std::thread::sleep(Duration::from_millis(500));
    let (before, total_before) = cursor_status(board);
    mouse.moves(board, 7, 5, MOTIONS).unwrap();
    let (after, _) = board
        .wait_until(SLOW, "the master to count the mouse's motions", |b| {
            let (c, t) = cursor_status(b);
            Ok(
                (count(&c, "motions") >= count(&before, "motions") + u64::from(MOTIONS))
                    .then_some((c, t)),
            )
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", master_log(board, server)));
    // Let the last motion's frame finish.
    std::thread::sleep(Duration::from_millis(500));
    let (after_settled, total_settled) = cursor_status(board);
    assert_eq!(count(&after, "motions"), count(&after_settled, "motions"));
    let motions = count(&after_settled, "motions") - count(&before, "motions");
    let composed = total_settled - total_before;
    let cursor_bytes = count(&after_settled, "composed_bytes") - count(&before, "composed_bytes");
    report(&format!(
        "board-drm figures (cursor): {motions} motions, {composed} B composed in all, \
         {cursor_bytes} B for the cursor ({} B per motion), plane commits {} -> {}",
        cursor_bytes / motions.max(1),
        before["plane_commits"],
        after_settled["plane_commits"]
    ));
    board.ok(&format!(
        "fusionfb --world {WORLD} input pointer {} {}",
        AT.0, AT.1
    ));
    std::thread::sleep(Duration::from_millis(500));
    (after_settled, composed)
}

/// Mouse moves in the cursor tests.
const MOTIONS: u32 = 20;
/// Where the cursor tests put the pointer last.
const AT: (u32, u32) = (500, 400);

/// virtio-gpu has a cursor plane: the arrow goes there, and moving the mouse composes
/// nothing (0 bytes) — the master only moves the plane. QEMU's screendump shows the guest's
/// primary surface; whether it includes the virtio cursor is reported, not asserted.
#[test]
fn drm_cursor_plane_on_virtio_gpu_composes_nothing_per_motion() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::VirtioGpu)) else {
        return;
    };
    let server = board
        .start_master(&cursor_config())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(atomic(&mut board, &server), "virtio-gpu is atomic");
    let (c, composed) = cursor_on(&mut board, &server);
    assert_eq!(c["hardware"], true, "the hardware cursor: {c}");
    assert_eq!(c["plane_size"], serde_json::json!([64, 64]), "{c}");
    assert_eq!(composed, 0, "moving the mouse composed bytes: {c}");
    assert_eq!(c["composed_bytes"], 0, "{c}");
    assert!(count(&c, "plane_commits") > 0, "{c}");
    let text = board.ok(&format!("fusionfb --world {WORLD} status"));
    let line = text
        .lines()
        .find(|l| l.starts_with("cursor:"))
        .unwrap_or_else(|| panic!("no cursor line: {text}"));
    report(&format!("board-drm figures (virtio-gpu status): {line}"));
    assert!(
        line.starts_with("cursor: hardware cursor plane (64x64), shown;"),
        "{line}"
    );
    // Where the display controller has the cursor plane: the kernel's atomic state.
    let state = board
        .run("mount -t debugfs none /sys/kernel/debug 2>/dev/null; cat /sys/kernel/debug/dri/0/state")
        .unwrap();
    if state.success() && state.stdout.contains("crtc-pos=") {
        let at = format!("crtc-pos=64x64+{}+{}", AT.0, AT.1);
        assert!(
            state.stdout.contains(&at),
            "no plane at {at} in the kernel's DRM state:\n{}",
            state.stdout
        );
        report(&format!(
            "board-drm figures (virtio-gpu): the kernel's DRM state has a plane {at}"
        ));
    } else {
        report(&format!(
            "board-drm figures (virtio-gpu): no DRM debugfs state: {state}"
        ));
    }
    let img = board.screendump().unwrap();
    board.save_artifact("virtio-cursor", &img);
    report(&format!(
        "board-drm figures (virtio-gpu): QEMU's screendump {} the hardware cursor at {AT:?}",
        if arrow_at(&img, AT) {
            "shows"
        } else {
            "does not show"
        }
    ));
    assert!(board.running(&server).unwrap(), "the master died");
}

/// bochs has no cursor plane: the arrow is composed, each motion composes bytes, and the
/// screendump shows it where the pointer is.
#[test]
fn drm_cursor_on_bochs_is_composed() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };
    let server = board
        .start_master(&cursor_config())
        .unwrap_or_else(|e| panic!("{e}"));
    let (c, composed) = cursor_on(&mut board, &server);
    assert_eq!(c["hardware"], false, "{c}");
    assert_eq!(c["plane_size"], Value::Null, "{c}");
    assert!(
        c["composed_because"]
            .as_str()
            .is_some_and(|s| s.contains("no cursor plane")),
        "{c}"
    );
    assert!(composed > 0 && count(&c, "composed_bytes") > 0, "{c}");
    let img = board
        .wait_for_screen(SLOW, "the composed arrow", |img| arrow_at(img, AT))
        .unwrap_or_else(|e| {
            let img = board.screendump().unwrap();
            board.save_artifact("bochs-cursor-missing", &img);
            panic!("{e}\n{}", master_log(&mut board, &server))
        });
    board.save_artifact("bochs-cursor", &img);
    let text = board.ok(&format!("fusionfb --world {WORLD} status"));
    let line = text
        .lines()
        .find(|l| l.starts_with("cursor:"))
        .unwrap_or("");
    report(&format!("board-drm figures (bochs status): {line}"));
    assert!(
        line.starts_with("cursor: composed (the output has no cursor plane), shown;"),
        "{line}"
    );
}
