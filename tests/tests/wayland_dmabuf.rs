//! `zwp_linux_dmabuf_v1` on a headless `fusionfb run`, with `fusionfb-wayland-probe
//! --dmabuf`: a toplevel whose buffers come through the dma-buf protocol is shown as it is —
//! covering the output, it goes to the glass with no copy (0 bytes composed); in a rectangle
//! of its own, it is composed from the master's read-only mapping. A buffer its fd cannot
//! hold gets the protocol's `out_of_bounds` error, one the master does not take (a plane
//! past byte 0) the `failed` event, and the master carries on.
//!
//! This machine has no dma-buf source (no `/dev/dri`, no udmabuf), so here the probe's
//! buffers are memfds sent through the dma-buf protocol: the protocol, the checks and the
//! scene are the same. Real dma-bufs (a card's dumb buffers exported with PRIME, imported
//! back onto the card and scanned out) are the emulated board's test
//! (`board_wayland.rs`).

use fusionfb_client::display::Display;
use fusionfb_tests::wayland::{WaylandClient, WaylandMaster, LIMIT};
use fusionfb_tests::{binary, wait_for, wait_until};

/// The probe's colour (`fusionfb-wayland-probe`'s `COLOUR`), as `0xRRGGBB`.
const PROBE: u32 = 0x20_80c0;

/// Starts the probe with dma-bufs from `source` and waits for the size it shows first.
fn probe(m: &WaylandMaster, args: &[&str], tag: &str) -> (WaylandClient, String) {
    let c = m.client(&binary("fusionfb-wayland-probe"), args, tag);
    let line = wait_for(&format!("{tag} shown"), LIMIT, || {
        c.output()
            .lines()
            .find(|l| l.contains("shown "))
            .map(str::to_string)
    });
    (c, line)
}

/// `display.frames` of `fusionfb status --json`: (direct frames, bytes composed last).
fn frames(m: &WaylandMaster) -> Option<(u64, u64)> {
    let s = m.scene()?;
    let f = &s["frames"];
    Some((f["direct"].as_u64()?, f["bytes_composed_last"].as_u64()?))
}

#[test]
fn a_dmabuf_toplevel_covering_the_output_goes_to_the_glass_without_a_copy() {
    let mut m = WaylandMaster::start("wl-dmabuf-full");
    let (c, line) = probe(&m, &["--dmabuf", "memfd", "dma-full"], "dma-full");
    assert!(line.ends_with("shown 1280x800"), "{line}");
    // Headless drives no device: version 3 of the global, so no feedback.
    assert!(!c.output().contains("feedback"), "{}", c.output());
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    wait_until("the probe's dma-buf on the glass", LIMIT, || {
        d.screenshot().ok().is_some_and(|img| {
            [(0, 0), (640, 400), (1279, 799)]
                .iter()
                .all(|&(x, y)| img.pixel(x, y) & 0xff_ffff == PROBE)
        })
    });
    let (direct, composed) = wait_for("a frame scanned out as it is", LIMIT, || {
        frames(&m).filter(|&(direct, composed)| direct > 0 && composed == 0)
    });
    eprintln!("direct frames {direct}, bytes composed last {composed}");
    m.assert_running();
}

#[test]
fn a_dmabuf_toplevel_in_a_rectangle_is_composed_from_its_mapping() {
    let config = r#"
[[wayland.rule]]
app-id = "dma-small"
position = [100, 50]
size = [320, 200]
"#;
    let mut m = WaylandMaster::start_with("wl-dmabuf-small", Some(config));
    let (_c, line) = probe(&m, &["--dmabuf", "memfd", "dma-small"], "dma-small");
    assert!(line.ends_with("shown 320x200"), "{line}");
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    let img = wait_for("the probe's dma-buf composed", LIMIT, || {
        let img = d.screenshot().ok()?;
        let rgb = |x, y| img.pixel(x, y) & 0xff_ffff;
        (rgb(100, 50) == PROBE && rgb(419, 249) == PROBE).then_some(img)
    });
    // Only its rectangle: the background around it.
    assert_ne!(img.pixel(99, 50) & 0xff_ffff, PROBE);
    assert_ne!(img.pixel(420, 249) & 0xff_ffff, PROBE);
    let (direct, _) = frames(&m).expect("the status");
    assert_eq!(
        direct, 0,
        "a window that covers part of the output is composed"
    );
    m.assert_running();
}

#[test]
fn dmabufs_the_master_cannot_take_are_refused_and_it_carries_on() {
    let mut m = WaylandMaster::start("wl-dmabuf-bad");
    // An fd too small for its rows: the protocol's `out_of_bounds` error (smithay's check),
    // which disconnects that client.
    let mut short = m.client(
        &binary("fusionfb-wayland-probe"),
        &["--dmabuf", "short"],
        "dma-short",
    );
    let status = short.wait();
    let out = short.output();
    assert!(!status.success(), "{status}: {out}");
    assert!(
        out.contains("Protocol error 6 on object zwp_linux_buffer_params_v1"),
        "{out}"
    );
    // A plane that starts past byte 0: the master's own check, answered with `failed`.
    let mut offset = m.client(
        &binary("fusionfb-wayland-probe"),
        &["--dmabuf", "offset"],
        "dma-offset",
    );
    let status = offset.wait();
    let out = offset.output();
    assert!(status.success(), "{status}: {out}");
    assert!(out.contains("dmabuf refused"), "{out}");
    assert!(
        m.log_text().contains("dma-buf is refused"),
        "{}",
        m.log_text()
    );
    // Another client is shown as usual.
    let (_c, line) = probe(&m, &["--dmabuf", "memfd", "after"], "after");
    assert!(line.ends_with("shown 1280x800"), "{line}");
    m.assert_running();
}

/// A dma-buf is the client's again only when the master lets go of it: the one on the glass
/// is held (no `wl_buffer.release`) however long it stays, and released once the next one
/// replaced it and it left the glass; the new one is then held in its turn.
#[test]
fn a_dmabuf_on_the_glass_is_held_until_another_replaces_it() {
    let mut m = WaylandMaster::start("wl-dmabuf-release");
    let (c, line) = probe(&m, &["--dmabuf", "memfd", "dma-release"], "dma-release");
    assert!(line.ends_with("shown 1280x800"), "{line}");
    wait_for("the buffer scanned out", LIMIT, || {
        frames(&m).filter(|&(direct, _)| direct > 0)
    });
    let released = |c: &WaylandClient| {
        c.output()
            .lines()
            .filter(|l| l.ends_with(": released"))
            .count()
    };
    // Several frames on the glass (60 Hz), the buffer still held.
    let shown = frames(&m).map_or(0, |f| f.0);
    wait_until("more frames", LIMIT, || {
        frames(&m).is_some_and(|(d, _)| d > shown + 5)
    });
    assert_eq!(
        released(&c),
        0,
        "released while on the glass:\n{}",
        c.output()
    );
    // A tap makes the probe draw again in a new buffer: the first one comes back.
    m.fusionfb(&["input", "tap", "640", "400"])
        .expect("fusionfb input tap");
    wait_until("the first buffer released", LIMIT, || released(&c) >= 1);
    // The second is on the glass now: held.
    let shown = frames(&m).map_or(0, |f| f.0);
    wait_until("more frames", LIMIT, || {
        frames(&m).is_some_and(|(d, _)| d > shown + 5)
    });
    assert_eq!(released(&c), 1, "{}", c.output());
    m.assert_running();
}
