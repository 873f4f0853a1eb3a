//! The display server end to end on the headless backend: real client processes draw into
//! shared buffers, the master composes, and the pixels on the glass are checked.

use std::time::{Duration, Instant};

use fusion::barrier::Barrier;
use fusionfb::server::Server;
use fusionfb_client::display::{ClientEvent, Display};
use fusionfb_client::Format;
use fusionfb_protocol::{Injected, Rect, WindowChange};
use fusionfb_tests::{child_world, spawn, wait_until, world};
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};

const RED: u32 = 0xffff_0000;
const BACKGROUND: u32 = 0xff20_2028;

/// Entry point of child processes.
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let mut d = Display::connect_to(child_world()).unwrap();
    let mut barrier = Barrier::from_env().unwrap();
    match role.as_str() {
        // A red 200x100 window at (100, 50), then waits to be killed.
        "red-window" => {
            let mut s = d.create_surface(200, 100, Format::Xrgb8888, 2).unwrap();
            let _w = d.create_window(&s, 0, 100, 50).unwrap();
            s.back().fill(RED).unwrap();
            d.flip(&mut s, &[]).unwrap();
            d.wait_frame(&s, Duration::from_secs(10)).unwrap();
            barrier.place().unwrap();
            // Keep flipping (as an animating app would) until killed.
            loop {
                s.back().fill(RED).unwrap();
                match d.flip(&mut s, &[Rect::new(0, 0, 10, 10)]) {
                    Ok(()) => {
                        let _ = d.wait_frame(&s, Duration::from_secs(1));
                    }
                    Err(_) => d.dispatch(Some(Duration::from_millis(5))).unwrap(),
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn server(tag: &str) -> (Server, fusion::WorldConfig) {
    let w = world(tag);
    let backend =
        HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(320, 240, 60_000)]).unwrap();
    (Server::new(w.clone(), Box::new(backend)).unwrap(), w)
}

fn pixel(img: &gfx_drivers::Image, x: u32, y: u32) -> u32 {
    img.pixel(x, y) | 0xff00_0000
}

/// Runs the server until `f` (on another thread) is done.
fn with_server<T: Send + 'static>(s: &mut Server, f: impl FnOnce() -> T + Send + 'static) -> T {
    let h = std::thread::spawn(f);
    wait_until(
        "the client thread to finish",
        Duration::from_secs(30),
        || {
            s.dispatch(Some(Duration::from_millis(5))).unwrap();
            h.is_finished()
        },
    );
    h.join().unwrap()
}

#[test]
fn a_client_process_window_reaches_the_glass_and_vanishes_when_it_dies() {
    let (mut s, w) = server("red");
    let mut child = spawn("red-window", &w, &[]);
    wait_until("the client's window", Duration::from_secs(30), || {
        s.dispatch(Some(Duration::from_millis(5))).unwrap();
        child.barrier.sync(Some(Duration::from_millis(1))).is_ok()
    });
    let shot = s.screenshot().unwrap();
    assert_eq!((shot.width, shot.height), (320, 240));
    assert_eq!(pixel(&shot, 150, 75), RED, "inside the window");
    assert_eq!(pixel(&shot, 100, 50), RED, "its top-left corner");
    assert_eq!(pixel(&shot, 299, 149), RED, "its bottom-right corner");
    assert_eq!(pixel(&shot, 99, 50), BACKGROUND, "left of it");
    assert_eq!(pixel(&shot, 300, 149), BACKGROUND, "right of it");
    assert_eq!(pixel(&shot, 10, 10), BACKGROUND);
    assert_eq!(s.master().fusionees().len(), 1);

    // Killed mid-animation: its window is gone from the glass and the master composes on.
    child.kill();
    let frames = s.frames();
    assert!(s
        .dispatch_until(Duration::from_secs(20), |s| {
            s.master().fusionees().is_empty() && s.frames() > frames + 1
        })
        .unwrap());
    let shot = s.screenshot().unwrap();
    assert_eq!(
        pixel(&shot, 150, 75),
        BACKGROUND,
        "the dead client's window is gone"
    );
    assert!(
        s.master().snapshot().objects.is_empty(),
        "its objects are gone too"
    );
}

#[test]
fn windows_stack_blend_move_and_belong_to_their_owner() {
    let (mut s, w) = server("stack");
    let w1 = w.clone();
    let (a, b, img) = with_server(&mut s, move || {
        let mut a = Display::connect_to(w1.clone()).unwrap();
        let mut b = Display::connect_to(w1).unwrap();
        let mut red = a.create_surface(100, 100, Format::Xrgb8888, 1).unwrap();
        let wa = a.create_window(&red, 0, 0, 0).unwrap();
        red.back().fill(RED).unwrap();
        a.flip(&mut red, &[]).unwrap();
        // Back-pressure: a second flip before the frame is refused, never torn.
        assert!(matches!(
            a.flip(&mut red, &[]),
            Err(fusionfb_client::display::ClientError::Fusion(
                fusion::Error::Busy
            ))
        ));
        a.wait_frame(&red, Duration::from_secs(10)).unwrap();
        let mut blue = b.create_surface(100, 100, Format::Argb8888, 2).unwrap();
        let wb = b.create_window(&blue, 0, 50, 50).unwrap();
        // Half-transparent blue (premultiplied).
        blue.back().fill(0x8000_0080).unwrap();
        b.flip(&mut blue, &[]).unwrap();
        b.wait_frame(&blue, Duration::from_secs(10)).unwrap();
        // b may not touch a's window.
        assert!(matches!(
            b.set_window(&wa, WindowChange::Move { x: 5, y: 5 }),
            Err(fusionfb_client::display::ClientError::Fusion(
                fusion::Error::Access(_)
            ))
        ));
        // a moves its window; focus events reach the owner.
        a.set_window(&wa, WindowChange::Move { x: 200, y: 0 })
            .unwrap();
        a.set_window(&wa, WindowChange::Focus).unwrap();
        b.set_window(&wb, WindowChange::Opacity(255)).unwrap();
        let mut focus = false;
        for _ in 0..100 {
            a.dispatch(Some(Duration::from_millis(10))).unwrap();
            if let Some(ClientEvent::Focus { focused: true, .. }) = a.next_event() {
                focus = true;
                break;
            }
        }
        assert!(focus, "the focus event reached the window's owner");
        // The window's state is published in shared memory: no round trip to read it.
        let st = a.window_state(&wa).unwrap();
        assert_eq!((st.x, st.y, st.width, st.height), (200, 0, 100, 100));
        assert!(st.focused && st.visible);
        assert_eq!(st.opacity, 255);
        let stb = b.window_state(&wb).unwrap();
        assert!(!stb.focused);
        assert!(stb.z > st.z, "b's window was created later, so it is above");
        // Let a frame show the changes, then look at the glass through the protocol.
        red.back().fill(RED).unwrap();
        a.flip(&mut red, &[]).unwrap();
        a.wait_frame(&red, Duration::from_secs(10)).unwrap();
        let img = a.screenshot().unwrap();
        (a, b, img)
    });
    // Blue over the background at (60, 60): half blue over 0x202028.
    let p = pixel(&img, 60, 60);
    assert_eq!(
        p & 0xff,
        0x80 + (0x28 * 0x7f + 127) / 255,
        "blended blue: {p:#x}"
    );
    assert_eq!(pixel(&img, 250, 50), RED, "the moved red window");
    assert_eq!(pixel(&img, 20, 20), BACKGROUND, "where red was");
    drop((a, b));
}

#[test]
fn touches_reach_the_window_under_them_and_stay_there_until_up() {
    use fusionfb_protocol::{InjectedTouch, TouchPhase};
    let (mut s, w) = server("touch");
    let w1 = w.clone();
    let got = with_server(&mut s, move || {
        let mut a = Display::connect_to(w1.clone()).unwrap();
        let mut b = Display::connect_to(w1.clone()).unwrap();
        let mut tester = Display::connect_to(w1).unwrap();
        let mut sa = a.create_surface(100, 100, Format::Xrgb8888, 1).unwrap();
        let wa = a.create_window(&sa, 0, 0, 0).unwrap();
        let mut sb = b.create_surface(100, 100, Format::Xrgb8888, 1).unwrap();
        let wb = b.create_window(&sb, 0, 150, 0).unwrap();
        a.flip(&mut sa, &[]).unwrap();
        b.flip(&mut sb, &[]).unwrap();
        let t = |phase, slot, x, y| InjectedTouch { phase, slot, x, y };
        // Two fingers on two windows in one frame; then finger 0 drags over b's window.
        tester
            .inject_touch(&[
                t(TouchPhase::Down, 0, 10.0, 20.0),
                t(TouchPhase::Down, 1, 160.0, 30.0),
                t(TouchPhase::Frame, 0, 0.0, 0.0),
                t(TouchPhase::Motion, 0, 170.0, 40.0),
                t(TouchPhase::Frame, 0, 0.0, 0.0),
                t(TouchPhase::Up, 0, 170.0, 40.0),
                t(TouchPhase::Up, 1, 160.0, 30.0),
                t(TouchPhase::Frame, 0, 0.0, 0.0),
                // Outside every window: nobody gets it.
                t(TouchPhase::Down, 2, 300.0, 200.0),
                t(TouchPhase::Up, 2, 300.0, 200.0),
            ])
            .unwrap();
        let collect = |d: &mut Display| {
            let mut v = Vec::new();
            for _ in 0..50 {
                d.dispatch(Some(Duration::from_millis(10))).unwrap();
                while let Some(e) = d.next_event() {
                    if let ClientEvent::Touch { window, touch } = e {
                        v.push((window, touch.phase, touch.slot, touch.x, touch.y));
                    }
                }
                if v.len() >= 6 {
                    break;
                }
            }
            v
        };
        let ta = collect(&mut a);
        let tb = collect(&mut b);
        (wa.id(), wb.id(), ta, tb)
    });
    let (wa, wb, ta, tb) = got;
    use fusionfb_protocol::TouchPhase::*;
    // Window a: its finger, window-local, including the drag over b (implicit grab).
    assert!(ta.contains(&(wa, Down, 0, 10.0, 20.0)), "{ta:?}");
    assert!(ta.contains(&(wa, Motion, 0, 170.0, 40.0)), "{ta:?}");
    assert!(ta.contains(&(wa, Up, 0, 170.0, 40.0)), "{ta:?}");
    assert!(ta.iter().all(|e| e.2 == 0 || e.1 == Frame), "{ta:?}");
    // Window b: only finger 1, in its own coordinates.
    assert!(tb.contains(&(wb, Down, 1, 10.0, 30.0)), "{tb:?}");
    assert!(tb.contains(&(wb, Up, 1, 10.0, 30.0)), "{tb:?}");
    assert!(tb.iter().all(|e| e.2 == 1 || e.1 == Frame), "{tb:?}");
    assert!(
        ta.iter().chain(&tb).all(|e| e.2 != 2),
        "a touch outside reached a window"
    );
}

#[test]
fn a_single_opaque_full_screen_window_is_scanned_out_directly() {
    let (mut s, w) = server("direct");
    let w1 = w.clone();
    let (mut full, mut sf) = with_server(&mut s, move || {
        let mut d = Display::connect_to(w1).unwrap();
        let mut sf = d.create_surface(320, 240, Format::Xrgb8888, 2).unwrap();
        d.create_window(&sf, 0, 0, 0).unwrap();
        sf.back().fill(RED).unwrap();
        d.flip(&mut sf, &[]).unwrap();
        d.wait_frame(&sf, Duration::from_secs(10)).unwrap();
        (d, sf)
    });
    assert!(
        s.last_frame_direct(),
        "the full-screen window went to the plane as it is"
    );
    assert!(s.direct_frames() >= 1);
    assert_eq!(pixel(&s.screenshot().unwrap(), 160, 120), RED);
    // Its next frame too (the other buffer).
    let (full2, sf2) = with_server(&mut s, move || {
        sf.back().fill(0xff00_ff00).unwrap();
        full.flip(&mut sf, &[]).unwrap();
        full.wait_frame(&sf, Duration::from_secs(10)).unwrap();
        (full, sf)
    });
    assert!(s.last_frame_direct());
    assert_eq!(pixel(&s.screenshot().unwrap(), 160, 120), 0xff00_ff00);
    // A second window on top: back to composition, both visible.
    let w2 = w.clone();
    let other = with_server(&mut s, move || {
        let mut d = Display::connect_to(w2).unwrap();
        let mut so = d.create_surface(50, 50, Format::Xrgb8888, 1).unwrap();
        d.create_window(&so, 0, 10, 10).unwrap();
        so.back().fill(RED).unwrap();
        d.flip(&mut so, &[]).unwrap();
        d.wait_frame(&so, Duration::from_secs(10)).unwrap();
        (d, so)
    });
    assert!(!s.last_frame_direct(), "two windows are composed");
    let shot = s.screenshot().unwrap();
    assert_eq!(pixel(&shot, 20, 20), RED, "the small window");
    assert_eq!(
        pixel(&shot, 200, 200),
        0xff00_ff00,
        "the full-screen one under it"
    );
    drop((full2, sf2, other));
}

#[test]
fn a_rotated_panel_shows_applications_upright() {
    use fusionfb::compose::{Size, Transform};
    let w = world("rotated");
    let backend =
        HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(320, 240, 60_000)]).unwrap();
    let mut s = Server::with_transform(w.clone(), Box::new(backend), Transform::Rotate90).unwrap();
    assert_eq!(s.size(), (240, 320), "applications see the upright output");
    let (d, surf) = with_server(&mut s, move || {
        let mut d = Display::connect_to(w).unwrap();
        assert_eq!((d.output().width, d.output().height), (240, 320));
        let mut surf = d.create_surface(100, 50, Format::Xrgb8888, 2).unwrap();
        d.create_window(&surf, 0, 0, 0).unwrap();
        surf.back().fill(RED).unwrap();
        d.flip(&mut surf, &[]).unwrap();
        d.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        (d, surf)
    });
    let shot = s.screenshot().unwrap();
    assert_eq!(
        (shot.width, shot.height),
        (320, 240),
        "the glass keeps its own orientation"
    );
    let logical = Size::new(240, 320);
    let p = Transform::Rotate90.rect_to_physical(Rect::new(0, 0, 100, 50), logical);
    let (x, y) = p.origin_unsigned();
    let (cx, cy) = (x + p.w / 2, y + p.h / 2);
    assert_eq!(
        pixel(&shot, cx, cy),
        RED,
        "the window, turned onto the glass at {p:?}"
    );
    assert_ne!((p.w, p.h), (100, 50), "turned by 90 degrees");
    // The window sits at the glass's top right: the picture turned clockwise.
    assert_eq!(p, Rect::new(270, 0, 50, 100));
    let outside = Transform::Rotate90.rect_to_physical(Rect::new(150, 200, 1, 1), logical);
    let (ox, oy) = outside.origin_unsigned();
    assert_eq!(pixel(&shot, ox, oy), BACKGROUND);
    drop((d, surf));
}

