//! The headless backend with real memfds, real timers and a real client process.
//!
//! Timing is checked by structure, never by the wall clock: presents arrive in order, their
//! vblank counters and timestamps increase, and timestamps sit on the output's vblank grid.
#![cfg(feature = "headless")]

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use gfx_drivers::format::premultiply;
use gfx_drivers::{
    readiness_source, Backend, BackendEvent, BackendSource, Buffer, BufferDesc, CommitId, Error,
    Format, HeadlessBackend, HeadlessOutputConfig, Mode, OutputId, PlaneId, PlaneKind, PlaneUpdate,
    Presented, Rect, Transform,
};

/// 250 Hz: a 4 ms vblank keeps the tests short.
const FAST: u32 = 250_000;

fn backend(w: u32, h: u32, refresh_mhz: u32) -> HeadlessBackend {
    HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(w, h, refresh_mhz)]).unwrap()
}

fn planes(b: &HeadlessBackend, output: OutputId) -> (PlaneId, PlaneId) {
    let info = b.output(output).unwrap();
    (
        info.plane(PlaneKind::Primary).unwrap().id,
        info.plane(PlaneKind::Overlay).unwrap().id,
    )
}

/// Dispatches until `n` presents arrived (ignoring empty wake-ups).
fn wait_presents(b: &mut dyn Backend, n: usize) -> Vec<Presented> {
    let mut out = Vec::new();
    while out.len() < n {
        for e in b.dispatch_timeout(Some(Duration::from_secs(5))).unwrap() {
            match e {
                BackendEvent::Presented(p) => out.push(p),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

#[test]
fn default_output_describes_itself() {
    let b = HeadlessBackend::new_default().unwrap();
    assert_eq!(b.name(), "headless");
    let outputs = b.outputs();
    assert_eq!(outputs.len(), 1);
    let info = b.output(outputs[0]).unwrap();
    assert_eq!(info.name, "HEADLESS-1");
    assert_eq!(info.current_mode, Mode::new(1280, 800, 60_000));
    assert_eq!(info.modes, vec![info.current_mode]);
    assert_eq!(info.transform, Transform::Normal);
    assert_eq!(info.physical_size_mm, (0, 0));
    let kinds: Vec<_> = info.planes.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [PlaneKind::Primary, PlaneKind::Overlay, PlaneKind::Cursor]
    );
    assert!(info.planes[0].zpos < info.planes[1].zpos);
    assert!(info.planes[1].zpos < info.planes[2].zpos);
    for p in &info.planes[..2] {
        assert_eq!(p.formats, Format::ALL.to_vec());
        assert_eq!(p.max_size, None);
    }
    assert_eq!(info.planes[2].formats, [Format::Argb8888]);
    assert_eq!(info.planes[2].max_size, Some((64, 64)));
    let without =
        HeadlessBackend::new(vec![HeadlessOutputConfig::new().cursor_plane(false)]).unwrap();
    let info = without.output(without.outputs()[0]).unwrap();
    assert!(info.plane(PlaneKind::Cursor).is_none());
}

/// The cursor plane shows a small ARGB buffer on top of everything in the capture; moving
/// it is a commit of the same buffer at another position, and a buffer larger than the
/// plane is refused.
#[test]
fn the_cursor_plane_shows_and_moves_on_the_glass() {
    let mut b = backend(64, 48, FAST);
    let output = b.outputs()[0];
    let (primary, _) = planes(&b, output);
    let cursor = b
        .output(output)
        .unwrap()
        .plane(PlaneKind::Cursor)
        .unwrap()
        .id;
    let frame = b.allocate(64, 48, Format::Xrgb8888).unwrap();
    frame.fill(0xff00_00ff).unwrap();
    let arrow = b.allocate(8, 8, Format::Argb8888).unwrap();
    arrow.fill(0xffff_ffff).unwrap();
    b.commit(
        output,
        &[
            PlaneUpdate::show(primary, &frame),
            PlaneUpdate::show(cursor, &arrow).at(10, 20),
        ],
    )
    .unwrap();
    wait_presents(&mut b, 1);
    let img = b.capture(output).unwrap();
    assert_eq!(img.pixel(10, 20), 0xffff_ffff);
    assert_eq!(img.pixel(17, 27), 0xffff_ffff);
    assert_eq!(img.pixel(18, 20), 0xff00_00ff);
    // A move: the cursor plane alone, the primary untouched.
    b.commit(output, &[PlaneUpdate::show(cursor, &arrow).at(60, 44)])
        .unwrap();
    wait_presents(&mut b, 1);
    let img = b.capture(output).unwrap();
    assert_eq!(img.pixel(10, 20), 0xff00_00ff);
    assert_eq!(img.pixel(63, 47), 0xffff_ffff, "clipped at the edge");
    assert_eq!(
        b.on_glass(output, primary).unwrap().unwrap().id(),
        frame.id()
    );
    let big = b.allocate(65, 8, Format::Argb8888).unwrap();
    assert!(matches!(
        b.commit(output, &[PlaneUpdate::show(cursor, &big)]),
        Err(Error::InvalidCommit(_))
    ));
    let xrgb = b.allocate(8, 8, Format::Xrgb8888).unwrap();
    assert!(matches!(
        b.commit(output, &[PlaneUpdate::show(cursor, &xrgb)]),
        Err(Error::UnsupportedFormat { .. })
    ));
}

#[test]
fn presents_complete_in_order_on_the_vblank_grid() {
    let mut b = backend(64, 48, FAST);
    let output = b.outputs()[0];
    let (primary, _) = planes(&b, output);
    let bufs = [
        b.allocate(64, 48, Format::Xrgb8888).unwrap(),
        b.allocate(64, 48, Format::Xrgb8888).unwrap(),
    ];
    let mut seen: Vec<(CommitId, Presented, u64)> = Vec::new();
    for i in 0..12 {
        let before = fusionfb_sys::now_ns();
        let id = b.present(output, primary, &bufs[i % 2], &[]).unwrap();
        let p = wait_presents(&mut b, 1)[0];
        let after = fusionfb_sys::now_ns();
        assert_eq!(p.output, output);
        assert_eq!(p.commit, id);
        // The vblank came after the commit and was reported after it happened.
        assert!(p.time_ns > before && p.time_ns <= after);
        assert_eq!(p.refresh_ns, 4_000_000);
        seen.push((id, p, before));
    }
    for w in seen.windows(2) {
        let (a, b) = (&w[0].1, &w[1].1);
        assert!(b.commit > a.commit);
        assert!(b.sequence > a.sequence, "{a:?} {b:?}");
        assert!(b.time_ns > a.time_ns);
        // Vblanks tick at the refresh rate: times differ by whole intervals, and the counter
        // moves by exactly that many vblanks.
        let dt = b.time_ns - a.time_ns;
        assert_eq!(dt % a.refresh_ns, 0);
        assert_eq!(dt / a.refresh_ns, b.sequence - a.sequence);
    }
}

#[test]
fn a_second_commit_in_flight_is_refused_and_nothing_tears() {
    let mut b = backend(32, 32, FAST);
    let output = b.outputs()[0];
    let (primary, overlay) = planes(&b, output);
    let front = b.allocate(32, 32, Format::Xrgb8888).unwrap();
    let back = b.allocate(32, 32, Format::Xrgb8888).unwrap();

    let first = b.present(output, primary, &front, &[]).unwrap();
    assert!(b.is_pending(output).unwrap());
    assert!(front.is_busy(), "a pending buffer is busy");
    // Neither another present, nor a commit of another plane, nor a mode change.
    assert!(matches!(b.present(output, primary, &back, &[]), Err(Error::Busy(o)) if o == output));
    let cursor = b.allocate(8, 8, Format::Argb8888).unwrap();
    assert!(matches!(
        b.commit(output, &[PlaneUpdate::show(overlay, &cursor)]),
        Err(Error::Busy(_))
    ));
    assert!(matches!(
        b.set_mode(output, Mode::new(32, 32, FAST)),
        Err(Error::Busy(_))
    ));
    assert!(
        !back.is_busy() && !cursor.is_busy(),
        "a refused commit holds nothing"
    );

    let p = wait_presents(&mut b, 1);
    assert_eq!(p.len(), 1, "the refused commits were not queued");
    assert_eq!(p[0].commit, first);
    assert!(!b.is_pending(output).unwrap());
    assert!(front.is_busy(), "on the glass, still busy");

    b.present(output, primary, &back, &[Rect::new(0, 0, 4, 4)])
        .unwrap();
    assert!(
        front.is_busy(),
        "stays busy until the replacement is on the glass"
    );
    wait_presents(&mut b, 1);
    assert!(!front.is_busy(), "released by the next present");
    assert!(back.is_busy());

    // Nothing else arrives afterwards: the timer is disarmed when nothing is pending.
    assert!(b
        .dispatch_timeout(Some(Duration::from_millis(20)))
        .unwrap()
        .is_empty());
}

#[test]
fn the_glass_shows_the_last_presented_buffers() {
    let mut b = backend(40, 30, FAST);
    let output = b.outputs()[0];
    let (primary, overlay) = planes(&b, output);
    assert!(b.on_glass(output, primary).unwrap().is_none());
    assert_eq!(
        b.capture(output).unwrap().pixel(0, 0),
        0xff00_0000,
        "black when off"
    );

    let bg = b.allocate(40, 30, Format::Rgb565).unwrap();
    bg.fill(0xff00_00ff).unwrap();
    bg.fill_rect(Rect::new(10, 10, 5, 5), 0xffff_ffff).unwrap();
    let sprite = b.allocate(8, 4, Format::Argb8888).unwrap();
    sprite.fill(premultiply(0x80ff_0000)).unwrap(); // half-transparent red
    b.commit(
        output,
        &[
            PlaneUpdate::show(primary, &bg),
            PlaneUpdate::show(overlay, &sprite).at(36, -2),
        ],
    )
    .unwrap();
    // Not on the glass before the vblank.
    assert!(b.on_glass(output, primary).unwrap().is_none());
    wait_presents(&mut b, 1);

    assert!(b.on_glass(output, primary).unwrap().unwrap().same_as(&bg));
    assert!(b
        .on_glass(output, overlay)
        .unwrap()
        .unwrap()
        .same_as(&sprite));
    let shot = b.capture(output).unwrap();
    assert_eq!(
        (shot.width, shot.height, shot.format),
        (40, 30, Format::Xrgb8888)
    );
    assert_eq!(shot.pixel(0, 0), 0xff00_00ff);
    assert_eq!(shot.pixel(12, 12), 0xffff_ffff);
    // The overlay is clipped to the output and blended over the primary.
    assert_eq!(shot.pixel(39, 1), 0xff80_007f);
    assert_eq!(shot.pixel(35, 1), 0xff00_00ff);
    assert_eq!(shot.pixel(39, 2), 0xff00_00ff);
    // The primary's own pixels are readable too.
    assert_eq!(
        b.on_glass(output, primary)
            .unwrap()
            .unwrap()
            .snapshot()
            .pixel(12, 12),
        0xffff_ffff
    );

    // Turning the overlay off, alone, keeps the primary.
    b.commit(output, &[PlaneUpdate::disable(overlay)]).unwrap();
    wait_presents(&mut b, 1);
    assert!(b.on_glass(output, overlay).unwrap().is_none());
    assert!(!sprite.is_busy());
    assert_eq!(b.capture(output).unwrap().pixel(39, 1), 0xff00_00ff);
    assert!(bg.is_busy());
}

#[test]
fn two_outputs_run_their_own_clocks() {
    let mut b = HeadlessBackend::new(vec![
        HeadlessOutputConfig::new().mode(64, 32, 200_000),
        HeadlessOutputConfig::new()
            .name("SIDE")
            .mode(32, 64, 125_000)
            .physical_size_mm(50, 100)
            .transform(Transform::Rotate90),
    ])
    .unwrap();
    let outputs = b.outputs();
    assert_eq!(outputs.len(), 2);
    let (a, c) = (outputs[0], outputs[1]);
    assert_eq!(b.output(a).unwrap().name, "HEADLESS-1");
    assert_eq!(b.output(c).unwrap().name, "SIDE");
    assert_eq!(b.output(c).unwrap().transform, Transform::Rotate90);
    assert_eq!(b.output(c).unwrap().physical_size_mm, (50, 100));
    let (pa, oa) = planes(&b, a);
    let (pc, oc) = planes(&b, c);
    let mut ids = vec![pa, oa, pc, oc];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "plane ids are unique across outputs");
    assert!(matches!(
        b.commit(a, &[PlaneUpdate::disable(pc)]),
        Err(Error::UnknownPlane { .. })
    ));

    let fa = b.allocate(64, 32, Format::Xrgb8888).unwrap();
    let fc = b.allocate(32, 64, Format::Xrgb8888).unwrap();
    fa.fill(0xff11_2233).unwrap();
    fc.fill(0xff44_5566).unwrap();
    assert!(
        matches!(b.present(a, pa, &fc, &[]), Err(Error::InvalidCommit(_))),
        "wrong size"
    );

    let mut last: [Option<Presented>; 2] = [None, None];
    let mut count = [0; 2];
    b.present(a, pa, &fa, &[]).unwrap();
    b.present(c, pc, &fc, &[]).unwrap();
    // Both outputs busy at once is fine: back-pressure is per output.
    while count[0] < 6 || count[1] < 6 {
        for p in wait_presents(&mut b, 1) {
            let i = outputs.iter().position(|&o| o == p.output).unwrap();
            if let Some(prev) = last[i] {
                assert!(p.sequence > prev.sequence && p.time_ns > prev.time_ns);
                assert_eq!((p.time_ns - prev.time_ns) % p.refresh_ns, 0);
            }
            assert_eq!(p.refresh_ns, if i == 0 { 5_000_000 } else { 8_000_000 });
            last[i] = Some(p);
            count[i] += 1;
            if count[i] < 6 {
                let (out, plane, buf) = if i == 0 { (a, pa, &fa) } else { (c, pc, &fc) };
                b.present(out, plane, buf, &[]).unwrap();
            }
        }
    }
    assert_eq!(b.capture(a).unwrap().pixel(63, 31), 0xff11_2233);
    assert_eq!(b.capture(c).unwrap().pixel(31, 63), 0xff44_5566);
}

#[test]
fn an_empty_commit_is_a_frame_clock() {
    let mut b = backend(16, 16, FAST);
    let output = b.outputs()[0];
    let mut prev: Option<Presented> = None;
    for _ in 0..3 {
        let id = b.commit(output, &[]).unwrap();
        let p = wait_presents(&mut b, 1)[0];
        assert_eq!(p.commit, id);
        if let Some(prev) = prev {
            assert!(p.sequence > prev.sequence);
        }
        prev = Some(p);
    }
}

#[test]
fn mode_changes_keep_the_counter_going() {
    let mut b = HeadlessBackend::new(vec![HeadlessOutputConfig::new()
        .mode(32, 32, FAST)
        .extra_modes([Mode::new(16, 8, 500_000)])])
    .unwrap();
    let output = b.outputs()[0];
    let (primary, _) = planes(&b, output);
    let big = b.allocate(32, 32, Format::Xrgb8888).unwrap();
    let small = b.allocate(16, 8, Format::Xrgb8888).unwrap();
    b.present(output, primary, &big, &[]).unwrap();
    let before = wait_presents(&mut b, 1)[0];

    assert!(matches!(
        b.set_mode(output, Mode::new(1, 1, FAST)),
        Err(Error::UnsupportedMode { .. })
    ));
    b.set_mode(output, Mode::new(16, 8, 500_000)).unwrap();
    assert_eq!(
        b.output(output).unwrap().current_mode,
        Mode::new(16, 8, 500_000)
    );
    assert!(b.on_glass(output, primary).unwrap().unwrap().same_as(&big));
    assert!(matches!(
        b.present(output, primary, &big, &[]),
        Err(Error::InvalidCommit(_))
    ));
    b.present(output, primary, &small, &[]).unwrap();
    let after = wait_presents(&mut b, 1)[0];
    assert!(after.sequence > before.sequence);
    assert!(after.time_ns > before.time_ns);
    assert_eq!(after.refresh_ns, 2_000_000);
    assert!(!big.is_busy());
}

#[test]
fn bad_requests_are_errors_not_panics() {
    assert!(matches!(
        HeadlessBackend::new(vec![]),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        HeadlessBackend::new(vec![HeadlessOutputConfig::new().mode(10, 10, 0)]),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        HeadlessBackend::new(vec![
            HeadlessOutputConfig::new().name("X"),
            HeadlessOutputConfig::new().name("X")
        ]),
        Err(Error::InvalidConfig(_))
    ));
    let mut b = backend(16, 16, FAST);
    let output = b.outputs()[0];
    let (primary, overlay) = planes(&b, output);
    let nowhere = OutputId(7);
    assert!(matches!(b.output(nowhere), Err(Error::UnknownOutput(_))));
    assert!(matches!(
        b.commit(nowhere, &[]),
        Err(Error::UnknownOutput(_))
    ));
    assert!(matches!(
        b.on_glass(output, PlaneId(99)),
        Err(Error::UnknownPlane { .. })
    ));
    assert!(b.allocate(0, 16, Format::Xrgb8888).is_err());
    assert!(b.allocate(100_000, 16, Format::Xrgb8888).is_err());
    let buf = b.allocate(16, 16, Format::Xrgb8888).unwrap();
    assert!(matches!(
        b.commit(
            output,
            &[
                PlaneUpdate::show(overlay, &buf),
                PlaneUpdate::disable(overlay)
            ]
        ),
        Err(Error::InvalidCommit(_))
    ));
    assert!(matches!(
        b.commit(output, &[PlaneUpdate::show(primary, &buf).at(1, 0)]),
        Err(Error::InvalidCommit(_))
    ));
    assert!(
        !b.is_pending(output).unwrap(),
        "refused commits leave nothing pending"
    );
    assert!(!buf.is_busy());
}

#[test]
fn exported_buffers_cross_a_socket_and_show_the_same_pixels() {
    let mut b = backend(24, 24, FAST);
    let output = b.outputs()[0];
    let (primary, _) = planes(&b, output);
    let buf = b.allocate(24, 24, Format::Xrgb8888).unwrap();
    let (tx, rx) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let fd = buf.export().unwrap();
    fusionfb_sys::send_msg(tx.as_fd(), b"buffer", &[fd.as_fd()]).unwrap();
    drop(fd);
    let mut got = fusionfb_sys::recv_msg(rx.as_fd(), 64, false)
        .unwrap()
        .unwrap();
    let client = Buffer::import(got.fds.pop().unwrap(), buf.desc(), true).unwrap();

    // The client draws; the compositor presents its own handle: the same pages.
    client.fill(0xff10_2030).unwrap();
    client
        .fill_rect(Rect::new(3, 4, 1, 1), 0xffff_ff00)
        .unwrap();
    b.present(output, primary, &buf, &[]).unwrap();
    wait_presents(&mut b, 1);
    let shot = b.capture(output).unwrap();
    assert_eq!(shot.pixel(0, 0), 0xff10_2030);
    assert_eq!(shot.pixel(3, 4), 0xffff_ff00);
    // And the other way round.
    buf.fill_rect(Rect::new(23, 23, 1, 1), 0xff00_ff00).unwrap();
    assert_eq!(client.snapshot().pixel(23, 23), 0xff00_ff00);
}

const CHILD_FD: &str = "GFX_DRIVERS_TEST_CHILD_FD";
const CHILD_DESC: &str = "GFX_DRIVERS_TEST_CHILD_DESC";

/// Run as a child process by `a_client_process_draws_into_a_scanout_buffer`.
fn child_draws() {
    let raw: i32 = std::env::var(CHILD_FD).unwrap().parse().unwrap();
    let n: Vec<u64> = std::env::var(CHILD_DESC)
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let desc = BufferDesc {
        width: n[0] as u32,
        height: n[1] as u32,
        format: Format::from_fourcc(n[2] as u32).unwrap(),
        pitch: n[3] as usize,
        size: n[4] as usize,
    };
    let fd = fusionfb_sys::adopt_inherited_fd(raw).unwrap();
    let buf = Buffer::import(fd, desc, true).unwrap();
    for y in 0..desc.height {
        buf.fill_rect(Rect::new(0, y as i32, desc.width, 1), 0xff00_0000 | (y * 8))
            .unwrap();
    }
}

#[test]
fn a_client_process_draws_into_a_scanout_buffer() {
    if std::env::var_os(CHILD_FD).is_some() {
        return child_draws();
    }
    let mut b = backend(20, 30, FAST);
    let output = b.outputs()[0];
    let (primary, _) = planes(&b, output);
    let buf = b.allocate(20, 30, Format::Rgb565).unwrap();
    let fd = buf.export().unwrap();
    fusionfb_sys::clear_cloexec(fd.as_fd()).unwrap();
    let d = buf.desc();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_client_process_draws_into_a_scanout_buffer",
            "--test-threads=1",
        ])
        .env(CHILD_FD, fd.as_raw_fd().to_string())
        .env(
            CHILD_DESC,
            format!(
                "{},{},{},{},{}",
                d.width,
                d.height,
                d.format.fourcc(),
                d.pitch,
                d.size
            ),
        )
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    drop(fd);
    assert!(status.success());

    b.present(output, primary, &buf, &[]).unwrap();
    wait_presents(&mut b, 1);
    let shot = b.capture(output).unwrap();
    for y in [0u32, 1, 7, 29] {
        let blue = y * 8;
        let want = 0xff00_0000 | ((blue * 31 + 127) / 255 * 8 + (blue * 31 + 127) / 255 / 4);
        assert_eq!(shot.pixel(19, y), want, "row {y}");
    }
}

