//! A Wayland client on the emulated board (issue 12): a real kernel's DRM (bochs KMS), the
//! master's Wayland frontend, and a uinput touchscreen touched with `evemu-event`. The
//! client is `fusionfb-wayland-probe` (an ordinary libwayland client: the initramfs has
//! libwayland-client but no Debian Wayland programs): its toplevel must fill the glass in
//! its colour (QMP screendump), and a finger on the glass must reach its `wl_touch` at the
//! same place, in surface coordinates — and on a panel mounted a quarter turn, at the upright
//! point over the finger.
//!
//! On virtio-gpu (whose dumb buffers export as dma-bufs), the probe's buffers are the
//! card's own, sent through `zwp_linux_dmabuf_v1`, and go to the glass with no copy.

use std::time::Duration;

use fusionfb::compose::{Size, Transform};
use fusionfb_tests::board::master::{plain, WORLD};
use fusionfb_tests::board::{Background, Board, BoardSpec, Contact, Gpu, Touchscreen};

fn config(transform: &str) -> String {
    format!(
        r##"
[display]
backend = "drm"
device = "/dev/dri/card0"
background = "#000000"
transform = "{transform}"

[input]
seat = "seat0"
cursor-visible = false
"##
    )
}

/// The probe's colour (`fusionfb-wayland-probe`'s `COLOUR`), as RGB.
const PROBE: [u8; 3] = [0x20, 0x80, 0xc0];