#[test]
fn a_full_screen_window_on_a_rotated_panel_is_composed_not_scanned_out() {
    use fusionfb::compose::Transform;
    let w = world("rotated-full");
    let backend =
        HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(320, 240, 60_000)]).unwrap();
    let mut s = Server::with_transform(w.clone(), Box::new(backend), Transform::Rotate90).unwrap();
    // An opaque, double-buffered window covering the upright output: scanned out as it is,
    // it would be a 240x320 buffer on a 320x240 plane (what the fbdev backend refused on
    // the board).
    let (d, surf) = with_server(&mut s, move || {
        let mut d = Display::connect_to(w).unwrap();
        let mut surf = d.create_surface(240, 320, Format::Xrgb8888, 2).unwrap();
        d.create_window(&surf, 0, 0, 0).unwrap();
        surf.back().fill(RED).unwrap();
        d.flip(&mut surf, &[]).unwrap();
        d.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        (d, surf)
    });
    assert!(!s.last_frame_direct(), "a rotated output composes");
    assert_eq!(s.direct_frames(), 0);
    let shot = s.screenshot().unwrap();
    assert_eq!((shot.width, shot.height), (320, 240));
    for (x, y) in [(0, 0), (319, 0), (160, 120), (0, 239), (319, 239)] {
        assert_eq!(pixel(&shot, x, y), RED, "the glass at ({x}, {y})");
    }
    drop((d, surf));
}

