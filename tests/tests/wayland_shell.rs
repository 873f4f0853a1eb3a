//! The shell policy with real clients on a headless `fusionfb run`: `gtk3-demo`'s combo box
//! opens its menu (an `xdg_popup`) on a tap, its submenu is kept on the output, and a tap
//! outside dismisses them; `[[wayland.rule]]` places a toplevel by its app_id (a rectangle,
//! fullscreen, another layer); on-screen keyboards and panels (`zwlr_layer_shell_v1`, here
//! Debian's `wvkbd`) sit at their edge and shrink what maximized windows get, and type into
//! `weston-editor` (which needs `zwp_text_input_v1`). A program that
//! is not installed makes its test print `SKIPPED:` and pass.

use std::path::PathBuf;

use fusionfb_client::display::Display;
use fusionfb_tests::wayland::{find_program, WaylandClient, WaylandMaster, LIMIT};
use fusionfb_tests::{binary, skipped, wait_for, wait_until};
use serde_json::Value;

/// The probe's colour (`fusionfb-wayland-probe`'s `COLOUR`), as `0xRRGGBB`.
const PROBE: u32 = 0x20_80c0;

/// The program, or a `SKIPPED:` line and `None`.
fn program(name: &str, package: &str) -> Option<PathBuf> {
    let p = find_program(name);
    if p.is_none() {
        skipped(&format!(
            "{name} is not installed (Debian package {package})"
        ));
    }
    p
}

/// The scene's windows (`fusionfb status --json`), bottom to top.
fn windows(m: &WaylandMaster) -> Vec<Value> {
    m.scene()
        .and_then(|s| s["windows"].as_array().cloned())
        .unwrap_or_default()
}

/// A window's rectangle `(x, y, w, h)`.
fn rect(w: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| w[k].as_i64().unwrap_or(-1);
    (n("x"), n("y"), n("width"), n("height"))
}

/// The window of the toplevel with `title` of client `pid`, once it is shown.
fn toplevel(m: &WaylandMaster, pid: u32, title: &str) -> u64 {
    wait_for(&format!("{title:?} of pid {pid}"), LIMIT, || {
        m.toplevels(pid)
            .iter()
            .find(|t| t["title"].as_str() == Some(title))
            .and_then(|t| t["window"].as_u64())
    })
}

/// How many surfaces client `pid` shows.
fn shown(m: &WaylandMaster, pid: u32) -> u64 {
    m.scene()
        .and_then(|s| {
            s["wayland"]["clients"]
                .as_array()?
                .iter()
                .find(|c| c["pid"].as_u64() == Some(u64::from(pid)))
                .and_then(|c| c["surfaces"].as_u64())
        })
        .unwrap_or(0)
}

fn tap(m: &WaylandMaster, x: i64, y: i64) {
    m.fusionfb(&["input", "tap", &x.to_string(), &y.to_string()])
        .expect("fusionfb input tap");
}

/// The windows above window `base` in the stack.
fn above(m: &WaylandMaster, base: u64) -> Vec<Value> {
    let all = windows(m);
    let at = all
        .iter()
        .position(|w| w["id"].as_u64() == Some(base))
        .expect("the base window is in the stack");
    all[at + 1..].to_vec()
}

#[test]
fn gtk3_demo_menu_opens_on_a_tap_stays_on_the_output_and_closes_on_a_tap_outside() {
    let Some(demo) = program("gtk3-demo", "gtk-3-examples") else {
        return;
    };
    let mut m = WaylandMaster::start("wl-popup");
    let c = m.client(&demo, &["--run=combobox"], "gtk");
    let combo = toplevel(&m, c.pid(), "Combo Boxes");
    let before = shown(&m, c.pid());
    // "Where are we ?": the second combo box, a row of the window's full width at y 137..170.
    tap(&m, 640, 153);
    let menu = wait_for("the combo box's menu", LIMIT, || {
        above(&m, combo).first().cloned()
    });
    let (x, y, w, h) = rect(&menu);
    assert!(
        x >= 0 && y >= 0 && x + w <= 1280 && y + h <= 800,
        "the menu is on the output: {menu}"
    );
    assert!(
        y <= 153 && 153 < y + h,
        "the menu opens over the combo box: {menu}"
    );
    assert_eq!(shown(&m, c.pid()), before + 1);
    // Its second row ("C - D") opens a submenu; the menu spans the whole output, so the
    // submenu cannot go right of it: it is slid back onto the output.
    tap(&m, x + 40, y + 54);
    let sub = wait_for("the submenu", LIMIT, || above(&m, combo).get(1).cloned());
    let (sx, sy, sw, sh) = rect(&sub);
    // GTK's surfaces carry a shadow of a few pixels around their window geometry.
    assert!(
        sx >= 0 && sx + sw <= 1280 + 16 && sy + sh <= 800 + 16,
        "the submenu is kept on the output: {sub}"
    );
    // A tap outside both dismisses them.
    tap(&m, 640, 700);
    wait_until("the menus dismissed", LIMIT, || {
        above(&m, combo).is_empty() && shown(&m, c.pid()) == before
    });
    // The menu opens again (the grab ended cleanly), and a tap on the combo box's own
    // window outside the menu closes it too.
    tap(&m, 640, 153);
    wait_until("the menu again", LIMIT, || !above(&m, combo).is_empty());
    tap(&m, 640, 600);
    wait_until("the menu dismissed again", LIMIT, || {
        above(&m, combo).is_empty()
    });
    m.assert_running();
}

