//! Protocols no Debian client here exercises, spoken by hand-made clients on a headless
//! `fusionfb run`: `xdg_activation_v1` (a focused client hands another the front; a client
//! without the focus cannot take it), `zwp_idle_inhibit_manager_v1` (the status names the
//! client keeping the screen awake while its surface is shown, and `blank-after` does not
//! blank the display until the inhibitor goes), `zwp_input_method_v2`
//! committing text into the focused client's `zwp_text_input_v3`, and the cursor a client
//! sets (`wl_pointer.set_cursor`, `wp_cursor_shape_v1`; on the hardware cursor plane when it
//! fits, composed when it is larger).

use std::os::fd::AsFd as _;

use fusionfb_tests::wait_until;
use fusionfb_tests::wayland::{pool_file, Args, RawClient, WaylandMaster, LIMIT};

/// A raw client with a shown toplevel: its objects.
struct Shown {
    c: RawClient,
    next: u32,
    compositor: u32,
    shm: u32,
    surface: u32,
    /// Its `wl_shm_pool` (8x8 pixels, XRGB8888) and the first buffer made from it.
    pool: u32,
    buffer: u32,
    /// The other globals bound: `xdg_activation_v1` and `zwp_idle_inhibit_manager_v1`.
    activation: u32,
    idle: u32,
    _pool: std::fs::File,
}

impl Shown {
    /// Connects, makes a toplevel with an 8x8 buffer (shown, so it takes the focus).
    fn new(m: &WaylandMaster, tag: &str, app_id: &str) -> Shown {
        Shown::with(RawClient::connect(&m.socket()), 2, m, tag, app_id)
    }

    /// [`Shown::new`] on the connection `c`, whose next free object id is `next`.
    fn with(mut c: RawClient, mut next: u32, m: &WaylandMaster, tag: &str, app_id: &str) -> Shown {
        let ids = c.bind(
            &[
                ("wl_compositor", 4),
                ("wl_shm", 1),
                ("xdg_wm_base", 1),
                ("xdg_activation_v1", 1),
                ("zwp_idle_inhibit_manager_v1", 1),
            ],
            &mut next,
        );
        let (compositor, shm, wm) = (ids[0], ids[1], ids[2]);
        let surface = c.toplevel(compositor, wm, Some(app_id), &mut next);
        let (pool, buffer) = (next, next + 1);
        next += 2;
        let path = m.runtime.join(format!("{}.{tag}.pool", m.world.name));
        let file = pool_file(&path);
        file.set_len(8 * 8 * 4).unwrap();
        c.create_pool(shm, pool, &file, 8 * 8 * 4);
        c.create_buffer(pool, buffer, 0, 8, 8);
        c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
        c.send(surface, 6, Args::new(), &[]); // commit
        let mut s = Shown {
            c,
            next,
            compositor,
            shm,
            surface,
            pool,
            buffer,
            activation: ids[3],
            idle: ids[4],
            _pool: file,
        };
        s.roundtrip();
        s
    }

    fn id(&mut self) -> u32 {
        self.next += 1;
        self.next - 1
    }

    /// Waits until the master handled everything sent so far.
    fn roundtrip(&mut self) {
        let cb = self.id();
        self.c.send(1, 0, Args::new().u(cb), &[]); // wl_display.sync
        self.c.until("the sync", |e| (e.object == cb).then_some(()));
    }

    /// Asks for an activation token for this client's surface; the token string.
    fn token(&mut self) -> String {
        let token = self.id();
        self.c.send(self.activation, 1, Args::new().u(token), &[]); // get_activation_token
        self.c.send(token, 2, Args::new().u(self.surface), &[]); // set_surface
        self.c.send(token, 3, Args::new(), &[]); // commit
        self.c.until("the token", |e| {
            (e.object == token && e.opcode == 0).then(|| e.string(0))
        })
    }

    /// Asks for this client's surface to be activated with `token`.
    fn activate(&mut self, token: &str) {
        self.c.send(
            self.activation,
            2,
            Args::new().s(token).u(self.surface),
            &[],
        ); // activate
        self.roundtrip();
    }
}

