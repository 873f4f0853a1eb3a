//! Unmodified Wayland clients on a headless `fusionfb run`: Debian's `wayland-info` sees the
//! globals, `weston-simple-shm` reaches the glass (and keeps drawing, paced by the display),
//! `weston-simple-touch` draws under a tap injected with `fusionfb input tap`, and
//! `weston-eventdemo` gets the pointer and keys at the surface coordinates the master's seat
//! routed. A program that is not installed makes its test print `SKIPPED:` and pass
//! (`scripts/deps.sh` installs `weston` and `wayland-utils`). `weston-presentation-shm`
//! reports its frames presented on vblanks, one after the other; a hand-made client
//! checks the protocol details under it (the kiosk configure, the shown buffer held until
//! the next one replaces it, the frame callback and the feedback with the flip's refresh and
//! sequence).

use std::path::PathBuf;

use fusionfb_client::display::Display;
use fusionfb_tests::wayland::{find_program, Args, RawClient, WaylandMaster, LIMIT};
use fusionfb_tests::{skipped, wait_for, wait_until};

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

/// The window of the first toplevel of the Wayland client with process id `pid`, once the
/// status shows one.
fn toplevel_window(m: &WaylandMaster, pid: u32) -> u64 {
    wait_for(
        &format!("a toplevel of pid {pid} with a window"),
        LIMIT,
        || m.toplevels(pid).iter().find_map(|t| t["window"].as_u64()),
    )
}

/// Window `window` as the master's status shows it now.
fn scene_window(m: &WaylandMaster, window: u64) -> serde_json::Value {
    let scene = m.scene().expect("the master's status");
    scene["windows"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["id"].as_u64() == Some(window)))
        .cloned()
        .unwrap_or_else(|| panic!("no window {window}: {scene}"))
}

#[test]
fn wayland_info_lists_the_globals() {
    let Some(info) = program("wayland-info", "wayland-utils") else {
        return;
    };
    let mut m = WaylandMaster::start("wl-info");
    let mut c = m.client(&info, &[], "info");
    let status = c.wait();
    let out = c.output();
    assert!(status.success(), "wayland-info failed ({status}):\n{out}");
    for global in [
        "wl_compositor",
        "wl_subcompositor",
        "wl_shm",
        "xdg_wm_base",
        "wl_seat",
        "wl_output",
        "zxdg_output_manager_v1",
        "zxdg_decoration_manager_v1",
        "wp_presentation",
        "wl_data_device_manager",
        "zwlr_layer_shell_v1",
        "wp_viewporter",
        "zwp_virtual_keyboard_manager_v1",
        "zwp_linux_dmabuf_v1",
        "zwlr_screencopy_manager_v1",
        "xdg_activation_v1",
        "zwp_idle_inhibit_manager_v1",
        "zwp_text_input_manager_v3",
        "zwp_text_input_manager_v1",
        "zwp_input_method_manager_v2",
        "wp_cursor_shape_manager_v1",
    ] {
        assert!(
            out.contains(&format!("'{global}'")),
            "{global} missing:\n{out}"
        );
    }
    // The output has the master's mode, the seat all three capabilities, the shm the
    // formats the master shows.
    assert!(out.contains("width: 1280 px, height: 800 px"), "{out}");
    assert!(
        out.contains("capabilities: pointer keyboard touch"),
        "{out}"
    );
    assert!(out.contains("'RG16'"), "RGB565 missing:\n{out}");
    m.assert_running();
}