/// Starts the probe with `app_id` and waits for the size it shows first.
fn probe(m: &WaylandMaster, app_id: &str, tag: &str) -> (WaylandClient, String) {
    let c = m.client(&binary("fusionfb-wayland-probe"), &[app_id], tag);
    let line = wait_for(&format!("{app_id} shown"), LIMIT, || {
        c.output()
            .lines()
            .find(|l| l.contains("shown "))
            .map(str::to_string)
    });
    (c, line)
}

/// The window the scene shows for client `pid`'s first toplevel.
fn window_of(m: &WaylandMaster, pid: u32) -> Value {
    wait_for(&format!("the window of pid {pid}"), LIMIT, || {
        let id = m.toplevels(pid).first()?["window"].as_u64()?;
        windows(m)
            .into_iter()
            .find(|w| w["id"].as_u64() == Some(id))
    })
}

#[test]
fn rules_place_toplevels_by_app_id() {
    let config = r#"
[[layer]]
id = 0
kind = "primary"

[[layer]]
id = 1
kind = "overlay"

[[wayland.rule]]
app-id = "probe-small"
position = [100, 50]
size = [320, 200]

[[wayland.rule]]
app-id = "probe-over*"
layer = 1
size = [200, 100]

[[wayland.rule]]
app-id = "probe-full"
fullscreen = true
"#;
    let mut m = WaylandMaster::start_with("wl-rules", Some(config));
    // No rule: maximized (kiosk).
    let (free, line) = probe(&m, "probe-free", "free");
    assert!(line.ends_with("shown 1280x800"), "{line}");
    // A rectangle of its own.
    let (small, line) = probe(&m, "probe-small", "small");
    assert!(line.ends_with("shown 320x200"), "{line}");
    let w = window_of(&m, small.pid());
    assert_eq!(rect(&w), (100, 50, 320, 200), "{w}");
    assert_eq!(w["layer"].as_u64(), Some(0));
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    let rgb = |img: &fusionfb_client::Image, x, y| img.pixel(x, y) & 0xff_ffff;
    // Both probes have the same colour: the small one's shows over the free one's.
    let img = wait_for("the probes on the glass", LIMIT, || {
        let img = d.screenshot().ok()?;
        (rgb(&img, 110, 60) == PROBE && rgb(&img, 50, 30) == PROBE).then_some(img)
    });
    assert_eq!(rgb(&img, 1000, 700), PROBE);
    // A prefix rule, on the overlay layer.
    let (over, line) = probe(&m, "probe-overlay", "over");
    assert!(line.ends_with("shown 200x100"), "{line}");
    let w = window_of(&m, over.pid());
    assert_eq!(w["layer"].as_u64(), Some(1), "{w}");
    // Fullscreen.
    let (full, line) = probe(&m, "probe-full", "full");
    assert!(line.ends_with("shown 1280x800"), "{line}");
    let w = window_of(&m, full.pid());
    assert_eq!(rect(&w), (0, 0, 1280, 800), "{w}");
    drop((free, small, over, full));
    m.assert_running();
}

#[test]
fn weston_terminal_runs_what_is_typed_with_fusionfb_input_key() {
    let Some(term) = program("weston-terminal", "weston") else {
        return;
    };
    let mut m = WaylandMaster::start("wl-term");
    let c = m.client(&term, &["--shell=/bin/sh"], "term");
    let window = wait_for("the terminal's window", LIMIT, || {
        m.toplevels(c.pid()).first()?["window"].as_u64()
    });
    let focused = || {
        windows(&m)
            .iter()
            .any(|w| w["id"].as_u64() == Some(window) && w["focused"].as_bool() == Some(true))
    };
    wait_until("the terminal focused", LIMIT, focused);
    // The shell's prompt is there once the terminal drew twice; keys typed before the shell
    // reads are kept by the pty, so no wait is needed beyond the focus.
    let marker = m.runtime.join("typed-marker");
    for key in [
        "t", "o", "u", "c", "h", "space", "t", "y", "p", "e", "d", "minus", "m", "a", "r", "k",
        "e", "r", "Return",
    ] {
        m.fusionfb(&["input", "key", key])
            .expect("fusionfb input key");
    }
    wait_until("the shell to run the typed command", LIMIT, || {
        marker.exists()
    });
    m.assert_running();
}