/// The window showing the toplevel with `app_id`, and whether it has the focus and where
/// it is in the stack.
fn window(m: &WaylandMaster, app_id: &str) -> Option<(bool, usize)> {
    let scene = m.scene()?;
    let id = scene["wayland"]["clients"]
        .as_array()?
        .iter()
        .flat_map(|c| c["toplevels"].as_array().cloned().unwrap_or_default())
        .find(|t| t["app_id"].as_str() == Some(app_id))?["window"]
        .as_u64()?;
    let windows = scene["windows"].as_array()?;
    let at = windows.iter().position(|w| w["id"].as_u64() == Some(id))?;
    Some((windows[at]["focused"].as_bool() == Some(true), at))
}

#[test]
fn a_focused_client_hands_another_the_front_and_an_unfocused_one_cannot_take_it() {
    let mut m = WaylandMaster::start("wl-activate");
    let mut a = Shown::new(&m, "a", "app-a");
    wait_until("a focused", LIMIT, || {
        window(&m, "app-a").is_some_and(|(f, _)| f)
    });
    let mut b = Shown::new(&m, "b", "app-b");
    wait_until("b focused, over a", LIMIT, || {
        matches!((window(&m, "app-a"), window(&m, "app-b")),
            (Some((false, ia)), Some((true, ib))) if ib > ia)
    });
    // a has no focus: its own token is refused, and its activation ignored.
    let refused = a.token();
    a.activate(&refused);
    b.roundtrip();
    assert!(
        matches!(window(&m, "app-b"), Some((true, _))),
        "an unfocused client took the focus"
    );
    // b, focused, asks for a token and hands it to a (as a launcher would): a comes to
    // the front with the focus.
    let token = b.token();
    a.activate(&token);
    wait_until("a focused, over b", LIMIT, || {
        matches!((window(&m, "app-a"), window(&m, "app-b")),
            (Some((true, ia)), Some((false, ib))) if ia > ib)
    });
    // A token is good once.
    b.activate(&token);
    a.roundtrip();
    assert!(matches!(window(&m, "app-a"), Some((true, _))));
    m.assert_running();
}

/// The pids `fusionfb status` says keep the screen awake.
fn inhibitors(m: &WaylandMaster) -> Vec<u64> {
    m.scene()
        .and_then(|s| {
            s["idle_inhibited_by"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_u64()).collect())
        })
        .unwrap_or_default()
}

/// Creates an idle inhibitor on `a`'s shown surface and waits until the status names this
/// process for it; returns the inhibitor's id and the pid named.
fn inhibit(a: &mut Shown, m: &WaylandMaster) -> (u32, u64) {
    let inhibitor = a.id();
    a.c.send(a.idle, 1, Args::new().u(inhibitor).u(a.surface), &[]); // create_inhibitor
    a.roundtrip();
    let me = u64::from(std::process::id());
    wait_until("the inhibitor in the status", LIMIT, || {
        inhibitors(m) == vec![me]
    });
    (inhibitor, me)
}

/// Makes another 8x8 buffer of `a`'s pool, attaches it with full damage and a frame
/// callback and commits; the buffer's and the callback's ids.
fn commit_new_buffer(a: &mut Shown) -> (u32, u32) {
    let (buffer, cb) = (a.id(), a.id());
    a.c.send(
        a.pool,
        0,
        Args::new().u(buffer).u(0).u(8).u(8).u(32).u(1),
        &[],
    ); // create_buffer
    a.c.send(a.surface, 3, Args::new().u(cb), &[]); // frame
    a.c.send(a.surface, 1, Args::new().u(buffer).u(0).u(0), &[]); // attach
    a.c.send(a.surface, 2, Args::new().u(0).u(0).u(8).u(8), &[]); // damage
    a.c.send(a.surface, 6, Args::new(), &[]); // commit
    (buffer, cb)
}