#[test]
fn events_arrive_through_calloop_and_the_blocking_iterator() {
    use fusionfb_client::events::DisplaySource;
    let (mut s, w) = server("events");
    let w1 = w.clone();
    let got = with_server(&mut s, move || {
        let mut d = Display::connect_to(w1).unwrap();
        let mut surf = d.create_surface(64, 64, Format::Xrgb8888, 2).unwrap();
        let win = d.create_window(&surf, 0, 0, 0).unwrap();
        surf.back().fill(RED).unwrap();
        d.flip(&mut surf, &[]).unwrap();
        d.set_window(&win, WindowChange::Focus).unwrap();
        let mut ev: calloop::EventLoop<Vec<ClientEvent>> = calloop::EventLoop::try_new().unwrap();
        ev.handle()
            .insert_source(DisplaySource::new(d).unwrap(), |e, _, seen| seen.push(e))
            .unwrap();
        let mut seen = Vec::new();
        // Without them after the limit, the test's own checks say what was missing.
        fusionfb_tests::poll_for(Duration::from_secs(10), || {
            ev.dispatch(Some(Duration::from_millis(20)), &mut seen)
                .unwrap();
            let frame = seen
                .iter()
                .any(|e| matches!(e, ClientEvent::FrameDone { .. }));
            let focus = seen
                .iter()
                .any(|e| matches!(e, ClientEvent::Focus { focused: true, .. }));
            (frame && focus).then_some(())
        });
        (seen, surf)
    });
    let (seen, _surf) = got;
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClientEvent::FrameDone { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClientEvent::Focus { focused: true, .. })),
        "{seen:?}"
    );

    // The blocking iterator ends with MasterGone when the master goes.
    let mut d = with_server(&mut s, {
        let w = w.clone();
        move || Display::connect_to(w).unwrap()
    });
    drop(s);
    let events: Vec<ClientEvent> = d.events().collect();
    assert_eq!(events.last(), Some(&ClientEvent::MasterGone));
}

