//! The `window` backend under a real X server (`Xvfb`, started by the test on a display
//! number it picks with `-displayfd`): `fusionfb run --backend window` and `fusionfb-paint`
//! as processes; the pixels are read back from the X server's screen (`GetImage` on the root
//! window), and the mouse is X's own (XTEST fake input), so everything between the X server
//! and the client's buffer is the real path. Skipped, with a message, only where `Xvfb` is
//! not installed (`scripts/deps.sh` installs it: package `xvfb`).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fusionfb_client::app::{PAINT_BACKGROUND, PALETTE};
use fusionfb_tests::{world, Process};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    self, AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, ImageFormat,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

const LIMIT: Duration = Duration::from_secs(30);
/// The master's background in the config below (`#102030`).
const BACKGROUND: u32 = 0x10_2030;

/// An Xvfb server, killed when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display, or `None` (with a message) when it is not installed.
    fn start() -> Option<Xvfb> {
        let spawned = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "800x600x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skipped("Xvfb is not installed (apt-get install xvfb)");
                return None;
            }
            Err(e) => panic!("starting Xvfb: {e}"),
        };
        // Xvfb writes the display number it took once it accepts connections.
        let mut out = child.stdout.take().expect("Xvfb's stdout");
        let mut number = String::new();
        let mut byte = [0u8];
        while out.read(&mut byte).expect("reading Xvfb's display number") == 1 {
            if byte[0] == b'\n' {
                break;
            }
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb gave no display number");
        Some(Xvfb {
            child,
            display: format!(":{}", number.trim()),
        })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The X screen as 0xRRGGBB pixels.
struct Screen {
    width: u32,
    data: Vec<u8>,
}

impl Screen {
    fn grab(conn: &RustConnection, root: u32, width: u16, height: u16) -> Screen {
        let img = conn
            .get_image(ImageFormat::Z_PIXMAP, root, 0, 0, width, height, !0)
            .expect("GetImage request")
            .reply()
            .expect("GetImage reply");
        assert_eq!(img.depth, 24);
        Screen {
            width: u32::from(width),
            data: img.data,
        }
    }

    fn pixel(&self, x: i32, y: i32) -> u32 {
        // Depth 24 is stored in 32 bits per pixel, little-endian: B, G, R, unused.
        let at = (y as usize * self.width as usize + x as usize) * 4;
        u32::from_le_bytes(self.data[at..at + 4].try_into().unwrap()) & 0xff_ffff
    }
}

struct X {
    conn: RustConnection,
    root: u32,
    size: (u16, u16),
}

impl X {
    fn connect(display: &str) -> X {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connecting to Xvfb");
        let s = &conn.setup().roots[screen];
        let (root, size) = (s.root, (s.width_in_pixels, s.height_in_pixels));
        X { conn, root, size }
    }

    fn screen(&self) -> Screen {
        Screen::grab(&self.conn, self.root, self.size.0, self.size.1)
    }

    /// Waits until `done` holds for the screen, checking the processes stay up.
    fn wait_for(&self, procs: &mut [&mut Process], what: &str, done: impl Fn(&Screen) -> bool) {
        fusionfb_tests::wait_until(what, LIMIT, || {
            for p in procs.iter_mut() {
                p.assert_running();
            }
            done(&self.screen())
        });
    }

    /// Moves the X pointer and clicks the left button (XTEST: as a real mouse would).
    fn click(&self, x: i16, y: i16) {
        let c = &self.conn;
        c.xtest_fake_input(xproto::MOTION_NOTIFY_EVENT, 0, 0, self.root, x, y, 0)
            .unwrap();
        c.xtest_fake_input(xproto::BUTTON_PRESS_EVENT, 1, 0, self.root, 0, 0, 0)
            .unwrap();
        c.xtest_fake_input(xproto::BUTTON_RELEASE_EVENT, 1, 0, self.root, 0, 0, 0)
            .unwrap();
        c.flush().unwrap();
    }

    /// Drags with the left button held from `from` to `to` in steps.
    fn drag(&self, from: (i16, i16), to: (i16, i16), steps: i16) {
        let c = &self.conn;
        c.xtest_fake_input(
            xproto::MOTION_NOTIFY_EVENT,
            0,
            0,
            self.root,
            from.0,
            from.1,
            0,
        )
        .unwrap();
        c.xtest_fake_input(xproto::BUTTON_PRESS_EVENT, 1, 0, self.root, 0, 0, 0)
            .unwrap();
        for i in 1..=steps {
            let x = from.0 + (to.0 - from.0) * i / steps;
            let y = from.1 + (to.1 - from.1) * i / steps;
            c.xtest_fake_input(xproto::MOTION_NOTIFY_EVENT, 0, 0, self.root, x, y, 0)
                .unwrap();
            c.sync().unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        c.xtest_fake_input(xproto::BUTTON_RELEASE_EVENT, 1, 0, self.root, 0, 0, 0)
            .unwrap();
        c.flush().unwrap();
    }

    /// Asks fusionfb's window to close as a window manager would (WM_DELETE_WINDOW).
    fn close_fusionfb_window(&self) {
        let c = &self.conn;
        let atom = |name: &str| {
            c.intern_atom(false, name.as_bytes())
                .unwrap()
                .reply()
                .unwrap()
                .atom
        };
        let (protocols, delete) = (atom("WM_PROTOCOLS"), atom("WM_DELETE_WINDOW"));
        let tree = c.query_tree(self.root).unwrap().reply().unwrap();
        let window = tree
            .children
            .iter()
            .copied()
            .find(|&w| {
                c.get_property(false, w, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 256)
                    .ok()
                    .and_then(|r| r.reply().ok())
                    .is_some_and(|p| String::from_utf8_lossy(&p.value).starts_with("fusionfb"))
            })
            .expect("fusionfb's window among the root's children");
        let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
        c.send_event(false, window, EventMask::NO_EVENT, event)
            .unwrap();
        c.flush().unwrap();
    }
}

#[test]
fn the_window_shows_the_glass_the_mouse_paints_and_closing_ends_the_master() {
    let Some(xvfb) = Xvfb::start() else { return };
    let x = X::connect(&xvfb.display);
    let w = world("window");
    let dir = std::env::temp_dir().join(format!("fusionfb-window-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("desktop.toml");
    std::fs::write(
        &config,
        "[display]\nbackend = \"window\"\nmode = \"480x320\"\nbackground = \"#102030\"\n",
    )
    .unwrap();
    let mut master = Process::spawn_env(
        "fusionfb",
        &w,
        &["run", "--config", config.to_str().unwrap()],
        &[("DISPLAY", &xvfb.display), ("WAYLAND_DISPLAY", "")],
    );
    // The window sits at the screen's top-left corner (no window manager moves it), so
    // screen pixels are output pixels.
    x.wait_for(
        &mut [&mut master],
        "the master's background in the window",
        |s| s.pixel(5, 5) == BACKGROUND && s.pixel(479, 319) == BACKGROUND,
    );
    assert_ne!(
        x.screen().pixel(481, 5),
        BACKGROUND,
        "the window is 480 wide"
    );

    let (ox, oy) = (40, 20);
    let mut paint = Process::spawn(
        "fusionfb-paint",
        &w,
        &[
            "--x", "40", "--y", "20", "--width", "400", "--height", "280",
        ],
    );
    let bg = PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    x.wait_for(&mut [&mut master, &mut paint], "the paint window", |s| {
        s.pixel(ox + 300, oy + 200) == bg && s.pixel(ox + 399, oy + 279) == bg
    });
    assert_eq!(
        x.screen().pixel(ox - 5, oy + 100),
        BACKGROUND,
        "left of the paint window"
    );

    // A click is a tap of finger 0: a dot in the first palette colour where it landed.
    let c0 = PALETTE[0].to_argb() & 0xff_ffff;
    let dot = (ox + 150, oy + 100);
    x.click(dot.0 as i16, dot.1 as i16);
    x.wait_for(
        &mut [&mut master, &mut paint],
        "a dot under the click",
        |s| s.pixel(dot.0, dot.1) == c0,
    );
    let s = x.screen();
    assert_eq!(s.pixel(dot.0 + 8, dot.1), c0, "inside the dot");
    assert_eq!(s.pixel(dot.0 + 30, dot.1), bg, "beyond the dot");

    // A drag with the button held is a stroke: continuous between its ends.
    let y = oy + 230;
    x.drag(
        ((ox + 60) as i16, y as i16),
        ((ox + 360) as i16, y as i16),
        6,
    );
    let line = |s: &Screen| {
        (ox + 60..=ox + 360)
            .step_by(5)
            .all(|px| s.pixel(px, y) == c0)
    };
    x.wait_for(
        &mut [&mut master, &mut paint],
        "a stroke along the drag",
        line,
    );
    assert_eq!(x.screen().pixel(ox + 200, y - 20), bg, "above the stroke");

    // Closing the window shuts the master down cleanly (exit status 0).
    x.close_fusionfb_window();
    let status = fusionfb_tests::wait_for("the master to exit after the close", LIMIT, || {
        master.exited()
    });
    assert!(status.success(), "the master exits 0 on close: {status}");
    drop(paint);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `fusionfb run` with `env` and no `--backend`, and returns its log up to and
/// including its "backend: …" line.
fn auto_choice(w: &fusion::WorldConfig, env: &[(&str, &str)], unset: &[&str]) -> String {
    use std::io::BufRead;
    let mut cmd = Command::new(fusionfb_tests::binary("fusionfb"));
    cmd.args(["--world", &w.name, "run"])
        .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for var in unset {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("fusionfb run");
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    for line in stderr.lines().map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("backend: ") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

/// Says `SKIPPED: <test>: <why>` on the real stderr, past the harness's capture, so that
/// `scripts/test.sh` lists it.
fn skipped(why: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("window")
        .to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

#[test]
fn auto_takes_the_window_under_a_desktop_and_headless_without_one() {
    if std::path::Path::new("/dev/fb0").exists() || std::path::Path::new("/dev/dri").exists() {
        skipped("this machine has a display device, which auto would take");
        return;
    }
    let w = world("auto");
    // No display device, no desktop: headless, and the line says why.
    let line = auto_choice(&w, &[], &["DISPLAY", "WAYLAND_DISPLAY"]);
    assert!(line.contains("backend: headless (auto: "), "{line}");
    assert!(
        line.contains("no desktop session"),
        "the reason is given: {line}"
    );
    let Some(xvfb) = Xvfb::start() else { return };
    let w = world("auto");
    let line = auto_choice(&w, &[("DISPLAY", &xvfb.display)], &["WAYLAND_DISPLAY"]);
    assert!(line.contains("backend: window (auto: "), "{line}");
    assert!(
        line.contains(&format!("desktop session DISPLAY={}", xvfb.display)),
        "{line}"
    );
    assert!(line.contains("fbdev: no /dev/fb0"), "{line}");
    // winit's own warnings about the X server (XSETTINGS, a 0 mm screen) are not the
    // user's business: the default filter leaves them out.
    assert!(!line.contains("winit"), "{line}");
}
