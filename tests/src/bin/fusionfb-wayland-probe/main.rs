//! `fusionfb-wayland-probe`: a small, ordinary Wayland client for places no Debian client
//! reaches (the emulated board's initramfs carries only libwayland-client): it binds
//! `wl_compositor`, `wl_shm`, `xdg_wm_base` and `wl_seat`, shows one `xdg_toplevel` of the
//! size the compositor configures, filled with [`COLOUR`], and prints what its `wl_touch`
//! receives.
//!
//! With `--dmabuf SOURCE` its buffers are dma-bufs sent through `zwp_linux_dmabuf_v1`
//! ([`dmabuf`]): SOURCE is a DRM card (dumb buffers exported with PRIME), `memfd`, or
//! `short` / `offset` (a buffer one row short, or its plane 4096 bytes in, sent with
//! `create`: the probe prints whether the compositor made it, and exits).
//!
//! ```text
//! WAYLAND_DISPLAY=... fusionfb-wayland-probe [--dmabuf SOURCE] [APP_ID]
//! fusionfb-wayland-probe: feedback main-device MAJ:MIN xrgb8888-linear yes|no  (version 4)
//! fusionfb-wayland-probe: dmabuf created|refused       (with `--dmabuf short|offset`)
//! fusionfb-wayland-probe: shown WxH        (again each time the configured size changes)
//! fusionfb-wayland-probe: down ID X Y          (and draws again, in a new buffer)
//! fusionfb-wayland-probe: released           (the compositor let go of a buffer)
//! fusionfb-wayland-probe: up ID
//! ```
//!
//! Written against `wayland-client` (libwayland-client, loaded at run time), as applications
//! are. Runs until the compositor goes away.

#![deny(unsafe_code)]

mod dmabuf;

use std::io::Write as _;
use std::os::fd::AsFd;
use std::process::ExitCode;

use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{
    wl_buffer, wl_compositor, wl_registry, wl_seat, wl_shm, wl_shm_pool, wl_surface, wl_touch,
};
use wayland_client::{Connection, Dispatch, Proxy as _, QueueHandle, WEnum};
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_dmabuf_v1;
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

/// The window's colour (XRGB8888).
pub const COLOUR: u32 = 0x0020_80c0;

#[derive(Default)]
struct Probe {
    /// The size of the last configure (0: the client picks).
    size: (i32, i32),
    /// A configure to acknowledge and draw for.
    configure: Option<u32>,
    /// The size last shown.
    shown: Option<(i32, i32)>,
    touch: Option<wl_touch::WlTouch>,
    closed: bool,
    /// What the compositor said of dma-bufs.
    dmabuf: dmabuf::Seen,
    /// A finger went down: draw again, in a new buffer.
    redraw: bool,
}

fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "fusionfb-wayland-probe: {what}");
    let _ = out.flush();
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Probe {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

macro_rules! ignore_events {
    ($($t:ty),*) => {$(
        impl Dispatch<$t, ()> for Probe {
            fn event(_: &mut Self, _: &$t, _: <$t as wayland_client::Proxy>::Event, _: &(),
                     _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}
ignore_events!(
    wl_compositor::WlCompositor,
    wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface
);

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for Probe {
    fn event(
        _: &mut Self,
        base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            base.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for Probe {
    fn event(
        probe: &mut Self,
        _: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            probe.configure = Some(serial);
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for Probe {
    fn event(
        probe: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => probe.size = (width, height),
            xdg_toplevel::Event::Close => probe.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for Probe {
    fn event(
        probe: &mut Self,
        seat: &wl_seat::WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_seat::Event::Capabilities {
            capabilities: WEnum::Value(caps),
        } = event
        {
            if caps.contains(wl_seat::Capability::Touch) && probe.touch.is_none() {
                probe.touch = Some(seat.get_touch(qh, ()));
            }
        }
    }
}

impl Dispatch<wl_touch::WlTouch, ()> for Probe {
    fn event(
        probe: &mut Self,
        _: &wl_touch::WlTouch,
        event: wl_touch::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_touch::Event::Down { id, x, y, .. } => {
                say(&format!("down {id} {x:.0} {y:.0}"));
                probe.redraw = true;
            }
            wl_touch::Event::Up { id, .. } => say(&format!("up {id}")),
            _ => {}
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, ()> for Probe {
    fn event(
        _: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            say("released");
        }
    }
}

/// A wl_shm buffer of `w`×`h` XRGB8888 pixels of [`COLOUR`].
fn buffer(
    shm: &wl_shm::WlShm,
    qh: &QueueHandle<Probe>,
    w: i32,
    h: i32,
) -> std::io::Result<wl_buffer::WlBuffer> {
    let len = usize::try_from(w * h * 4).unwrap_or(0);
    let fd = rustix::fs::memfd_create("fusionfb-wayland-probe", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    let px = COLOUR.to_le_bytes();
    file.write_all(&px.repeat(len / 4))?;
    let pool = shm.create_pool(file.as_fd(), w * h * 4, qh, ());
    let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Xrgb8888, qh, ());
    pool.destroy();
    Ok(buffer)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let conn = Connection::connect_to_env()?;
    let (globals, mut queue) = registry_queue_init::<Probe>(&conn)?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 1..=4, ())?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
    let base: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=3, ())?;
    let _seat: wl_seat::WlSeat = globals.bind(&qh, 1..=5, ())?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let source = match args.iter().position(|a| a == "--dmabuf") {
        Some(i) if i + 1 < args.len() => {
            let s = dmabuf::Source::parse(&args.remove(i + 1));
            args.remove(i);
            Some(s)
        }
        Some(_) => return Err("--dmabuf needs a source".into()),
        None => None,
    };
    let mut probe = Probe::default();
    let dmabuf = match &source {
        Some(_) => {
            let d: zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1 = globals.bind(&qh, 3..=4, ())?;
            if d.version() >= 4 {
                d.get_default_feedback(&qh, ());
            }
            queue.roundtrip(&mut probe)?;
            Some(d)
        }
        None => None,
    };
    if let (Some(d), Some(s @ (dmabuf::Source::Short | dmabuf::Source::Offset))) =
        (&dmabuf, &source)
    {
        dmabuf::ask(d, s, &qh, 64, 64)?;
        while probe.dmabuf.created.is_none() {
            queue.blocking_dispatch(&mut probe)?;
        }
        let made = probe.dmabuf.created == Some(true);
        say(if made {
            "dmabuf created"
        } else {
            "dmabuf refused"
        });
        return Ok(());
    }
    let surface = compositor.create_surface(&qh, ());
    let xdg = base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg.get_toplevel(&qh, ());
    let app_id = args
        .first()
        .cloned()
        .unwrap_or_else(|| "fusionfb-wayland-probe".into());
    toplevel.set_app_id(app_id);
    surface.commit();
    while !probe.closed {
        queue.blocking_dispatch(&mut probe)?;
        let configure = probe.configure.take();
        let redraw = std::mem::take(&mut probe.redraw);
        if configure.is_some() || (redraw && probe.shown.is_some()) {
            if let Some(serial) = configure {
                xdg.ack_configure(serial);
            }
            let (w, h) = match (configure, probe.shown, probe.size) {
                (None, Some(shown), _) => shown,
                (_, _, (w, h)) if w > 0 && h > 0 => (w, h),
                _ => (320, 240),
            };
            let b = match (&dmabuf, &source) {
                (Some(d), Some(s)) => dmabuf::buffer(d, s, &qh, w as u32, h as u32)?,
                _ => buffer(&shm, &qh, w, h)?,
            };
            surface.attach(Some(&b), 0, 0);
            surface.damage_buffer(0, 0, w, h);
            surface.commit();
            if probe.shown != Some((w, h)) {
                probe.shown = Some((w, h));
                say(&format!("shown {w}x{h}"));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("ERROR {e}"));
            ExitCode::FAILURE
        }
    }
}