#[test]
fn a_client_can_take_the_primary_layer_exclusively_with_zero_copies() {
    let (mut s, w) = server("exclusive");
    let w1 = w.clone();
    let (windowed, excl, surf) = with_server(&mut s, move || {
        // Someone has a window…
        let mut a = Display::connect_to(w1.clone()).unwrap();
        let mut sa = a.create_surface(50, 50, Format::Xrgb8888, 1).unwrap();
        a.create_window(&sa, 0, 10, 10).unwrap();
        sa.back().fill(0xff00_ff00).unwrap();
        a.flip(&mut sa, &[]).unwrap();
        a.wait_frame(&sa, Duration::from_secs(10)).unwrap();
        // …then a video-player-like client takes the whole plane.
        let mut b = Display::connect_to(w1.clone()).unwrap();
        let mut surf = b.acquire_layer(0).unwrap();
        assert_eq!((surf.width(), surf.height()), (320, 240));
        let mut c = Display::connect_to(w1).unwrap();
        assert!(matches!(
            c.acquire_layer(0),
            Err(fusionfb_client::display::ClientError::Fusion(
                fusion::Error::Busy
            ))
        ));
        surf.back().fill(RED).unwrap();
        b.flip(&mut surf, &[]).unwrap();
        b.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        ((a, sa), b, surf)
    });
    let shot = s.screenshot().unwrap();
    assert_eq!(
        pixel(&shot, 20, 20),
        RED,
        "the exclusive buffer is on the glass, not the window"
    );
    assert_eq!(pixel(&shot, 300, 200), RED);
    // The glass shows the client's own buffer: a pixel it writes into the buffer on the
    // glass shows up without any flip, copy or composition.
    let shown = 1 - surf.back_index() as usize;
    surf.buffers()[shown]
        .fill_rect(gfx_drivers::backend::Rect::new(5, 5, 2, 2), 0xff00_00ff)
        .unwrap();
    assert_eq!(
        pixel(&s.screenshot().unwrap(), 5, 5),
        0xff00_00ff,
        "zero copies"
    );
    // Releasing gives the plane back to composition: the window is there again.
    let mut excl = excl;
    with_server(&mut s, move || {
        excl.release_layer(0).unwrap();
        excl
    });
    assert!(s
        .dispatch_until(Duration::from_secs(10), |s| {
            s.screenshot()
                .map(|i| pixel(&i, 20, 20) == 0xff00_ff00)
                .unwrap_or(false)
        })
        .unwrap());
    assert_eq!(pixel(&s.screenshot().unwrap(), 300, 200), BACKGROUND);
    drop((windowed, surf));
}