#[test]
fn simple_shm_shows_its_pattern_on_the_glass_and_keeps_drawing() {
    let Some(shm) = program("weston-simple-shm", "weston") else {
        return;
    };
    let mut m = WaylandMaster::start("wl-shm");
    let mut c = m.client(&shm, &[], "shm");
    let window = toplevel_window(&m, c.pid());
    // Kiosk placement: its 250x250 window at the output's corner, on the primary layer.
    let win = scene_window(&m, window);
    assert_eq!((win["x"].as_i64(), win["y"].as_i64()), (Some(0), Some(0)));
    assert_eq!(
        (win["width"].as_u64(), win["height"].as_u64()),
        (Some(250), Some(250))
    );
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    // Inside its window the glass is not the background, and changes from frame to frame
    // (the pattern moves); outside it stays black.
    let inside = [(125u32, 125u32), (60, 190), (200, 40)];
    let first = wait_for("simple-shm's pattern on the glass", LIMIT, || {
        let img = d.screenshot().ok()?;
        let px: Vec<u32> = inside
            .iter()
            .map(|&(x, y)| img.pixel(x, y) & 0xff_ffff)
            .collect();
        px.iter().any(|&p| p != 0).then_some(px)
    });
    wait_until("the pattern to change", LIMIT, || {
        let img = d.screenshot().unwrap();
        let px: Vec<u32> = inside
            .iter()
            .map(|&(x, y)| img.pixel(x, y) & 0xff_ffff)
            .collect();
        px != first
    });
    let img = d.screenshot().unwrap();
    assert_eq!(
        img.pixel(600, 400) & 0xff_ffff,
        0,
        "nothing outside the window"
    );
    // Paced by the display: frame callbacks come back, so it keeps committing.
    let flips = |m: &WaylandMaster| -> u64 {
        let scene = m.scene().unwrap();
        let surface = scene["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"].as_u64() == Some(window))
            .and_then(|w| w["surface"].as_u64());
        scene["surfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"].as_u64() == surface)
            .and_then(|s| s["flips"].as_u64())
            .unwrap_or(0)
    };
    let before = flips(&m);
    wait_until("more commits", LIMIT, || flips(&m) >= before + 10);
    // The status names the socket and the client.
    let table = m.fusionfb(&["status"]).unwrap();
    assert!(
        table.contains(&format!("wayland: socket {}", m.socket().display())),
        "{table}"
    );
    assert!(table.contains(&format!("pid {}", c.pid())), "{table}");
    assert!(
        table
            .contains("toplevel app_id \"org.freedesktop.weston.simple-shm\" title \"simple-shm\""),
        "{table}"
    );
    assert!(c.exited().is_none(), "simple-shm ended:\n{}", c.output());
    m.assert_running();
}

#[test]
fn simple_touch_draws_under_an_injected_tap() {
    let Some(touch) = program("weston-simple-touch", "weston") else {
        return;
    };
    let m = WaylandMaster::start("wl-touch");
    let c = m.client(&touch, &[], "touch");
    toplevel_window(&m, c.pid());
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    let (x, y) = (200u32, 150u32);
    // It fills its window before any touch; wait for that, note the pixels.
    let before = wait_for("simple-touch's window on the glass", LIMIT, || {
        let img = d.screenshot().ok()?;
        (img.pixel(x, y) & 0xff_ffff != 0).then_some(img)
    });
    m.fusionfb(&["input", "tap", &x.to_string(), &y.to_string()])
        .expect("fusionfb input tap");
    // It paints where the finger went down, in its surface coordinates (its window is at the
    // output's corner, so they are the output's): the tapped pixel changes, one far off
    // does not.
    wait_until("the tap to be painted", LIMIT, || {
        let img = d.screenshot().unwrap();
        img.pixel(x, y) != before.pixel(x, y)
    });
    let img = d.screenshot().unwrap();
    assert_eq!(img.pixel(x + 60, y + 60), before.pixel(x + 60, y + 60));
}

#[test]
fn eventdemo_gets_pointer_and_keys_at_surface_coordinates() {
    let Some(demo) = program("weston-eventdemo", "weston") else {
        return;
    };
    let m = WaylandMaster::start("wl-events");
    let c = m.client(
        &demo,
        &["--log-button", "--log-key", "--log-motion"],
        "events",
    );
    toplevel_window(&m, c.pid());
    // A click at (120, 90) of the output is a press and a release there, in the surface's
    // coordinates; the window took the keyboard focus when it was mapped, so a key reaches
    // it with the keymap's text.
    m.fusionfb(&["input", "pointer", "120", "90", "--click"])
        .expect("fusionfb input pointer");
    wait_until("the click", LIMIT, || {
        c.output()
            .contains("button: 272, state: released, x: 120, y: 90")
    });
    assert!(
        c.output()
            .contains("button: 272, state: pressed, x: 120, y: 90"),
        "{}",
        c.output()
    );
    m.fusionfb(&["input", "pointer", "300", "200"])
        .expect("fusionfb input pointer");
    wait_until("the motion", LIMIT, || {
        c.output().contains("x: 300.000000, y: 200.000000")
    });
    m.fusionfb(&["input", "key", "a"])
        .expect("fusionfb input key");
    wait_until("the key", LIMIT, || {
        c.output().contains("key: 30, unicode: 97, state: released")
    });
    assert!(
        c.output().contains("key: 30, unicode: 97, state: pressed"),
        "{}",
        c.output()
    );
}