/// What clients put in `WAYLAND_DISPLAY`. The master names its socket in the log: a root
/// service has no XDG_RUNTIME_DIR, so it is a path in the world's directory.
fn socket(board: &mut Board, master: &Background) -> String {
    board
        .wait_until(
            Duration::from_secs(30),
            "the master's Wayland socket",
            |b| {
                let log = plain(&b.log(master)?);
                Ok(log.lines().find_map(|l| {
                    let at = l.find("WAYLAND_DISPLAY=")? + "WAYLAND_DISPLAY=".len();
                    l[at..].split_whitespace().next().map(str::to_string)
                }))
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A client that allocates for the display, as GBM users do: `fusionfb-wayland-probe
/// --dmabuf /dev/dri/card0` makes dumb buffers on the card, exports them as dma-bufs
/// (PRIME) and sends them through `zwp_linux_dmabuf_v1`. The feedback names the card as
/// the main device; the master imports the buffer back onto the card and, the toplevel
/// covering the output, scans it out as it is: the probe's colour on the glass (QMP
/// screendump), frames shown directly and 0 bytes composed.
#[test]
fn a_dmabuf_client_on_virtio_gpu_is_scanned_out_without_a_copy() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::VirtioGpu)) else {
        return;
    };
    let master = board
        .start_master(&config("normal"))
        .unwrap_or_else(|e| panic!("{e}"));
    let display = socket(&mut board, &master);
    let probe = board
        .start_app(&format!(
            "env WAYLAND_DISPLAY={display} fusionfb-wayland-probe --dmabuf /dev/dri/card0 dma-board"
        ))
        .unwrap_or_else(|e| panic!("{e}\n{}", plain(&board.log(&master).unwrap())));
    let img = board
        .wait_for_screen(Duration::from_secs(30), "the probe's dma-buf", |img| {
            let (w, h) = (img.width(), img.height());
            [(1, 1), (w / 2, h / 2), (w - 2, h - 2)]
                .iter()
                .all(|&(x, y)| img.pixel(x, y) == PROBE)
        })
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nprobe:\n{}\nmaster:\n{}",
                board.log(&probe).unwrap_or_default(),
                plain(&board.log(&master).unwrap())
            )
        });
    board.save_artifact("wayland-dmabuf", &img);
    let said = board.log(&probe).unwrap();
    // /dev/dri/card0 is 226:0.
    assert!(
        said.contains("feedback main-device 226:0 xrgb8888-linear yes"),
        "the feedback names the card:\n{said}"
    );
    let frames = board
        .wait_until(Duration::from_secs(30), "a frame scanned out", |b| {
            let out = b.run(&format!("fusionfb --world {WORLD} status --json"))?;
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
            let f = v["display"]["frames"].clone();
            let direct = f["direct"].as_u64().unwrap_or(0);
            let composed = f["bytes_composed_last"].as_u64().unwrap_or(u64::MAX);
            Ok((direct > 0 && composed == 0).then_some(f))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", plain(&board.log(&master).unwrap())));
    eprintln!("virtio-gpu, a Wayland dma-buf fullscreen: frames {frames}");
    assert!(board.running(&master).unwrap(), "the master ended");
}

#[test]
fn a_wayland_client_on_drm_gets_the_touchscreens_tap_where_the_finger_is() {
    tap_a_wayland_client(Transform::Normal);
}

/// On a panel mounted a quarter turn, the client sees the upright output (its size turned)
/// and the finger in upright coordinates.
#[test]
fn a_wayland_client_on_a_rotated_panel_gets_upright_coordinates() {
    tap_a_wayland_client(Transform::Rotate90);
}

fn tap_a_wayland_client(transform: Transform) {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };
    let mut touch = board
        .add_touchscreen("fusionfb-touch")
        .unwrap_or_else(|e| panic!("{e}"));
    let name = match transform {
        Transform::Rotate90 => "90",
        _ => "normal",
    };
    let master = board
        .start_master(&config(name))
        .unwrap_or_else(|e| panic!("{e}"));
    let display = socket(&mut board, &master);
    board
        .wait_until(
            Duration::from_secs(30),
            "the touchscreen in the master",
            |b| {
                let log = plain(&b.log(&master)?);
                Ok(log
                    .lines()
                    .any(|l| l.contains("input device ") && l.contains("touch"))
                    .then_some(()))
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", plain(&board.log(&master).unwrap())));
    let probe = board
        .start_app(&format!(
            "env WAYLAND_DISPLAY={display} fusionfb-wayland-probe"
        ))
        .unwrap_or_else(|e| panic!("{e}\n{}", plain(&board.log(&master).unwrap())));
    let img = board
        .wait_for_screen(Duration::from_secs(30), "the probe's toplevel", |img| {
            let (w, h) = (img.width(), img.height());
            [(1, 1), (w / 2, h / 2), (w - 2, h - 2)]
                .iter()
                .all(|&(x, y)| img.pixel(x, y) == PROBE)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", plain(&board.log(&master).unwrap())));
    board.save_artifact("wayland-probe", &img);
    let (w, h) = (img.width(), img.height());
    let (lw, lh) = transform.transform_size(w, h);
    let said = board.log(&probe).unwrap();
    assert!(
        said.contains(&format!("shown {lw}x{lh}")),
        "configured to the whole (upright) output:\n{said}"
    );

    // A tap at a third of the glass: the probe's wl_touch gets it at the upright point over
    // it (kiosk: the surface is at the output's corner, so surface and logical coordinates
    // are the same).
    let at = (w / 3, h / 3);
    let want = transform.point_to_logical(
        f64::from(at.0) + 0.5,
        f64::from(at.1) + 0.5,
        Size::new(lw, lh),
    );
    let (dx, dy) = Touchscreen::device_xy(at.0, at.1, w, h);
    touch
        .frames(
            &mut board,
            &[
                &[Contact::Down {
                    slot: 0,
                    x: dx,
                    y: dy,
                }],
                &[Contact::Up { slot: 0 }],
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let line = board
        .wait_until(Duration::from_secs(30), "the probe's touch down", |b| {
            let log = b.log(&probe)?;
            Ok(log
                .lines()
                .find(|l| l.contains("fusionfb-wayland-probe: down "))
                .map(str::to_string))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", plain(&board.log(&master).unwrap())));
    let nums: Vec<f64> = line
        .split_whitespace()
        .rev()
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    let (x, y) = (nums[1], nums[0]);
    assert!(
        (x - want.0).abs() <= 2.0 && (y - want.1).abs() <= 2.0,
        "the touch reached the probe at ({x}, {y}); the finger was at {at:?} on the glass, \
         {want:?} upright"
    );
    let ups = board.wait_until(Duration::from_secs(30), "the probe's touch up", |b| {
        Ok(b.log(&probe)?
            .contains("fusionfb-wayland-probe: up ")
            .then_some(()))
    });
    ups.unwrap_or_else(|e| panic!("{e}"));
}