/// A 320x240 server with an exclusive-capable 100x80 overlay layer (id 1) at (50, 40), on a
/// headless output that refuses overlay planes when `refuse` says so.
fn overlay_server(name: &str, refuse: bool) -> (Server, fusion::WorldConfig) {
    use fusionfb::server::LayerSpec;
    use gfx_drivers::backend::PlaneKind;
    let w = world(name);
    let backend = HeadlessBackend::new(vec![HeadlessOutputConfig::new()
        .mode(320, 240, 60_000)
        .refuse_overlays(refuse)])
    .unwrap();
    let overlay = LayerSpec {
        id: 1,
        kind: PlaneKind::Overlay,
        allow_exclusive: true,
        size: Some((100, 80)),
        position: (50, 40),
        output: None,
    };
    let s = Server::with_layers(
        w.clone(),
        Box::new(backend),
        fusionfb::compose::Transform::Normal,
        vec![LayerSpec::primary(), overlay],
    )
    .unwrap();
    (s, w)
}

#[test]
fn an_overlay_layer_taken_exclusively_shows_the_clients_buffer_on_its_plane() {
    let (mut s, w) = overlay_server("overlay", false);
    let (d, surf) = with_server(&mut s, move || {
        let mut d = Display::connect_to(w).unwrap();
        assert_eq!(d.layers().len(), 2);
        assert_eq!(d.layers()[1].kind, "overlay");
        let mut surf = d.acquire_layer(1).unwrap();
        assert_eq!((surf.width(), surf.height()), (100, 80));
        surf.back().fill(RED).unwrap();
        d.flip(&mut surf, &[]).unwrap();
        d.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        (d, surf)
    });
    let shown = s
        .layer_on_glass(1)
        .expect("the overlay plane shows something");
    assert_eq!(shown.snapshot().pixel(50, 40) | 0xff00_0000, RED);
    // The plane scans out the client's own memory: a pixel it writes there shows at once.
    surf.buffers()[0]
        .fill_rect(gfx_drivers::backend::Rect::new(3, 3, 1, 1), 0xff00_00ff)
        .unwrap();
    assert_eq!(
        shown.snapshot().pixel(3, 3) | 0xff00_0000,
        0xff00_00ff,
        "zero copies"
    );
    // The primary plane keeps composing the shared windows underneath; a screenshot shows
    // the glass as the display controller blends it: the overlay plane at its position.
    let glass = s.screenshot().unwrap();
    assert_eq!(pixel(&glass, 10, 10), BACKGROUND);
    assert_eq!(pixel(&glass, 50 + 50, 40 + 40), RED);
    assert_eq!(pixel(&glass, 50 + 3, 40 + 3), 0xff00_00ff);
    assert_eq!(
        pixel(&glass, 50 + 100, 40 + 80),
        BACKGROUND,
        "just outside it"
    );
    // Released: the overlay plane is switched off.
    let mut d = d;
    with_server(&mut s, move || {
        d.release_layer(1).unwrap();
        d
    });
    assert!(s
        .dispatch_until(Duration::from_secs(10), |s| s.layer_on_glass(1).is_none())
        .unwrap());
    drop(surf);
}

/// Commits the display does not take are tried again; the client's frame gets through in
/// the end and the master keeps serving.
#[test]
fn failed_commits_are_tried_again_without_losing_the_client() {
    let w = world("failing");
    let backend = HeadlessBackend::new(vec![HeadlessOutputConfig::new()
        .mode(320, 240, 60_000)
        .fail_commits(3)])
    .unwrap();
    let mut s = Server::new(w.clone(), Box::new(backend)).unwrap();
    let (d, surf) = with_server(&mut s, move || {
        let mut d = Display::connect_to(w).unwrap();
        let mut surf = d.create_surface(40, 30, Format::Xrgb8888, 2).unwrap();
        d.create_window(&surf, 0, 20, 10).unwrap();
        surf.back().fill(RED).unwrap();
        d.flip(&mut surf, &[]).unwrap();
        d.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        (d, surf)
    });
    assert_eq!(s.commit_errors(), 3);
    assert_eq!(pixel(&s.screenshot().unwrap(), 25, 15), RED);
    drop((d, surf));
}