#[test]
fn an_app_of_the_config_finds_the_socket_through_wayland_display() {
    let Some(shm) = program("weston-simple-shm", "weston") else {
        return;
    };
    // The master's environment has no WAYLAND_DISPLAY (the harness sets only
    // XDG_RUNTIME_DIR): the app connects through the one the master gives it.
    let config = format!("[[app]]\ncommand = {:?}\n", shm.display().to_string());
    let m = WaylandMaster::start_with("wl-app", Some(&config));
    let pid = wait_for("the app running", LIMIT, || {
        m.scene()?["apps"][0]["pid"].as_u64()
    });
    toplevel_window(&m, pid as u32);
}

#[test]
fn without_xdg_runtime_dir_the_socket_is_in_the_world_dir_and_clients_get_its_path() {
    let Some(info) = program("wayland-info", "wayland-utils") else {
        return;
    };
    // A root service's environment: no XDG_RUNTIME_DIR (empty counts as unset).
    let world = fusionfb_tests::world("wl-nort");
    std::fs::create_dir_all(world.base_dir()).unwrap();
    let log = world.base_dir().join(format!("{}.log", world.name));
    let mut master = fusionfb_tests::Process::spawn_logged(
        "fusionfb",
        &world,
        &["run", "--backend", "headless"],
        &[("XDG_RUNTIME_DIR", ""), ("RUST_LOG", "warn")],
        Some(&log),
    );
    let socket = world.dir().join(format!("fusionfb-{}", world.name));
    wait_until("the socket in the world's directory", LIMIT, || {
        master.assert_running();
        socket.exists()
    });
    // The log names it (the line follows the bind: wait for it too).
    let named = format!("WAYLAND_DISPLAY={}", socket.display());
    wait_until("the log naming the socket", LIMIT, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&named))
    });
    // A client finds it by its absolute path, whatever its own XDG_RUNTIME_DIR.
    let out = std::process::Command::new(&info)
        .env("WAYLAND_DISPLAY", &socket)
        .env("XDG_RUNTIME_DIR", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("'wl_compositor'"), "{stdout}");
    master.assert_running();
}

#[test]
fn frame_callbacks_and_presentation_feedback_follow_the_flip() {
    let m = WaylandMaster::start("wl-present");
    let mut c = RawClient::connect(&m.socket());
    let mut next = 2;
    let ids = c.bind(
        &[
            ("wl_compositor", 4),
            ("wl_shm", 1),
            ("xdg_wm_base", 1),
            ("wp_presentation", 1),
        ],
        &mut next,
    );
    let (compositor, shm, wm, presentation) = (ids[0], ids[1], ids[2], ids[3]);
    let clock = c.until("wp_presentation.clock_id", |e| {
        (e.object == presentation && e.opcode == 0).then(|| e.word(0))
    });
    assert_eq!(clock, 1, "CLOCK_MONOTONIC");
    let mut id = || {
        next += 1;
        next - 1
    };
    let (surface, xdg_surface, toplevel, pool, buffer, frame, feedback) =
        (id(), id(), id(), id(), id(), id(), id());
    c.send(compositor, 0, Args::new().u(surface), &[]);
    c.send(wm, 2, Args::new().u(xdg_surface).u(surface), &[]);
    c.send(xdg_surface, 1, Args::new().u(toplevel), &[]);
    c.send(surface, 6, Args::new(), &[]);
    // The kiosk's configure: the whole output.
    let (w, h) = c.until("the toplevel's configure", |e| {
        (e.object == toplevel && e.opcode == 0).then(|| (e.word(0), e.word(1)))
    });
    assert_eq!((w, h), (1280, 800));
    let serial = c.until("the surface's configure", |e| {
        (e.object == xdg_surface && e.opcode == 0).then(|| e.word(0))
    });
    c.send(xdg_surface, 4, Args::new().u(serial), &[]);
    let path = m.runtime.join(format!("{}.present", m.world.name));
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(32 * 32 * 4).unwrap();
    c.create_pool(shm, pool, &file, 32 * 32 * 4);
    c.create_buffer(pool, buffer, 0, 32, 32);
    c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
    c.send(surface, 9, Args::new().u(0).u(0).u(32).u(32), &[]); // damage_buffer
    c.send(surface, 3, Args::new().u(frame), &[]); // frame
    c.send(presentation, 1, Args::new().u(surface).u(feedback), &[]); // feedback
                                                                      // The buffer is shown as it is (held until another replaces it); the callback and the
                                                                      // feedback come when the frame showing it is presented, with the flip's sequence and
                                                                      // the 60 Hz refresh.
    c.send(surface, 6, Args::new(), &[]); // commit
    let mut released = false;
    let mut done = None;
    let mut presented = None;
    while done.is_none() || presented.is_none() {
        let e = c.event().expect("the server hung up");
        if e.object == buffer && e.opcode == 0 {
            released = true;
        }
        if e.object == frame && e.opcode == 0 {
            done = Some(e.word(0));
        }
        if e.object == feedback {
            assert_ne!(e.opcode, 2, "feedback discarded");
            if e.opcode == 1 {
                // presented(tv_sec_hi, tv_sec_lo, tv_nsec, refresh, seq_hi, seq_lo, flags)
                presented = Some((e.word(3), e.word(5), e.word(6)));
            }
        }
    }
    assert!(!released, "the shown buffer was released");
    let (refresh, seq, flags) = presented.unwrap();
    assert!(
        (16_600_000..16_700_000).contains(&refresh),
        "refresh {refresh} ns"
    );
    assert!(seq > 0, "vblank sequence");
    assert_eq!(flags & 1, 1, "vsync");
    assert!(done.unwrap() > 0);
    // Another buffer replaces it: the first comes back with the frame showing the second,
    // and the second is held.
    let (second, frame2) = (next, next + 1);
    c.create_buffer(pool, second, 0, 32, 32);
    c.send(surface, 1, Args::new().u(second).u(0).u(0), &[]); // attach
    c.send(surface, 9, Args::new().u(0).u(0).u(32).u(32), &[]); // damage_buffer
    c.send(surface, 3, Args::new().u(frame2), &[]); // frame
    c.send(surface, 6, Args::new(), &[]); // commit
    let (mut first_back, mut second_back) = (false, false);
    c.until("the second frame", |e| {
        first_back |= e.object == buffer && e.opcode == 0;
        second_back |= e.object == second && e.opcode == 0;
        (e.object == frame2 && e.opcode == 0).then_some(())
    });
    assert!(first_back, "the replaced buffer did not come back");
    assert!(!second_back, "the shown buffer was released");
    let _ = std::fs::remove_file(path);
}

