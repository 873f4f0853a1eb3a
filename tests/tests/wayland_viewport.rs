//! `wp_viewporter` and `wl_surface.set_buffer_scale` with a client no one here wrote:
//! Debian's `weston-scaler` prints, in its `--help`, the window size and picture each of its
//! four modes must give on an output of scale 1; the master shows exactly those (its window
//! in `fusionfb status`, its colours on the glass). A program that is not installed makes the
//! test print `SKIPPED:` and pass.

use fusionfb_client::display::Display;
use fusionfb_tests::wayland::{find_program, WaylandMaster, LIMIT};
use fusionfb_tests::{skipped, wait_for};

const RED: u32 = 0xff_0000;
const BLUE: u32 = 0x00_00ff;

/// A point of the output and the colour (`0xRRGGBB`) it must have.
type Spot = (u32, u32, u32);

#[test]
fn weston_scaler_shows_what_its_help_says_in_every_mode() {
    let Some(scaler) = find_program("weston-scaler") else {
        skipped("weston-scaler is not installed (Debian package weston)");
        return;
    };
    let mut m = WaylandMaster::start("wl-scaler");
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    // Mode, the window size `weston-scaler --help` gives, and points of its picture: -n is a
    // 842x674 buffer at scale 2 (red, a blue box in the upper left), -b crops the blue box
    // and shows it at 220x308, -s the same crop at its own size, -d the whole picture
    // squashed to 220x308.
    let modes: [(&str, (u64, u64), &[Spot]); 4] = [
        (
            "-n",
            (421, 337),
            &[(45, 60, BLUE), (300, 250, RED), (10, 200, RED)],
        ),
        ("-b", (220, 308), &[(110, 150, BLUE), (60, 280, BLUE)]),
        ("-s", (55, 77), &[(27, 38, BLUE)]),
        (
            "-d",
            (220, 308),
            &[(25, 55, BLUE), (150, 200, RED), (5, 150, RED)],
        ),
    ];
    for (mode, size, points) in modes {
        let mut c = m.client(&scaler, &[mode], &format!("scaler{mode}"));
        let pid = c.pid();
        let window = wait_for(&format!("weston-scaler {mode}'s window"), LIMIT, || {
            let id = m.toplevels(pid).first()?["window"].as_u64()?;
            m.scene()?["windows"]
                .as_array()?
                .iter()
                .find(|w| w["id"].as_u64() == Some(id))
                .cloned()
        });
        let got = (
            window["width"].as_u64().unwrap_or(0),
            window["height"].as_u64().unwrap_or(0),
        );
        assert_eq!(got, size, "weston-scaler {mode}: {window}");
        wait_for(&format!("weston-scaler {mode}'s picture"), LIMIT, || {
            let img = d.screenshot().ok()?;
            points
                .iter()
                .all(|&(x, y, rgb)| img.pixel(x, y) & 0xff_ffff == rgb)
                .then_some(())
        });
        c.kill();
        wait_for("the scaler gone", LIMIT, || {
            m.toplevels(pid).is_empty().then_some(())
        });
    }
    m.assert_running();
}