/// A display that refuses the overlay plane at commit (as a DRM driver's TEST_ONLY check
/// does, vc4 with an unsupported size, say): the master composes the holder's buffer into
/// the primary plane instead, the client still gets its frames, and nothing is lost.
#[test]
fn a_refused_overlay_plane_is_composed_instead() {
    let (mut s, w) = overlay_server("refused", true);
    let (d, surf) = with_server(&mut s, move || {
        let mut d = Display::connect_to(w).unwrap();
        let mut surf = d.acquire_layer(1).unwrap();
        surf.back().fill(RED).unwrap();
        d.flip(&mut surf, &[]).unwrap();
        d.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        (d, surf)
    });
    assert!(
        s.layer_on_glass(1).is_none(),
        "the refused plane shows nothing"
    );
    assert_eq!(
        s.commit_errors(),
        0,
        "a refused plane is not a failed frame"
    );
    let glass = s.screenshot().unwrap();
    assert_eq!(pixel(&glass, 10, 10), BACKGROUND);
    assert_eq!(pixel(&glass, 50, 40), RED, "composed at the layer's place");
    assert_eq!(pixel(&glass, 50 + 99, 40 + 79), RED);
    assert_eq!(pixel(&glass, 50 + 100, 40 + 80), BACKGROUND);

    // The holder draws on: a damaged flip is composed again.
    let (d, surf) = with_server(&mut s, move || {
        let (mut d, mut surf) = (d, surf);
        surf.back().fill(RED).unwrap();
        surf.back()
            .fill_rect(gfx_drivers::backend::Rect::new(10, 10, 4, 4), 0xff00_00ff)
            .unwrap();
        let damage = [fusionfb_protocol::Rect::new(10, 10, 4, 4)];
        d.flip(&mut surf, &damage).unwrap();
        d.wait_frame(&surf, Duration::from_secs(10)).unwrap();
        (d, surf)
    });
    let glass = s.screenshot().unwrap();
    assert_eq!(pixel(&glass, 50 + 11, 40 + 11), 0xff00_00ff);
    assert_eq!(pixel(&glass, 50 + 20, 40 + 20), RED);

    // Released: the composed layer is gone from the primary plane.
    let mut d = d;
    with_server(&mut s, move || {
        d.release_layer(1).unwrap();
        d
    });
    assert!(s
        .dispatch_until(Duration::from_secs(10), |s| {
            s.screenshot()
                .is_ok_and(|g| pixel(&g, 50 + 20, 40 + 20) == BACKGROUND)
        })
        .unwrap());
    drop(surf);
}

#[test]
fn layers_surfaces_and_windows_are_published_in_shared_memory() {
    use fusionfb_client::display::ClientEvent;
    let (mut s, w) = server("descriptors");
    let w1 = w.clone();
    let (a, holder) = with_server(&mut s, move || {
        let mut a = Display::connect_to(w1.clone()).unwrap();
        let mut sa = a.create_surface(40, 30, Format::Argb8888, 2).unwrap();
        let before = a.surface_state(&sa).unwrap();
        assert_eq!(
            (before.width, before.height, before.buffers, before.front),
            (40, 30, 2, None)
        );
        assert_eq!(before.owner, a.slave().id());
        let win = a.create_window(&sa, 0, 7, 9).unwrap();
        sa.back().fill(0xff00_ff00).unwrap();
        a.flip(&mut sa, &[]).unwrap();
        a.wait_frame(&sa, Duration::from_secs(10)).unwrap();
        let after = a.surface_state(&sa).unwrap();
        assert_eq!((after.front, after.flips, after.presented), (Some(0), 1, 1));
        assert!(!after.in_flight);
        assert_eq!(after.windows, 1);
        let layer = a.layer_state(0).unwrap();
        assert_eq!((layer.windows, layer.exclusive_surface), (1, None));
        assert!(layer.hardware);
        // Another application takes the layer; a watcher hears of it and reads who.
        a.watch_layer(0).unwrap();
        let mut b = Display::connect_to(w1).unwrap();
        let excl = b.acquire_layer(0).unwrap();
        wait_until("LayerChanged", Duration::from_secs(10), || {
            a.dispatch(Some(Duration::from_millis(20))).unwrap();
            std::iter::from_fn(|| a.next_event())
                .any(|e| e == ClientEvent::LayerChanged { layer: 0 })
        });
        let layer = a.layer_state(0).unwrap();
        assert_eq!(layer.exclusive_surface, Some(excl.id()));
        assert_eq!(layer.exclusive_owner, b.slave().id());
        assert_eq!(b.surface_state(&excl).unwrap().exclusive_layer, Some(0));
        // The whole scene, in one call (what `fusionfb status` shows).
        let scene = a.describe().unwrap();
        assert_eq!(scene.layers.len(), 1);
        assert_eq!(scene.surfaces.len(), 2);
        assert_eq!(scene.windows.len(), 1);
        // The same as in shared memory, but for when it was stacked (shared memory only).
        let shared = a.window_state(&win).unwrap();
        assert!(shared.stacked > 0);
        assert_eq!(
            scene.windows[0],
            fusionfb_protocol::WindowDescriptor {
                stacked: 0,
                ..shared
            }
        );
        assert_eq!((scene.windows[0].x, scene.windows[0].y), (7, 9));
        ((a, sa, win), (b, excl))
    });
    // The holder goes away: the layer is shared again, and says so.
    drop(holder);
    let (mut a, sa, win) = a;
    assert!(s
        .dispatch_until(Duration::from_secs(10), |s| {
            s.master().fusionees().len() == 1
        })
        .unwrap());
    let layer = with_server(&mut s, move || {
        let state = a.layer_state(0).unwrap();
        drop((sa, win));
        state
    });
    assert_eq!(
        (layer.exclusive_surface, layer.exclusive_owner),
        (None, fusion::FusioneeId(0))
    );
}