#[test]
fn subsurfaces_are_windows_stacked_with_their_toplevel() {
    let Some(demo) = program("weston-subsurfaces", "weston") else {
        return;
    };
    let m = WaylandMaster::start("wl-sub");
    let c = m.client(&demo, &[], "sub");
    let top = toplevel_window(&m, c.pid());
    // The demo's main surface and its two subsurfaces: three windows, the toplevel's at
    // the bottom, the subsurfaces right above it, where the demo put them inside it.
    let windows = wait_for("three windows of the demo", LIMIT, || {
        let scene = m.scene()?;
        let client = scene["wayland"]["clients"]
            .as_array()?
            .iter()
            .find(|x| x["pid"].as_u64() == Some(u64::from(c.pid())))?
            .clone();
        (client["surfaces"].as_u64() == Some(3)).then(|| scene["windows"].as_array().cloned())?
    });
    assert_eq!(windows.len(), 3, "{windows:?}");
    assert_eq!(windows[0]["id"].as_u64(), Some(top), "{windows:?}");
    let (w, h) = (
        windows[0]["width"].as_i64().unwrap(),
        windows[0]["height"].as_i64().unwrap(),
    );
    for sub in &windows[1..] {
        let (x, y) = (sub["x"].as_i64().unwrap(), sub["y"].as_i64().unwrap());
        assert!(x > 0 && y > 0 && x < w && y < h, "{sub} inside {w}x{h}");
    }
}

