//! Bad Wayland clients cost only themselves: a client killed while it draws, garbage bytes
//! on the socket and a wl_shm pool truncated under a committed buffer, before it is shown
//! or while it is (which would be a SIGBUS in the master, were the pool read unguarded)
//! each end that client's connection;
//! the master, a native slave (`fusionfb-clock`) and the other Wayland clients carry on.
//! So does a client flooding the scene with more surfaces than its quota. The truncated
//! pool, the flood and the garbage are sent by a client speaking the wire protocol by hand
//! ([`RawClient`]), so those tests need no Wayland program installed.

use std::os::fd::AsFd;

use fusionfb_tests::wayland::{find_program, pool_file, Args, RawClient, WaylandMaster, LIMIT};
use fusionfb_tests::{skipped, wait_until, Process};

/// The pids of the Wayland clients the status lists.
fn client_pids(m: &WaylandMaster) -> Vec<u64> {
    m.scene()
        .and_then(|s| {
            s["wayland"]["clients"]
                .as_array()
                .map(|cs| cs.iter().filter_map(|c| c["pid"].as_u64()).collect())
        })
        .unwrap_or_default()
}

/// Total flips of every surface in the scene (grows while anyone draws).
fn flips(m: &WaylandMaster) -> u64 {
    m.scene()
        .and_then(|s| {
            s["surfaces"]
                .as_array()
                .map(|ss| ss.iter().filter_map(|s| s["flips"].as_u64()).sum())
        })
        .unwrap_or(0)
}

/// A native slave beside the Wayland clients: the clock, in the right half.
fn native_clock(m: &WaylandMaster) -> Process {
    let p = Process::spawn(
        "fusionfb-clock",
        &m.world,
        &[
            "--x", "640", "--y", "0", "--width", "640", "--height", "260",
        ],
    );
    wait_until("the clock's window", LIMIT, || {
        m.scene()
            .and_then(|s| {
                s["windows"]
                    .as_array()
                    .map(|w| w.iter().any(|w| w["x"] == 640))
            })
            .unwrap_or(false)
    });
    p
}

#[test]
fn a_killed_client_leaves_the_master_and_the_others_running() {
    let Some(shm) = find_program("weston-simple-shm") else {
        skipped("weston-simple-shm is not installed (Debian package weston)");
        return;
    };
    let mut m = WaylandMaster::start("wl-kill");
    let mut clock = native_clock(&m);
    let mut a = m.client(&shm, &[], "a");
    let mut b = m.client(&shm, &[], "b");
    let (pa, pb) = (u64::from(a.pid()), u64::from(b.pid()));
    wait_until("both clients in the status", LIMIT, || {
        let pids = client_pids(&m);
        pids.contains(&pa) && pids.contains(&pb)
    });
    let windows = |m: &WaylandMaster| {
        m.scene()
            .and_then(|s| s["windows"].as_array().map(|w| w.len()))
            .unwrap_or(0)
    };
    wait_until("three windows", LIMIT, || windows(&m) == 3);
    a.kill();
    wait_until("the killed client gone from the status", LIMIT, || {
        client_pids(&m) == vec![pb]
    });
    wait_until("its window gone", LIMIT, || windows(&m) == 2);
    let before = flips(&m);
    wait_until("the other client to go on drawing", LIMIT, || {
        flips(&m) > before + 10
    });
    assert!(
        b.exited().is_none(),
        "the other client ended:\n{}",
        b.output()
    );
    clock.assert_running();
    m.assert_running();
}

#[test]
fn garbage_on_the_socket_disconnects_only_that_client() {
    let mut m = WaylandMaster::start("wl-garbage");
    let mut clock = native_clock(&m);
    // A well-behaved connection first, to see it survive the bad one.
    let mut good = RawClient::connect(&m.socket());
    let mut next = 2;
    good.bind(&[("wl_compositor", 4)], &mut next);
    let mut bad = RawClient::connect(&m.socket());
    use std::io::Write;
    bad.stream
        .write_all(&[0xde, 0xad, 0xbe, 0xef].repeat(16))
        .expect("write garbage");
    // The server answers with a protocol error at most, then hangs up on it.
    while let Some(e) = bad.event() {
        assert_eq!((e.object, e.opcode), (1, 0), "only wl_display.error: {e:?}");
    }
    // The good connection still gets answers (a wl_display.sync round trip).
    good.send(1, 0, Args::new().u(next), &[]);
    good.until("the sync's callback", |e| (e.object == next).then_some(()));
    clock.assert_running();
    m.assert_running();
}