/// The master is one calloop loop: a source added to it (as the Wayland display will be) is
/// one `insert_source`, and its callback gets the whole server, in the same turn as the
/// master's own sources.
#[test]
fn a_source_added_to_the_servers_loop_runs_with_the_server() {
    let (mut s, _w) = server("loop-source");
    let (ping, source) = calloop::ping::make_ping().unwrap();
    s.loop_handle()
        .insert_source(source, |_, _, s: &mut Server| s.set_background(0x12_34_56))
        .unwrap();
    ping.ping();
    wait_until(
        "the added source's callback to change the glass",
        Duration::from_secs(20),
        || {
            s.dispatch(Some(Duration::from_millis(20))).unwrap();
            pixel(&s.screenshot().unwrap(), 5, 5) == 0xff12_3456
        },
    );
}

/// `LayerAdopt` (a rejoining application taking back the layer it held) on the wire: what
/// does not fit the layer, or could shrink under the master's mapping, is refused with a
/// reason; sealed memory of the layer's size is taken and shown, and the layer is then held.
#[test]
fn a_layer_handed_back_must_fit_the_layer_and_be_sealed() {
    use std::os::fd::AsFd;

    use fusionfb_protocol::{Reply, Request};

    let (mut s, w) = server("layer-adopt");
    let w1 = w.clone();
    let results = with_server(&mut s, move || {
        let mut slave = fusion::Slave::enter(w1).unwrap();
        let root: fusionfb_protocol::Root = fusion::call::decode(&slave.root().unwrap()).unwrap();
        let sealed = |wd, h| {
            let b = gfx_drivers::Buffer::new_memfd(wd, h, gfx_drivers::Format::Xrgb8888).unwrap();
            b.fill(RED).unwrap();
            b.export().unwrap()
        };
        let mut adopt = |(wd, h): (u32, u32), fd: std::os::fd::OwnedFd| {
            let req = Request::LayerAdopt {
                layer: 0,
                id: 77,
                width: wd,
                height: h,
                format: fusionfb_protocol::FORMAT_XRGB8888,
                pitch: wd * 4,
                front: Some(0),
            };
            let payload = fusion::call::encode(&req).unwrap();
            slave
                .call_execute_fds(root.call, 0, &payload, &[fd.as_fd()])
                .map(|(b, _)| fusion::call::decode::<Reply>(&b).unwrap())
        };
        let wrong_size = adopt((100, 100), sealed(100, 100));
        // A memfd without seals: whoever holds it could shrink it.
        let loose_fd = rustix::fs::memfd_create("loose", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&loose_fd, 320 * 240 * 4).unwrap();
        let loose = adopt((320, 240), loose_fd);
        let taken = adopt((320, 240), sealed(320, 240));
        let again = adopt((320, 240), sealed(320, 240));
        (slave, [wrong_size, loose, taken, again])
    });
    let (_slave, [wrong_size, loose, taken, again]) = results;
    let refusal = |r: &fusion::Result<Reply>| match r {
        Err(fusion::Error::Invalid(why)) => why.clone(),
        other => panic!("not refused as invalid: {other:?}"),
    };
    assert!(refusal(&wrong_size).contains("320x240"), "{wrong_size:?}");
    assert!(refusal(&loose).contains("sealed"), "{loose:?}");
    match &taken {
        Ok(Reply::Surface(info)) => assert_eq!((info.id, info.width), (77, 320)),
        other => panic!("the layer was not taken back: {other:?}"),
    }
    assert!(matches!(again, Err(fusion::Error::Busy)), "{again:?}");
    // Held, and the buffer handed back is on the glass without a flip.
    let scene = s.scene();
    assert_eq!(scene.layers[0].exclusive_surface, Some(77));
    wait_until(
        "the handed-back buffer on the glass",
        Duration::from_secs(10),
        || {
            s.dispatch(Some(Duration::from_millis(5))).unwrap();
            pixel(&s.screenshot().unwrap(), 160, 120) == RED
        },
    );
}