#[test]
fn the_wayland_kiosk_profile_types_on_its_on_screen_keyboard_into_its_app() {
    let (Some(_), Some(_)) = (
        program("weston-terminal", "weston"),
        program("wvkbd-mobintl", "wvkbd"),
    ) else {
        return;
    };
    // configs/kiosk.toml as shipped, but on the test's own socket (the default
    // name, in the test's runtime directory).
    let profile = include_str!("../../configs/kiosk.toml");
    let text = profile.replace("socket = \"wayland-kiosk\"\n", "");
    assert_ne!(
        text, profile,
        "the profile's socket line moved; update this test"
    );
    let mut m = WaylandMaster::start_with("wl-kiosk", Some(&text));
    // The keyboard: 240 pixels on the bottom edge. The terminal: maximized to the rest.
    let (term, kbd) = wait_for("the terminal above the keyboard", LIMIT, || {
        let all = windows(&m);
        let find = |r: (i64, i64, i64, i64)| {
            all.iter()
                .find(|w| rect(w) == r)
                .and_then(|w| w["id"].as_u64())
        };
        Some((find((0, 0, 1280, 560))?, find((0, 560, 1280, 240))?))
    });
    let focused = |id: u64| {
        windows(&m)
            .iter()
            .any(|w| w["id"].as_u64() == Some(id) && w["focused"].as_bool() == Some(true))
    };
    wait_until("the terminal focused", LIMIT, || focused(term));
    // "touch kbd" and Enter, tapped on wvkbd's landscape layout (rows of 40 pixels from
    // y 560: Esc.., 1.., q.., a.., z.., Sym..). The keys go to the terminal, which keeps the
    // focus: the keyboard takes none.
    let keys = [
        (610, 660),  // t
        (1098, 660), // o
        (854, 660),  // u
        (512, 740),  // c
        (793, 700),  // h
        (640, 780),  // space
        (1037, 700), // k
        (768, 740),  // b
        (427, 700),  // d
        (1152, 780), // Enter
    ];
    for (x, y) in keys {
        tap(&m, x, y);
        assert!(!focused(kbd), "the keyboard took the focus");
    }
    let marker = m.runtime.join("kbd");
    wait_until("the shell to run what was typed on wvkbd", LIMIT, || {
        marker.exists()
    });
    assert!(focused(term));
    m.assert_running();
}

/// The rightmost dark (text) pixel of the picture in `area` `(x, y, w, h)`, if any.
fn rightmost_text(
    img: &fusionfb_client::Image,
    (x0, y0, w, h): (u32, u32, u32, u32),
) -> Option<u32> {
    (x0..x0 + w).rev().find(|&x| {
        (y0..y0 + h).any(|y| {
            let p = img.pixel(x, y);
            [16, 8, 0].iter().all(|&s| (p >> s) & 0xff < 96)
        })
    })
}

