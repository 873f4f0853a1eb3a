//! An unprivileged master on the emulated board (issues 4 and 5): with seatd running, a user
//! that cannot open `/dev/dri/card0` nor `/dev/input/event*` itself runs `fusionfb run`; the
//! DRM backend gets the card from seatd through libseat, and the input side gets the
//! touchscreen through the **same** session. A tap on a uinput touchscreen paints under the
//! finger on the glass; after a VT switch away and back (seatd disables and enables the
//! seat), it does again. Without libseat installed, a root master under the same seat
//! manager opens the card directly.

use std::time::Duration;

use fusionfb_tests::board::master::plain;
use fusionfb_tests::board::{Board, BoardSpec, Gpu};

/// Runs a command as the unprivileged user `kiosk` (uid 1000, no `video` or `input` group)
/// in its own runtime directory and the world `seat`.
const AS_KIOSK: &str = "setpriv --reuid=1000 --regid=1000 --clear-groups \
    env XDG_RUNTIME_DIR=/run/user/1000 FUSIONFB_WORLD=seat";

const CONFIG: &str = r##"
[display]
backend = "drm"
device = "/dev/dri/card0"
background = "#000000"

[input]
seat = "seat0"
cursor-visible = false
"##;

const SLOW: Duration = Duration::from_secs(60);

#[test]
fn an_unprivileged_master_gets_card_and_touchscreen_from_seatd() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };
    board.ok(
        "(getent passwd kiosk || useradd -u 1000 -U -M kiosk) >/dev/null \
         && mkdir -p /run/user/1000 && chown 1000:1000 /run/user/1000 \
         && chmod 700 /run/user/1000",
    );
    // Without the seat, the user can open neither the card nor an input device.
    let mut touch = board
        .add_touchscreen("fusionfb-touch")
        .unwrap_or_else(|e| panic!("{e}"));
    for node in ["/dev/dri/card0", touch.path.as_str()] {
        let open = board
            .run(&format!("{AS_KIOSK} sh -c 'exec 3<>{node}'"))
            .unwrap();
        assert!(!open.success(), "kiosk could open {node} by itself");
    }
    let seatd = board.spawn("exec seatd -g kiosk").unwrap();
    board
        .wait_for("test -S /run/seatd.sock", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\nseatd: {}", board.log(&seatd).unwrap_or_default()));

    board
        .write_file("/tmp/seat.toml", CONFIG.as_bytes())
        .unwrap();
    board.ok("chmod 644 /tmp/seat.toml");
    let master = board
        .spawn(&format!(
            "{AS_KIOSK} LIBSEAT_BACKEND=seatd RUST_LOG=info NO_COLOR=1 \
             fusionfb run --config /tmp/seat.toml"
        ))
        .unwrap();
    let log = |b: &mut Board| plain(&b.log(&master).unwrap_or_default());
    if let Err(e) = board.wait_for(&format!("{AS_KIOSK} fusionfb status >/dev/null"), SLOW) {
        panic!(
            "{e}\nmaster log:\n{}\nseatd: {}",
            log(&mut board),
            board.log(&seatd).unwrap_or_default()
        );
    }
    let said = log(&mut board);
    assert!(
        said.contains("libseat session"),
        "the card was not opened through the seat:\n{said}"
    );
    assert!(
        said.contains("input: devices through the libseat session"),
        "the input devices do not come from the seat:\n{said}"
    );
    board
        .wait_until(SLOW, "the master to open the touchscreen", |b| {
            Ok(log(b)
                .lines()
                .any(|l| l.contains("input device ") && l.contains("fusionfb-touch"))
                .then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", log(&mut board)));

    // A full-screen paint as the kiosk user, and a tap on the touchscreen that paints.
    let glass = board.screendump().unwrap();
    let (w, h) = (glass.width(), glass.height());
    let mut paint_and_tap = |board: &mut Board, when: &str| {
        let paint = board
            .spawn(&format!(
                "{AS_KIOSK} fusionfb-paint --x 0 --y 0 --width {w} --height {h}"
            ))
            .unwrap();
        board.tap_paints(&mut touch, w, h).unwrap_or_else(|e| {
            panic!(
                "{when}: {e}\nmaster log:\n{}\npaint: {}",
                log(board),
                board.log(&paint).unwrap_or_default()
            )
        });
        assert!(board.running(&master).unwrap(), "the master ended");
        paint
    };
    let paint = paint_and_tap(&mut board, "at first");

    // A VT switch away and back, which seatd turns into a disable and an enable of the seat:
    // the master acknowledges the disable and pauses, and on the enable takes the card and
    // the touchscreen again through the session. A new paint then gets a tap again.
    board.chvt(2).unwrap_or_else(|e| panic!("{e}"));
    board
        .wait_until(SLOW, "the master to log the pause", |b| {
            Ok(log(b).contains("session paused").then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", log(&mut board)));
    board.chvt(1).unwrap_or_else(|e| panic!("{e}"));
    board
        .wait_until(SLOW, "the master to log the resume", |b| {
            Ok(log(b).contains("session resumed").then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", log(&mut board)));
    board.stop(&paint, true).unwrap();
    let paint = paint_and_tap(&mut board, "after the VT switch back");

    // libseat is loaded only where a seat manager runs (or LIBSEAT_BACKEND names one).
    // Where libseat is not installed, a root master then opens the card directly, with a
    // warning, and runs.
    board.stop(&paint, true).unwrap();
    board.stop(&master, false).unwrap();
    board.stop(&seatd, false).unwrap();
    board
        .wait_for("! pgrep -x fusionfb", SLOW)
        .unwrap_or_else(|e| panic!("{e}\nmaster log:\n{}", log(&mut board)));
    board.ok("mkdir -p /tmp/hidden && mv $(ldconfig -p | sed -n 's/.*libseat.so.1 .*=> //p' | head -1) /tmp/hidden/ && ldconfig");
    let root = board
        .spawn(
            "LIBSEAT_BACKEND=seatd RUST_LOG=info NO_COLOR=1 FUSIONFB_WORLD=rootseat \
             fusionfb run --no-restart --config /tmp/seat.toml",
        )
        .unwrap();
    let root_log = |b: &mut Board| plain(&b.log(&root).unwrap_or_default());
    if let Err(e) = board.wait_for("FUSIONFB_WORLD=rootseat fusionfb status >/dev/null", SLOW) {
        panic!("{e}\nmaster log:\n{}", root_log(&mut board));
    }
    let said = root_log(&mut board);
    assert!(
        said.contains("but libseat cannot be loaded") && said.contains("but no libseat"),
        "no word of the missing libseat:\n{said}"
    );
    assert!(board.running(&root).unwrap(), "the master ended");
}