/// What the server did and when, turn by turn, while a client thread runs: `'p'` for a
/// frame presented, `'f'` for a frame committed.
fn frame_log<T: Send + 'static>(
    s: &mut Server,
    mut each_turn: impl FnMut(&mut Server),
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Vec<(char, Instant)>) {
    let h = std::thread::spawn(f);
    let mut log = Vec::new();
    let (mut presented, mut frames) = (s.presented(), s.frames());
    wait_until(
        "the client thread to finish",
        Duration::from_secs(60),
        || {
            each_turn(s);
            s.dispatch(Some(Duration::from_millis(5))).unwrap();
            let now = Instant::now();
            if s.presented() != presented {
                log.push(('p', now));
            }
            if s.frames() != frames {
                log.push(('f', now));
            }
            (presented, frames) = (s.presented(), s.frames());
            h.is_finished()
        },
    );
    (h.join().unwrap(), log)
}

/// Two 50x50 windows side by side on an output that ticks every 2 s; the client draws both,
/// waits for that frame, then draws only the first (or both, with `both`) and waits again;
/// with `pointer`, a visible cursor moves all the while. Returns how long after that
/// presentation the next frame was committed.
fn next_frame_after_redrawing(tag: &str, both: bool, pointer: bool) -> Duration {
    let w = world(tag);
    let backend =
        HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(320, 240, 500)]).unwrap();
    let mut s = Server::new(w.clone(), Box::new(backend)).unwrap();
    if pointer {
        // No pointing device on a test machine: shown by config.
        s.set_cursor_visible(Some(true));
    }
    let mut turn = 0u64;
    let each_turn = move |s: &mut Server| {
        if pointer {
            turn += 1;
            let dx = if turn % 2 == 0 { 1.0 } else { -1.0 };
            s.inject(vec![Injected::PointerMotion { dx, dy: 0.0 }], turn)
                .unwrap();
        }
    };
    let ((), log) = frame_log(&mut s, each_turn, move || {
        let mut d = Display::connect_to(w).unwrap();
        let mut a = d.create_surface(50, 50, Format::Xrgb8888, 2).unwrap();
        let mut b = d.create_surface(50, 50, Format::Xrgb8888, 2).unwrap();
        let _wa = d.create_window(&a, 0, 10, 10).unwrap();
        let _wb = d.create_window(&b, 0, 100, 10).unwrap();
        for s in [&mut a, &mut b] {
            s.back().fill(RED).unwrap();
            d.flip(s, &[]).unwrap();
        }
        d.wait_frame(&a, Duration::from_secs(20)).unwrap();
        // Answers at once, as an animating client does.
        a.back().fill(RED).unwrap();
        d.flip(&mut a, &[]).unwrap();
        if both {
            b.back().fill(RED).unwrap();
            d.flip(&mut b, &[]).unwrap();
        }
        d.wait_frame(&a, Duration::from_secs(20)).unwrap();
    });
    // The last frame committed (the second drawing) and the presentation before it (the
    // first drawing's, whose FrameDone the client answered).
    let f = log
        .iter()
        .rposition(|e| e.0 == 'f')
        .expect("a frame committed");
    let p = log[..f]
        .iter()
        .rev()
        .find(|e| e.0 == 'p')
        .expect("a frame presented before it");
    log[f].1 - p.1
}

/// The next frame was committed at the compose deadline, 4 ms before the vblank 2 s after
/// the presentation, not before.
fn assert_waited_for_the_deadline(after: Duration) {
    assert!(
        after >= Duration::from_millis(1900),
        "committed {after:?} after the presentation, before the deadline"
    );
}

/// A frame is composed as soon as every visible window has drawn since the last one,
/// instead of at the compose deadline 4 ms before the next vblank (here 2 s away): the
/// clients' flips are all in, so the timer's wake-up is saved.
#[test]
fn a_frame_is_composed_at_once_when_every_visible_window_has_drawn() {
    let after = next_frame_after_redrawing("drawn-all", true, false);
    assert!(
        after < Duration::from_millis(1500),
        "committed {after:?} after the presentation: it waited for the deadline"
    );
}

/// While a visible window has not drawn (an idle clock beside an animation), the frame waits
/// for the compose deadline, so a flip that window makes before then still reaches the next
/// vblank.
#[test]
fn a_frame_waits_for_the_deadline_while_a_visible_window_has_not_drawn() {
    assert_waited_for_the_deadline(next_frame_after_redrawing("drawn-one", false, false));
}

/// A visible cursor on the move keeps the deadline too, even when every window has drawn:
/// the frame shows where the pointer is just before the vblank.
#[test]
fn a_frame_waits_for_the_deadline_while_the_cursor_moves() {
    assert_waited_for_the_deadline(next_frame_after_redrawing("drawn-pointer", true, true));
}