/// A wl_shm buffer is shown as it is, and goes back to the client once another replaces
/// it, with the frame that shows its successor: the release and that frame's callback
/// `done` come in one message from the master, so the client wakes once per frame. While
/// the display is blanked no frame comes, and the replaced buffer goes back at once.
#[test]
fn a_replaced_buffer_comes_back_with_the_next_frame_and_at_once_while_blanked() {
    let mut m = WaylandMaster::start("wl-release");
    let mut a = Shown::new(&m, "a", "app-release");
    let first = a.buffer;
    let (second, cb) = commit_new_buffer(&mut a);
    let with_release = loop {
        let batch = a.c.batch().expect("the master hung up");
        assert!(
            !batch.iter().any(|e| e.object == second && e.opcode == 0),
            "the shown buffer was released: {batch:?}"
        );
        if batch.iter().any(|e| e.object == first && e.opcode == 0) {
            break batch;
        }
    };
    assert!(
        with_release.iter().any(|e| e.object == cb && e.opcode == 0),
        "the release came without the frame's done: {with_release:?}"
    );

    assert!(m.fusionfb(&["blank", "on"]).is_some());
    wait_until("the display to blank", LIMIT, || blanked(&m) == Some(true));
    let (_third, cb) = commit_new_buffer(&mut a);
    let mut done = false;
    a.c.until("the replaced buffer back while blanked", |e| {
        done |= e.object == cb && e.opcode == 0;
        (e.object == second && e.opcode == 0).then_some(())
    });
    assert!(!done, "a frame was answered while the display was blanked");
    assert!(m.fusionfb(&["blank", "off"]).is_some());
    a.c.until("the frame once the display is on", |e| {
        (e.object == cb && e.opcode == 0).then_some(())
    });
    m.assert_running();
}

/// Fills `a`'s pool (8x8 XRGB8888) with `rgb`.
fn paint(a: &Shown, rgb: u32) {
    use std::os::unix::fs::FileExt as _;
    let bytes: Vec<u8> = std::iter::repeat_n(rgb.to_ne_bytes(), 64)
        .flatten()
        .collect();
    a._pool.write_all_at(&bytes, 0).unwrap();
}

/// A client may destroy the buffer its surface shows before it comes back (the surface
/// keeps what it showed, as long as the client leaves the memory alone): the master then
/// keeps the pixels itself, so what is drawn over the surface and goes away uncovers them,
/// and not whatever the client puts in its pool afterwards.
#[test]
fn a_shown_buffer_destroyed_by_its_client_stays_on_the_glass() {
    let m = WaylandMaster::start("wl-destroyed");
    let mut d = fusionfb_client::display::Display::connect_to(m.world.clone()).expect("join");
    let mut a = Shown::new(&m, "a", "app-destroyed");
    paint(&a, 0xff_0000);
    let (buffer, _) = commit_new_buffer(&mut a);
    wait_until("the red surface on the glass", LIMIT, || {
        pixel(&mut d, 2, 2) == 0xff_0000
    });
    a.c.send(buffer, 0, Args::new(), &[]); // wl_buffer.destroy
    a.roundtrip();
    paint(&a, 0x00_ff00);
    // Another client's surface (black) covers it, then goes.
    let b = Shown::new(&m, "b", "app-cover");
    wait_until("the cover on the glass", LIMIT, || pixel(&mut d, 2, 2) == 0);
    drop(b);
    wait_until("the cover gone", LIMIT, || {
        window(&m, "app-cover").is_none()
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        pixel(&mut d, 2, 2),
        0xff_0000,
        "the destroyed buffer's pixels"
    );
}

/// Whether `fusionfb status` says the display is blanked (`None`: it did not answer).
fn blanked(m: &WaylandMaster) -> Option<bool> {
    m.scene().and_then(|s| s["blanking"]["blanked"].as_bool())
}

#[test]
fn a_shown_surfaces_idle_inhibitor_keeps_the_display_from_blanking() {
    let mut m = WaylandMaster::start_with(
        "wl-idle-blank",
        Some("[display]\nbackend = \"headless\"\nblank-after = \"400ms\"\n"),
    );
    let mut a = Shown::new(&m, "a", "app-idle");
    let (inhibitor, _) = inhibit(&mut a, &m);
    // The display may have blanked before the inhibitor came: on again, idle from now.
    assert!(m.fusionfb(&["blank", "off"]).is_some());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        blanked(&m),
        Some(false),
        "blanked although a surface inhibits"
    );
    a.c.send(inhibitor, 0, Args::new(), &[]); // destroy
    a.roundtrip();
    wait_until("the display to blank without the inhibitor", LIMIT, || {
        blanked(&m) == Some(true)
    });
    m.assert_running();
}