#[test]
fn wvkbd_types_into_weston_editor() {
    let (Some(_), Some(_)) = (
        program("weston-editor", "weston"),
        program("wvkbd-mobintl", "wvkbd"),
    ) else {
        return;
    };
    // weston-editor asks for zwp_text_input_manager_v1 (it will not start without it) and
    // types the keys it gets into the entry it was touched in.
    let config = r#"
[input]
cursor-visible = false

[[app]]
command = "weston-editor"

[[app]]
command = "wvkbd-mobintl"
args = ["-L", "240", "-H", "240"]
"#;
    let mut m = WaylandMaster::start_with("wl-editor", Some(config));
    let editor = wait_for("the editor above the keyboard", LIMIT, || {
        let all = windows(&m);
        all.iter().find(|w| rect(w) == (0, 0, 1280, 560))?;
        all.iter().find(|w| rect(w) == (0, 560, 1280, 240))?;
        all.iter()
            .find(|w| rect(w) == (0, 0, 1280, 560))
            .and_then(|w| w["id"].as_u64())
    });
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    // Its first entry ("Entry") takes the upper half of the window, below its title bar.
    let entry = (30, 45, 1200, 220);
    let before = wait_for("the editor's entry drawn", LIMIT, || {
        let img = d.screenshot().ok()?;
        // The editor's white page, not the background before its first frame.
        (img.pixel(640, 100) & 0xff_ffff == 0xff_ffff).then_some(())?;
        rightmost_text(&img, entry)
    });
    // A tap in the entry activates it (zwp_text_input_v1: the master answers `enter`, and
    // the editor frames the active entry in blue); "wow" on wvkbd's landscape layout (the
    // q row at y 660).
    tap(&m, 300, 167);
    for (x, y) in [(244, 660), (1098, 660), (244, 660)] {
        tap(&m, x, y);
    }
    let after = wait_for("the typed text in the entry", LIMIT, || {
        rightmost_text(&d.screenshot().ok()?, entry).filter(|&x| x > before + 20)
    });
    eprintln!("the entry's text ended at x {before}, after typing at x {after}");
    let img = d.screenshot().expect("a screenshot");
    let frame = img.pixel(26, 100) & 0xff_ffff;
    assert!(
        frame & 0xff > 0xc0 && frame >> 16 < 0x40,
        "no blue frame on the active entry: {frame:06x}"
    );
    assert!(windows(&m)
        .iter()
        .any(|w| w["id"].as_u64() == Some(editor) && w["focused"].as_bool() == Some(true)));
    m.assert_running();
}

#[test]
fn wtype_types_shifted_text_through_the_virtual_keyboard() {
    let (Some(term), Some(wtype)) = (
        program("weston-terminal", "weston"),
        program("wtype", "wtype"),
    ) else {
        return;
    };
    let mut m = WaylandMaster::start("wl-wtype");
    let c = m.client(&term, &["--shell=/bin/sh"], "term");
    let window = wait_for("the terminal's window", LIMIT, || {
        m.toplevels(c.pid()).first()?["window"].as_u64()
    });
    wait_until("the terminal focused", LIMIT, || {
        windows(&m)
            .iter()
            .any(|w| w["id"].as_u64() == Some(window) && w["focused"].as_bool() == Some(true))
    });
    // wtype sends each character on a key of its own keymap; the master types each on the
    // key of its own keymap, with Shift for "H", "!", ">" and "_".
    let mut typer = m.client(&wtype, &["echo Hi! >typed_text", "-k", "Return"], "wtype");
    assert!(typer.wait().success(), "wtype failed: {}", typer.output());
    let file = m.runtime.join("typed_text");
    let text = wait_for("the shell to write what wtype typed", LIMIT, || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.ends_with('\n'))
    });
    assert_eq!(text, "Hi!\n");
    m.assert_running();
}

#[test]
fn a_keyboard_coming_and_going_reconfigures_maximized_windows_and_stays_over_native_ones() {
    let Some(kbd) = program("wvkbd-mobintl", "wvkbd") else {
        return;
    };
    let m = WaylandMaster::start("wl-zone");
    let (probe, line) = probe(&m, "probe-zone", "zone");
    assert!(line.ends_with("shown 1280x800"), "{line}");
    let shown = |size: &str| {
        let want = format!("shown {size}");
        let count = probe
            .output()
            .lines()
            .filter(|l| l.ends_with(&want))
            .count();
        count
    };
    // The keyboard takes 240 pixels at the bottom: the probe is configured to the rest.
    let mut k = m.client(&kbd, &["-L", "240", "-H", "240"], "kbd");
    wait_until("the probe configured above the keyboard", LIMIT, || {
        shown("1280x560") == 1
    });
    let keyboard = wait_for("the keyboard's window", LIMIT, || {
        windows(&m)
            .into_iter()
            .find(|w| rect(w) == (0, 560, 1280, 240))
            .and_then(|w| w["id"].as_u64())
    });
    // A native window made after it is still under it (the keyboard is in the top band).
    let _paint = fusionfb_tests::Process::spawn(
        "fusionfb-paint",
        &m.world,
        &[
            "--x", "0", "--y", "400", "--width", "640", "--height", "400",
        ],
    );
    wait_until("paint under the keyboard", LIMIT, || {
        let all = windows(&m);
        let at = |pred: &dyn Fn(&Value) -> bool| all.iter().position(pred);
        let kb = at(&|w| w["id"].as_u64() == Some(keyboard));
        let paint = at(&|w| rect(w) == (0, 400, 640, 400));
        matches!((kb, paint), (Some(kb), Some(p)) if kb > p)
    });
    // The keyboard goes: the probe gets the whole output back.
    k.kill();
    wait_until("the probe maximized again", LIMIT, || {
        shown("1280x800") == 2
    });
}