/// Placement is redone only for a commit that changes what it reads of the tree (the master
/// skips it for commits that only bring pixels): a subsurface moved by `set_position` and a
/// new window geometry move the windows with the parent's commit; a commit of new pixels
/// leaves them where they are. A destroyed subsurface leaves the glass without a commit of
/// its parent.
#[test]
fn commits_that_move_a_subsurface_or_the_window_geometry_move_the_windows() {
    let m = WaylandMaster::start("wl-shape");
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
    let surface = c.toplevel(compositor, wm, None, &mut next);
    let xdg_surface = surface + 1;
    let (pool, big, small, child, sub) = (next, next + 1, next + 2, next + 3, next + 4);
    next += 5;
    let path = m.runtime.join(format!("{}.shape", m.world.name));
    let file = fusionfb_tests::wayland::pool_file(&path);
    file.set_len(64 * 64 * 4).unwrap();
    c.create_pool(shm, pool, &file, 64 * 64 * 4);
    c.create_buffer(pool, big, 0, 64, 64);
    c.create_buffer(pool, small, 0, 16, 16);
    c.send(compositor, 0, Args::new().u(child), &[]); // create_surface
    c.send(
        subcompositor,
        1,
        Args::new().u(sub).u(child).u(surface),
        &[],
    ); // get_subsurface
    c.send(sub, 1, Args::new().u(10).u(10), &[]); // set_position(10, 10)
    c.send(child, 1, Args::new().u(small).u(0).u(0), &[]); // attach
    c.send(child, 9, Args::new().u(0).u(0).u(16).u(16), &[]); // damage_buffer
    c.send(child, 6, Args::new(), &[]); // commit (cached: a synchronized subsurface)
    let pixels = |c: &mut RawClient| {
        c.send(surface, 1, Args::new().u(big).u(0).u(0), &[]); // attach
        c.send(surface, 9, Args::new().u(0).u(0).u(64).u(64), &[]); // damage_buffer
        c.send(surface, 6, Args::new(), &[]); // commit
    };
    pixels(&mut c);
    // The toplevel's window, then the subsurface's right above it.
    let places = || {
        let scene = m.scene()?;
        let windows = scene["windows"].as_array()?.clone();
        (windows.len() == 2).then(|| {
            windows
                .iter()
                .map(|w| (w["x"].as_i64().unwrap(), w["y"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        })
    };
    let first = wait_for("the toplevel and its subsurface", LIMIT, places);
    let (x, y) = first[0];
    assert_eq!(first[1], (x + 10, y + 10), "{first:?}");
    // New pixels alone: nothing moves.
    pixels(&mut c);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(places(), Some(first.clone()));
    // The subsurface moved: it takes effect with the parent's next commit.
    c.send(sub, 1, Args::new().u(30).u(20), &[]); // set_position(30, 20)
    pixels(&mut c);
    wait_for("the subsurface at its new position", LIMIT, || {
        (places()? == vec![(x, y), (x + 30, y + 20)]).then_some(())
    });
    // A window geometry inset by (5, 7): the toplevel's origin moves up and left so that
    // the geometry's corner is where the window goes, and the subsurface follows.
    c.send(xdg_surface, 3, Args::new().u(5).u(7).u(50).u(50), &[]); // set_window_geometry
    pixels(&mut c);
    wait_for("both windows moved by the window geometry", LIMIT, || {
        (places()? == vec![(x - 5, y - 7), (x + 25, y + 13)]).then_some(())
    });
    let windows = || {
        m.scene()
            .and_then(|s| s["windows"].as_array().map(Vec::len))
    };
    // A second subsurface, shown with the parent's commit, then destroyed with its surface
    // and no commit at all: its window leaves the glass.
    let (child2, sub2) = (next, next + 1);
    c.send(compositor, 0, Args::new().u(child2), &[]); // create_surface
    c.send(
        subcompositor,
        1,
        Args::new().u(sub2).u(child2).u(surface),
        &[],
    ); // get_subsurface
    c.send(child2, 1, Args::new().u(small).u(0).u(0), &[]); // attach
    c.send(child2, 6, Args::new(), &[]); // commit (cached)
    pixels(&mut c);
    wait_for("the second subsurface's window", LIMIT, || {
        (windows()? == 3).then_some(())
    });
    c.send(sub2, 0, Args::new(), &[]); // wl_subsurface.destroy
    c.send(child2, 0, Args::new(), &[]); // wl_surface.destroy
    wait_for("the destroyed subsurface's window gone", LIMIT, || {
        (windows()? == 2).then_some(())
    });
    let _ = std::fs::remove_file(path);
}

#[test]
fn one_two_finger_touch_reaches_a_native_and_a_wayland_window_at_once() {
    use fusionfb_protocol::{Injected, TouchPhase};
    let Some(touch) = program("weston-simple-touch", "weston") else {
        return;
    };
    let m = WaylandMaster::start("wl-both");
    // The native paint app on the right half, simple-touch at the output's corner.
    let _paint = fusionfb_tests::Process::spawn(
        "fusionfb-paint",
        &m.world,
        &[
            "--x", "640", "--y", "0", "--width", "640", "--height", "800",
        ],
    );
    let c = m.client(&touch, &[], "touch");
    toplevel_window(&m, c.pid());
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    let bg = fusionfb_client::app::PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    let (wayland_spot, native_spot) = ((150u32, 120u32), (900u32, 400u32));
    let before = wait_for("both windows on the glass", LIMIT, || {
        let img = d.screenshot().ok()?;
        let w = img.pixel(wayland_spot.0, wayland_spot.1) & 0xff_ffff != 0;
        let n = img.pixel(native_spot.0, native_spot.1) & 0xff_ffff == bg;
        (w && n).then_some(img)
    });
    let t = |phase, slot, (x, y): (u32, u32)| Injected::Touch {
        phase,
        slot,
        x: x as f32,
        y: y as f32,
    };
    let frame = Injected::Touch {
        phase: TouchPhase::Frame,
        slot: 0,
        x: 0.0,
        y: 0.0,
    };
    // Both fingers go down in one multi-touch frame, each on its own window.
    d.inject(&[
        t(TouchPhase::Down, 0, wayland_spot),
        t(TouchPhase::Down, 1, native_spot),
        frame.clone(),
    ])
    .expect("inject");
    d.inject(&[
        t(TouchPhase::Up, 0, wayland_spot),
        t(TouchPhase::Up, 1, native_spot),
        frame,
    ])
    .expect("inject");
    wait_until("both windows to draw under their finger", LIMIT, || {
        let img = d.screenshot().unwrap();
        img.pixel(wayland_spot.0, wayland_spot.1) != before.pixel(wayland_spot.0, wayland_spot.1)
            && img.pixel(native_spot.0, native_spot.1) & 0xff_ffff != bg
    });
}

#[test]
fn presentation_shm_is_presented_every_vblank() {
    let Some(present) = program("weston-presentation-shm", "weston") else {
        return;
    };
    let m = WaylandMaster::start("wl-pshm");
    let c = m.client(&present, &["-f"], "present");
    // One line per presented commit: "N: f2c .. ms, c2p .. ms, f2p .. ms, p2p 16666 us,
    // t2p .., [s___], seq S" (s: the vsync flag).
    let lines = wait_for("30 presented frames", LIMIT, || {
        let out = c.output();
        let lines: Vec<String> = out
            .lines()
            .filter(|l| l.contains("seq"))
            .map(str::to_string)
            .collect();
        (lines.len() >= 30).then_some(lines)
    });
    let seq = |l: &str| -> u64 { l.rsplit("seq ").next().unwrap().trim().parse().unwrap() };
    let p2p = |l: &str| -> u64 {
        let after = l.split("p2p").nth(1).unwrap().trim_start();
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    // Each presented on a vblank of its own, later than the one before (a loaded test machine
    // may miss some: the gap is then a whole number of 60 Hz refresh intervals), all vsynced.
    for pair in lines[1..30].windows(2) {
        assert!(seq(&pair[1]) > seq(&pair[0]), "{pair:?}");
    }
    for l in &lines[1..30] {
        let thirds = p2p(l) * 3 % 50_000; // 3 intervals of 16666.7 us are 50000 us
        assert!(
            thirds <= 3 || thirds >= 49_997,
            "a whole number of vblanks: {l}"
        );
        assert!(l.contains("[s___]"), "vsync: {l}");
    }
}

#[test]
fn simple_touch_draws_under_two_fingers_at_once() {
    use fusionfb_protocol::{Injected, TouchPhase};
    let Some(touch) = program("weston-simple-touch", "weston") else {
        return;
    };
    let m = WaylandMaster::start("wl-two");
    let c = m.client(&touch, &[], "touch");
    toplevel_window(&m, c.pid());
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    let (a, b, far) = ((120u32, 100u32), (200u32, 180u32), (40u32, 220u32));
    let before = wait_for("simple-touch's window on the glass", LIMIT, || {
        let img = d.screenshot().ok()?;
        (img.pixel(a.0, a.1) & 0xff_ffff != 0).then_some(img)
    });
    let t = |phase, slot, (x, y): (u32, u32)| Injected::Touch {
        phase,
        slot,
        x: x as f32,
        y: y as f32,
    };
    let frame = || Injected::Touch {
        phase: TouchPhase::Frame,
        slot: 0,
        x: 0.0,
        y: 0.0,
    };
    // Two fingers on the one surface, down in one frame: wl_touch gets two ids, and the
    // client paints under each.
    d.inject(&[
        t(TouchPhase::Down, 0, a),
        t(TouchPhase::Down, 1, b),
        frame(),
    ])
    .expect("inject");
    d.inject(&[t(TouchPhase::Up, 0, a), t(TouchPhase::Up, 1, b), frame()])
        .expect("inject");
    wait_until("both fingers painted", LIMIT, || {
        let img = d.screenshot().unwrap();
        img.pixel(a.0, a.1) != before.pixel(a.0, a.1)
            && img.pixel(b.0, b.1) != before.pixel(b.0, b.1)
    });
    let img = d.screenshot().unwrap();
    assert_eq!(img.pixel(far.0, far.1), before.pixel(far.0, far.1));
}

#[test]
fn the_wayland_socket_outlives_a_master_that_dies() {
    use std::os::unix::fs::MetadataExt;
    let Some(info) = program("wayland-info", "wayland-utils") else {
        return;
    };
    let mut m = WaylandMaster::start("wl-restart");
    let socket = m.socket();
    let inode = std::fs::metadata(&socket).unwrap().ino();
    let pid = |m: &WaylandMaster| m.scene().and_then(|s| s["health"]["pid"].as_u64());
    let old = wait_for("the master's pid", LIMIT, || pid(&m));
    let fd = fusionfb_sys::pidfd_open(old as u32).unwrap();
    fusionfb_sys::pidfd_kill(std::os::fd::AsFd::as_fd(&fd)).unwrap();
    // A client that connects right away waits in the socket's backlog for the next master
    // (the same socket: `fusionfb run` holds it), which serves it.
    let mut c = m.client(&info, &[], "info-after");
    let status = c.wait();
    let out = c.output();
    assert!(status.success(), "wayland-info failed ({status}):\n{out}");
    assert!(out.contains("wl_compositor"), "{out}");
    let new = wait_for("a new master", LIMIT, || pid(&m).filter(|&p| p != old));
    assert_ne!(new, old);
    assert_eq!(
        std::fs::metadata(&socket).unwrap().ino(),
        inode,
        "the Wayland socket was bound again"
    );
    m.assert_running();
}

/// Two outputs side by side: `wayland-info` sees a `wl_output` for each at its place, and a
/// `[[wayland.rule]]` with `output` puts `weston-simple-shm` on the second, where its
/// pattern shows on that output's glass and not on the first.
#[test]
fn a_rule_puts_simple_shm_on_the_second_of_two_outputs() {
    let (Some(info), Some(shm)) = (
        program("wayland-info", "wayland-utils"),
        program("weston-simple-shm", "weston"),
    ) else {
        return;
    };
    let config = "[[output]]\nname = \"Left\"\nmode = \"320x240\"\n\
                  [[output]]\nname = \"Right\"\nmode = \"400x300\"\n\
                  [[wayland.rule]]\napp-id = \"org.freedesktop.weston.simple-shm\"\n\
                  output = \"Right\"\nposition = [10, 20]\nsize = [250, 250]\n";
    let m = WaylandMaster::start_with("wl-outputs", Some(config));
    let mut c = m.client(&info, &[], "info");
    let status = c.wait();
    let out = c.output();
    assert!(status.success(), "wayland-info failed ({status}):\n{out}");
    assert_eq!(out.matches("'wl_output'").count(), 2, "{out}");
    assert!(out.contains("width: 320 px, height: 240 px"), "{out}");
    assert!(out.contains("width: 400 px, height: 300 px"), "{out}");
    assert!(
        out.contains("x: 320, y: 0"),
        "the second output's place:\n{out}"
    );

    let mut c = m.client(&shm, &[], "shm");
    let window = toplevel_window(&m, c.pid());
    let win = scene_window(&m, window);
    // The rule's position is on Right, whose corner is at (320, 0) in the layout.
    assert_eq!(
        (win["x"].as_i64(), win["y"].as_i64()),
        (Some(330), Some(20))
    );
    let mut d = Display::connect_to(m.world.clone()).expect("join the master");
    wait_for("simple-shm's pattern on Right", LIMIT, || {
        let img = d.screenshot_output("Right").ok()?;
        (img.pixel(10 + 125, 20 + 125) & 0xff_ffff != 0).then_some(())
    });
    let left = d.screenshot_output("Left").unwrap();
    let lit = (0..left.height)
        .flat_map(|y| (0..left.width).map(move |x| (x, y)))
        .filter(|&(x, y)| left.pixel(x, y) & 0xff_ffff != 0)
        .count();
    assert_eq!(lit, 0, "simple-shm showed on Left too");
    assert!(c.exited().is_none(), "simple-shm ended:\n{}", c.output());
}

/// A layer surface a client puts on the second of two outputs (the `wl_output` it names)
/// is arranged on that output, at its place in the layout, and its exclusive zone leaves the
/// first output's usable area alone.
#[test]
fn a_layer_surface_goes_on_the_output_its_client_names() {
    use std::os::fd::AsFd;
    let config = "[[output]]\nname = \"Left\"\nmode = \"320x240\"\n\
                  [[output]]\nname = \"Right\"\nmode = \"400x300\"\n";
    let m = WaylandMaster::start_with("wl-layer-out", Some(config));
    let mut c = RawClient::connect(&m.socket());
    let mut next = 2;
    let ids = c.bind(
        &[
            ("wl_compositor", 4),
            ("wl_shm", 1),
            ("zwlr_layer_shell_v1", 4),
            ("wl_output", 4),
            ("wl_output", 4),
            ("xdg_wm_base", 1),
        ],
        &mut next,
    );
    let (compositor, shm, shell, wm) = (ids[0], ids[1], ids[2], ids[5]);
    // Which wl_output is Right: wl_output.name (version 4, opcode 4).
    let mut names = Vec::new();
    while names.len() < 2 {
        let e = c.event().expect("the outputs' names");
        if (e.object == ids[3] || e.object == ids[4]) && e.opcode == 4 {
            names.push((e.object, e.string(0)));
        }
    }
    let right = names.iter().find(|(_, n)| n == "Right").unwrap().0;
    let mut id = || {
        next += 1;
        next - 1
    };
    let (surface, layer, pool, buffer) = (id(), id(), id(), id());
    c.send(compositor, 0, Args::new().u(surface), &[]);
    // get_layer_surface(id, surface, output, layer top = 2, namespace)
    c.send(
        shell,
        0,
        Args::new().u(layer).u(surface).u(right).u(2).s("panel"),
        &[],
    );
    c.send(layer, 0, Args::new().u(0).u(40), &[]); // set_size(0, 40)
    c.send(layer, 1, Args::new().u(1 | 4 | 8), &[]); // set_anchor(top, left, right)
    c.send(layer, 2, Args::new().u(40), &[]); // set_exclusive_zone(40)
    c.send(surface, 6, Args::new(), &[]); // commit
    let (serial, w, h) = c.until("the layer surface's configure", |e| {
        (e.object == layer && e.opcode == 0).then(|| (e.word(0), e.word(1), e.word(2)))
    });
    assert_eq!((w, h), (400, 40), "Right's width");
    c.send(layer, 6, Args::new().u(serial), &[]); // ack_configure
    let path = m.runtime.join(format!("{}.panel", m.world.name));
    let file = fusionfb_tests::wayland::pool_file(&path);
    let len = 400 * 40 * 4;
    file.set_len(len).unwrap();
    c.send(shm, 0, Args::new().u(pool).u(len as u32), &[file.as_fd()]);
    c.send(
        pool,
        0,
        Args::new().u(buffer).u(0).u(400).u(40).u(1600).u(1),
        &[],
    );
    c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
    c.send(surface, 6, Args::new(), &[]); // commit
                                          // Its window is at Right's corner in the layout.
    let at = wait_for("the panel's window", LIMIT, || {
        let scene = m.scene()?;
        scene["windows"].as_array()?.iter().find_map(|w| {
            (w["width"].as_u64() == Some(400) && w["height"].as_u64() == Some(40))
                .then(|| (w["x"].as_i64(), w["y"].as_i64()))
        })
    });
    assert_eq!(at, (Some(320), Some(0)));
    // A toplevel on the first output is still maximized to all of it: the panel's zone is
    // Right's.
    let (top_surface, top_xdg, top) = (next, next + 1, next + 2);
    c.send(compositor, 0, Args::new().u(top_surface), &[]); // create_surface
    c.send(wm, 2, Args::new().u(top_xdg).u(top_surface), &[]); // get_xdg_surface
    c.send(top_xdg, 1, Args::new().u(top), &[]); // get_toplevel
    c.send(top_surface, 6, Args::new(), &[]); // commit
    let (tw, th) = c.until("the toplevel's configure", |e| {
        (e.object == top && e.opcode == 0).then(|| (e.word(0), e.word(1)))
    });
    assert_eq!((tw, th), (320, 240));
    let _ = std::fs::remove_file(path);
}