#[test]
fn a_backend_source_drives_frames_in_calloop() {
    let mut b = backend(16, 16, FAST);
    let output = b.outputs()[0];
    let (primary, _) = planes(&b, output);
    let bufs = [
        b.allocate(16, 16, Format::Xrgb8888).unwrap(),
        b.allocate(16, 16, Format::Xrgb8888).unwrap(),
    ];
    b.present(output, primary, &bufs[0], &[]).unwrap();

    struct State {
        presented: Vec<Presented>,
        bufs: [Buffer; 2],
    }
    let mut state = State {
        presented: Vec::new(),
        bufs,
    };
    let mut event_loop: calloop::EventLoop<State> = calloop::EventLoop::try_new().unwrap();
    event_loop
        .handle()
        .insert_source(
            BackendSource::new(b).unwrap(),
            move |event, backend, state| {
                let BackendEvent::Presented(p) = event else {
                    return;
                };
                state.presented.push(p);
                if state.presented.len() < 5 {
                    // Draw into the buffer that is not on the glass, and flip.
                    let next = state.bufs.iter().find(|b| !b.is_busy()).unwrap();
                    backend.present(p.output, primary, next, &[]).unwrap();
                }
            },
        )
        .unwrap();
    while state.presented.len() < 5 {
        event_loop
            .dispatch(Some(Duration::from_secs(5)), &mut state)
            .unwrap();
    }
    let seqs: Vec<u64> = state.presented.iter().map(|p| p.sequence).collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
}

#[test]
fn a_readiness_source_leaves_the_backend_in_the_shared_state() {
    struct State {
        backend: Box<dyn Backend>,
        presented: usize,
    }
    let b = backend(16, 16, FAST);
    let source = readiness_source(&b).unwrap();
    let mut state = State {
        backend: Box::new(b),
        presented: 0,
    };
    let output = state.backend.outputs()[0];
    let mut event_loop: calloop::EventLoop<State> = calloop::EventLoop::try_new().unwrap();
    event_loop
        .handle()
        .insert_source(source, |_, _, state: &mut State| {
            for e in state.backend.dispatch().map_err(std::io::Error::other)? {
                if let BackendEvent::Presented(_) = e {
                    state.presented += 1;
                }
            }
            Ok(calloop::PostAction::Continue)
        })
        .unwrap();
    for i in 0..3 {
        // Committed from outside the backend's callback, as a compositor does on new damage.
        state.backend.commit(output, &[]).unwrap();
        while state.presented <= i {
            event_loop
                .dispatch(Some(Duration::from_secs(5)), &mut state)
                .unwrap();
        }
    }
    assert_eq!(state.presented, 3);
}