/// A client with a configured toplevel and a 64x64 XRGB8888 buffer in a 16 KiB pool backed
/// by a file (the pool's path), not attached yet: the client, its surface, the buffer, the
/// file, and the next free object id.
struct PoolClient {
    c: RawClient,
    surface: u32,
    buffer: u32,
    file: std::fs::File,
    path: std::path::PathBuf,
    next: u32,
}

impl PoolClient {
    fn new(m: &WaylandMaster) -> PoolClient {
        let mut c = RawClient::connect(&m.socket());
        let mut next = 2;
        let ids = c.bind(
            &[("wl_compositor", 4), ("wl_shm", 1), ("xdg_wm_base", 1)],
            &mut next,
        );
        let (compositor, shm, wm) = (ids[0], ids[1], ids[2]);
        let surface = c.toplevel(compositor, wm, None, &mut next);
        let (pool, buffer) = (next, next + 1);
        let path = m.runtime.join(format!("{}.pool", m.world.name));
        let file = pool_file(&path);
        file.set_len(64 * 64 * 4).unwrap();
        c.create_pool(shm, pool, &file, 64 * 64 * 4);
        c.create_buffer(pool, buffer, 0, 64, 64);
        PoolClient {
            c,
            surface,
            buffer,
            file,
            path,
            next: next + 2,
        }
    }
}

/// Waits for `wl_shm.error.invalid_fd` naming `buffer`, then for the connection's end.
fn expect_invalid_fd(c: &mut RawClient, buffer: u32) {
    let (object, code, message) = c.until("the protocol error", |e| {
        (e.object == 1 && e.opcode == 0).then(|| (e.word(0), e.word(1), e.string(2)))
    });
    assert_eq!(object, buffer, "the error names the buffer ({message})");
    assert_eq!(code, 2, "wl_shm.error.invalid_fd ({message})");
    while c.event().is_some() {}
}

#[test]
fn a_truncated_pool_is_a_protocol_error_not_a_sigbus() {
    let mut m = WaylandMaster::start("wl-sigbus");
    let mut clock = native_clock(&m);
    let PoolClient {
        mut c,
        surface,
        buffer,
        file,
        path,
        ..
    } = PoolClient::new(&m);
    // The client truncates the pool before committing the buffer.
    file.set_len(0).unwrap();
    c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
    c.send(surface, 9, Args::new().u(0).u(0).u(64).u(64), &[]); // damage_buffer
    c.send(surface, 6, Args::new(), &[]); // commit

    // The master reads the pool to compose the buffer: it gets wl_shm's invalid_fd error,
    // and the connection ends.
    expect_invalid_fd(&mut c, buffer);
    // The master and the native slave are fine, and take new clients.
    m.assert_running();
    clock.assert_running();
    let mut again = RawClient::connect(&m.socket());
    let mut n = 2;
    again.bind(&[("wl_shm", 1)], &mut n);
    again.send(1, 0, Args::new().u(n), &[]);
    again.until("a round trip", |e| (e.object == n).then_some(()));
    let _ = std::fs::remove_file(path);
}

/// The same, with the pool truncated while its buffer is on the glass: the master reads it
/// again when the surface's part of the glass is composed again (here: the display woken),
/// and the client gets the error then.
#[test]
fn a_pool_truncated_while_shown_is_a_protocol_error_not_a_sigbus() {
    let mut m = WaylandMaster::start("wl-sigbus-shown");
    let mut p = PoolClient::new(&m);
    let (surface, buffer, frame) = (p.surface, p.buffer, p.next);
    let c = &mut p.c;
    c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
    c.send(surface, 9, Args::new().u(0).u(0).u(64).u(64), &[]); // damage_buffer
    c.send(surface, 3, Args::new().u(frame), &[]); // frame
    c.send(surface, 6, Args::new(), &[]); // commit
    c.until("the frame showing it", |e| {
        (e.object == frame && e.opcode == 0).then_some(())
    });
    p.file.set_len(0).unwrap();
    assert!(m.fusionfb(&["blank", "on"]).is_some());
    assert!(m.fusionfb(&["blank", "off"]).is_some());
    expect_invalid_fd(&mut p.c, buffer);
    m.assert_running();
    let _ = std::fs::remove_file(&p.path);
}