#[test]
fn the_status_names_a_client_inhibiting_idleness_while_its_surface_is_shown() {
    let mut m = WaylandMaster::start("wl-idle");
    let mut a = Shown::new(&m, "a", "app-idle");
    assert!(inhibitors(&m).is_empty());
    let (inhibitor, me) = inhibit(&mut a, &m);
    let text = m.fusionfb(&["status"]).unwrap_or_default();
    assert!(
        text.contains(&format!("idle inhibited by pid {me}")),
        "{text}"
    );
    a.c.send(inhibitor, 0, Args::new(), &[]); // destroy
    a.roundtrip();
    wait_until("no inhibitor", LIMIT, || inhibitors(&m).is_empty());
    // An inhibitor on a surface that shows nothing does not count.
    let (surface, inhibitor) = (a.id(), a.id());
    a.c.send(a.compositor, 0, Args::new().u(surface), &[]); // create_surface
    a.c.send(a.idle, 1, Args::new().u(inhibitor).u(surface), &[]);
    a.roundtrip();
    assert!(inhibitors(&m).is_empty());
    m.assert_running();
}

#[test]
fn an_input_method_commits_text_into_the_focused_clients_text_input() {
    let mut m = WaylandMaster::start("wl-im");
    // The input method: a client of its own, with no window.
    let mut im = RawClient::connect(&m.socket());
    let mut next = 2;
    let ids = im.bind(
        &[("wl_seat", 1), ("zwp_input_method_manager_v2", 1)],
        &mut next,
    );
    let method = next;
    im.send(ids[1], 0, Args::new().u(ids[0]).u(method), &[]); // get_input_method
                                                              // The application: a text input, then its window (which takes the keyboard focus, and
                                                              // the text input with it).
    let mut app = RawClient::connect(&m.socket());
    let mut n = 2;
    let ids = app.bind(&[("wl_seat", 1), ("zwp_text_input_manager_v3", 1)], &mut n);
    let text_input = n;
    app.send(ids[1], 1, Args::new().u(text_input).u(ids[0]), &[]); // get_text_input
    let mut shown = Shown::with(app, n + 1, &m, "im-app", "app-text");
    shown.c.until("the text input's enter", |e| {
        (e.object == text_input && e.opcode == 0).then_some(())
    });
    // The field is focused: the text input is enabled, the input method activated.
    shown.c.send(text_input, 1, Args::new(), &[]); // enable
    shown.c.send(text_input, 7, Args::new(), &[]); // commit
    shown.roundtrip();
    im.until("activate", |e| {
        (e.object == method && e.opcode == 0).then_some(())
    });
    im.until("done", |e| {
        (e.object == method && e.opcode == 5).then_some(())
    });
    // The input method commits text; the application gets it.
    im.send(method, 0, Args::new().s("grüße"), &[]); // commit_string
    im.send(method, 3, Args::new().u(1), &[]); // commit, after 1 done
    let text = shown.c.until("the committed text", |e| {
        (e.object == text_input && e.opcode == 3).then(|| e.string(0))
    });
    assert_eq!(text, "grüße");
    shown.c.until("the text input's done", |e| {
        (e.object == text_input && e.opcode == 5).then_some(())
    });
    m.assert_running();
}

/// `0xRRGGBB` of the screenshot at `(x, y)`.
fn pixel(d: &mut fusionfb_client::display::Display, x: u32, y: u32) -> u32 {
    d.screenshot().expect("a screenshot").pixel(x, y) & 0xff_ffff
}