#[test]
fn a_flood_of_surfaces_past_the_quota_disconnects_that_client() {
    let mut m = WaylandMaster::start("wl-flood");
    let mut clock = native_clock(&m);
    let mut c = RawClient::connect(&m.socket());
    let mut next = 2;
    let ids = c.bind(
        &[
            ("wl_compositor", 4),
            ("wl_subcompositor", 1),
            ("wl_shm", 1),
            ("xdg_wm_base", 1),
        ],
        &mut next,
    );
    let (compositor, subcompositor, shm, wm) = (ids[0], ids[1], ids[2], ids[3]);
    let root = c.toplevel(compositor, wm, None, &mut next);
    let path = m.runtime.join(format!("{}.flood", m.world.name));
    let file = pool_file(&path);
    file.set_len(8 * 8 * 4).unwrap();
    let (pool, buffer) = (next, next + 1);
    next += 2;
    c.send(shm, 0, Args::new().u(pool).u(8 * 8 * 4), &[file.as_fd()]);
    c.send(
        pool,
        0,
        Args::new().u(buffer).u(0).u(8).u(8).u(32).u(1),
        &[],
    );
    // The toplevel and 100 subsurfaces, each with the buffer: past the quota of 64.
    for surface in std::iter::once(root).chain(
        (0..100)
            .map(|i| {
                let (s, sub) = (next, next + 1);
                next += 2;
                c.send(compositor, 0, Args::new().u(s), &[]);
                c.send(subcompositor, 1, Args::new().u(sub).u(s).u(root), &[]);
                c.send(sub, 1, Args::new().u(i % 50).u(i / 50), &[]); // set_position
                s
            })
            .collect::<Vec<_>>(),
    ) {
        c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]);
        c.send(surface, 6, Args::new(), &[]);
    }
    c.send(root, 6, Args::new(), &[]);
    let (object, code, message) = c.until("the protocol error", |e| {
        (e.object == 1 && e.opcode == 0).then(|| (e.word(0), e.word(1), e.string(2)))
    });
    assert_eq!((object, code), (1, 2), "wl_display.no_memory ({message})");
    while c.event().is_some() {}
    // Everything it showed is gone; the master and the native slave carry on.
    wait_until("its windows gone", LIMIT, || {
        m.scene()
            .and_then(|s| s["windows"].as_array().map(|w| w.len() == 1))
            .unwrap_or(false)
    });
    m.assert_running();
    clock.assert_running();
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_surface_larger_than_the_limit_disconnects_that_client() {
    let mut m = WaylandMaster::start("wl-huge");
    let mut clock = native_clock(&m);
    // One client's buffer is wider than 8192 pixels; another's 8x8 buffer asks, through
    // wp_viewporter, to be shown 10000 pixels square. Each gets wl_display's no_memory
    // error and is disconnected; nothing of theirs is allocated or shown.
    for (tag, width, viewport) in [("wide", 9000u32, false), ("viewport", 8, true)] {
        let mut c = RawClient::connect(&m.socket());
        let mut next = 2;
        let ids = c.bind(
            &[
                ("wl_compositor", 4),
                ("wl_shm", 1),
                ("xdg_wm_base", 1),
                ("wp_viewporter", 1),
            ],
            &mut next,
        );
        let (compositor, shm, wm, viewporter) = (ids[0], ids[1], ids[2], ids[3]);
        let surface = c.toplevel(compositor, wm, None, &mut next);
        let path = m.runtime.join(format!("{}.{tag}", m.world.name));
        let file = pool_file(&path);
        let (height, stride) = (2u32, width * 4);
        file.set_len(u64::from(stride * height)).unwrap();
        let (pool, buffer, vp) = (next, next + 1, next + 2);
        c.send(
            shm,
            0,
            Args::new().u(pool).u(stride * height),
            &[file.as_fd()],
        );
        c.send(
            pool,
            0,
            Args::new().u(buffer).u(0).u(width).u(height).u(stride).u(1),
            &[],
        ); // create_buffer, XRGB8888
        if viewport {
            c.send(viewporter, 1, Args::new().u(vp).u(surface), &[]); // get_viewport
            c.send(vp, 2, Args::new().u(10_000).u(10_000), &[]); // set_destination
        }
        c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
        c.send(surface, 6, Args::new(), &[]); // commit
        let (object, code, message) = c.until("the protocol error", |e| {
            (e.object == 1 && e.opcode == 0).then(|| (e.word(0), e.word(1), e.string(2)))
        });
        assert_eq!(
            (object, code),
            (1, 2),
            "{tag}: wl_display.no_memory ({message})"
        );
        assert!(
            message.contains("larger than the limit"),
            "{tag}: {message}"
        );
        while c.event().is_some() {}
        let _ = std::fs::remove_file(path);
    }
    wait_until("no Wayland client left", LIMIT, || {
        client_pids(&m).is_empty()
    });
    m.assert_running();
    clock.assert_running();
}