#[test]
fn a_client_cursor_replaces_the_arrow_over_its_window_and_a_shape_brings_it_back() {
    let config = "[input]\ncursor-visible = true\n";
    let mut m = WaylandMaster::start_with("wl-cursor", Some(config));
    let mut a = Shown::new(&m, "cursor", "app-cursor");
    let mut d = fusionfb_client::display::Display::connect_to(m.world.clone()).expect("join");
    // The app's window is its 8x8 buffer at the corner: make the pointer's spot the
    // window's, black, and away from it the background, black too; the arrow is white
    // inside a black outline, so a white pixel at (x+2, y+5) is the arrow.
    let ids = a.c.bind(
        &[("wl_seat", 5), ("wp_cursor_shape_manager_v1", 1)],
        &mut a.next,
    );
    let (seat, shapes) = (ids[0], ids[1]);
    let pointer = a.id();
    a.c.send(seat, 0, Args::new().u(pointer), &[]); // get_pointer
    a.roundtrip();
    m.fusionfb(&["input", "pointer", "2", "1"])
        .expect("move the pointer");
    let serial = a.c.until("the pointer's enter", |e| {
        (e.object == pointer && e.opcode == 0).then(|| e.word(0))
    });
    let arrow = |d: &mut fusionfb_client::display::Display| pixel(d, 2 + 2, 1 + 5) == 0xff_ffff;
    wait_until("the arrow over the window", LIMIT, || arrow(&mut d));
    // A 4x4 red cursor surface, hotspot (1, 1).
    let (surface, pool, buffer) = (a.id(), a.id(), a.id());
    let path = m.runtime.join(format!("{}.cursor", m.world.name));
    let file = pool_file(&path);
    use std::io::Write as _;
    (&file)
        .write_all(&0xffff_0000u32.to_le_bytes().repeat(16))
        .unwrap();
    a.c.send(a.compositor, 0, Args::new().u(surface), &[]);
    a.c.send(a.shm, 0, Args::new().u(pool).u(64), &[file.as_fd()]);
    a.c.send(
        pool,
        0,
        Args::new().u(buffer).u(0).u(4).u(4).u(16).u(0),
        &[],
    ); // ARGB8888
    a.c.send(surface, 1, Args::new().u(buffer).u(0).u(0), &[]);
    a.c.send(surface, 6, Args::new(), &[]);
    a.c.send(pointer, 0, Args::new().u(serial).u(surface).u(1).u(1), &[]); // set_cursor
    a.roundtrip();
    // Its corner is at the pointer less the hotspot: (1, 0) to (4, 3).
    wait_until("the client's cursor", LIMIT, || {
        pixel(&mut d, 1, 0) == 0xff_0000 && pixel(&mut d, 4, 3) == 0xff_0000
    });
    assert!(!arrow(&mut d), "the arrow is still drawn");
    // 4x4 fits the headless output's 64x64 cursor plane: the hardware cursor shows it.
    let cursor = |m: &WaylandMaster| m.scene().map(|s| s["cursor"].clone()).unwrap_or_default();
    wait_until("the client's cursor on the cursor plane", LIMIT, || {
        cursor(&m)["hardware"] == true
    });
    // An 80x80 picture does not fit: composed, and still drawn (green now).
    let (pool2, big) = (a.id(), a.id());
    let path2 = m.runtime.join(format!("{}.cursor-big", m.world.name));
    let file2 = pool_file(&path2);
    (&file2)
        .write_all(&0xff00_ff00u32.to_le_bytes().repeat(80 * 80))
        .unwrap();
    a.c.send(
        a.shm,
        0,
        Args::new().u(pool2).u(80 * 80 * 4),
        &[file2.as_fd()],
    );
    a.c.send(
        pool2,
        0,
        Args::new().u(big).u(0).u(80).u(80).u(80 * 4).u(0),
        &[],
    ); // ARGB8888
    a.c.send(surface, 1, Args::new().u(big).u(0).u(0), &[]);
    a.c.send(surface, 6, Args::new(), &[]);
    a.roundtrip();
    wait_until("the big cursor composed", LIMIT, || {
        pixel(&mut d, 1, 0) == 0x00_ff00 && pixel(&mut d, 60, 70) == 0x00_ff00
    });
    let c = cursor(&m);
    assert_eq!(c["hardware"], false, "{c}");
    assert!(
        c["composed_because"]
            .as_str()
            .is_some_and(|s| s.contains("80x80, larger than the 64x64 plane")),
        "{c}"
    );
    // A null surface hides the cursor.
    a.c.send(pointer, 0, Args::new().u(serial).u(0).u(0).u(0), &[]);
    a.roundtrip();
    wait_until("no cursor", LIMIT, || {
        pixel(&mut d, 2, 1) != 0xff_0000 && !arrow(&mut d)
    });
    // wp_cursor_shape_v1's "default" is the arrow.
    let device = a.id();
    a.c.send(shapes, 1, Args::new().u(device).u(pointer), &[]); // get_pointer
    a.c.send(device, 1, Args::new().u(serial).u(1), &[]); // set_shape default
    a.roundtrip();
    wait_until("the arrow again", LIMIT, || arrow(&mut d));
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path2);
    m.assert_running();
}
