//! The bench's Wayland client processes (`fusionfb-bench client --role wl-animate|wl-touch`):
//! ordinary `wl_shm` clients through libwayland-client, as applications are, for the figures
//! that put a Wayland client beside a native slave.
//!
//! - `wl-animate`: a toplevel (the bench's `[[wayland.rule]]` gives it 256x256 at its place),
//!   redrawn whole into one of two buffers and committed with full damage every frame, paced
//!   by `wl_surface.frame` — what a native animating slave does with `SurfaceFlip`.
//! - `wl-touch`: a 64x64 toplevel that records `CLOCK_MONOTONIC` the moment each
//!   `wl_touch.down` or `up` reaches its handler.
//!
//! With `--socket PATH` (the `--peers` run) a client connects there instead of to the bench
//! master's socket, and draws 256x256 whatever size the shell configures.
//!
//! Each runs until its stdin is closed, then prints its report on one line (`frames seconds`,
//! or the touch arrival times in ns) and exits.

use std::io::Read as _;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_registry, wl_seat, wl_shm, wl_shm_pool, wl_surface,
    wl_touch,
};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

/// The Wayland socket of the bench's master in `world`.
pub fn socket_of(world: &str) -> std::path::PathBuf {
    fusion::WorldConfig::new(world)
        .base_dir()
        .join(format!("{world}-wayland"))
}

/// The app_id a bench client at `(x, y)` gives its toplevel (the bench's rules place it).
pub fn app_id(x: i32, y: i32) -> String {
    format!("fusionfb-bench-{x}-{y}")
}

#[derive(Default)]
struct State {
    configure: Option<u32>,
    size: (i32, i32),
    frame_done: bool,
    /// Which of the two buffers the master still holds.
    busy: [bool; 2],
    touch: Option<wl_touch::WlTouch>,
    /// Arrival times of touch downs and ups, ns.
    arrivals: Arc<Mutex<Vec<u64>>>,
}

/// Runs a Wayland bench client at `(x, y)` in `world` (see the module docs).
pub fn run(
    world: &str,
    touch: bool,
    (x, y): (i32, i32),
    socket: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let path = socket.map_or_else(|| socket_of(world), std::path::Path::to_path_buf);
    let conn = Connection::from_socket(
        std::os::unix::net::UnixStream::connect(&path)
            .with_context(|| format!("the socket {}", path.display()))?,
    )?;
    let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 1..=4, ())?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
    let base: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=3, ())?;
    if touch {
        let _seat: wl_seat::WlSeat = globals.bind(&qh, 1..=5, ())?;
    }
    let surface = compositor.create_surface(&qh, ());
    let xdg = base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg.get_toplevel(&qh, ());
    toplevel.set_app_id(app_id(x, y));
    surface.commit();
    let mut state = State::default();
    while state.configure.is_none() {
        queue.blocking_dispatch(&mut state)?;
    }
    xdg.ack_configure(state.configure.take().unwrap_or_default());
    // Another compositor's shell may configure any size: with `socket` (`--peers`) every
    // compositor gets the same 256x256 buffers.
    let (w, h) = match state.size {
        (w, h) if w > 0 && h > 0 && socket.is_none() => (w, h),
        _ => (256, 256),
    };
    let size = usize::try_from(w * h * 4)?;
    let fd = rustix::fs::memfd_create("fusionfb-bench-wl", rustix::fs::MemfdFlags::CLOEXEC)?;
    let file = std::fs::File::from(fd);
    file.set_len(2 * size as u64)?;
    let pool = shm.create_pool(file.as_fd(), i32::try_from(2 * size)?, &qh, ());
    let buffers = [0usize, 1].map(|i| {
        pool.create_buffer(
            (i * size) as i32,
            w,
            h,
            w * 4,
            wl_shm::Format::Xrgb8888,
            &qh,
            i,
        )
    });
    // Stop (and report) when stdin closes.
    let frames = Arc::new(Mutex::new((0u64, Instant::now())));
    {
        let (frames, arrivals) = (frames.clone(), state.arrivals.clone());
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            let line = if touch {
                let a = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
                a.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
            } else {
                let (n, t) = frames.lock().map(|f| *f).unwrap_or((0, Instant::now()));
                format!("{n} {}", t.elapsed().as_secs_f64())
            };
            println!("{line}");
            std::process::exit(0);
        });
    }
    let mut pixels = vec![0u8; size];
    let mut n = 0u32;
    loop {
        let Some(i) = (0..2).find(|&i| !state.busy[i]) else {
            queue.blocking_dispatch(&mut state)?;
            continue;
        };
        let colour = 0xff00_0000u32 | n.wrapping_mul(0x10_2030);
        for px in pixels.chunks_exact_mut(4) {
            px.copy_from_slice(&colour.to_le_bytes());
        }
        file.write_all_at(&pixels, (i * size) as u64)?;
        surface.attach(Some(&buffers[i]), 0, 0);
        surface.damage_buffer(0, 0, w, h);
        state.busy[i] = true;
        state.frame_done = false;
        if !touch {
            surface.frame(&qh, ());
        }
        surface.commit();
        if touch {
            // One picture; then only the touches matter.
            loop {
                queue.blocking_dispatch(&mut state)?;
            }
        }
        while !state.frame_done {
            queue.blocking_dispatch(&mut state)?;
        }
        n = n.wrapping_add(1);
        if let Ok(mut f) = frames.lock() {
            if f.0 == 0 {
                f.1 = Instant::now();
            }
            f.0 += 1;
        }
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
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

macro_rules! ignore {
    ($($t:ty),*) => {$(
        impl Dispatch<$t, ()> for State {
            fn event(_: &mut Self, _: &$t, _: <$t as wayland_client::Proxy>::Event, _: &(),
                _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}
ignore!(
    wl_compositor::WlCompositor,
    wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface
);

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for State {
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

impl Dispatch<xdg_surface::XdgSurface, ()> for State {
    fn event(
        state: &mut Self,
        _: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            state.configure = Some(serial);
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for State {
    fn event(
        state: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_toplevel::Event::Configure { width, height, .. } = event {
            state.size = (width, height);
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, usize> for State {
    fn event(
        state: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        i: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            state.busy[*i] = false;
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_callback::WlCallback,
        _: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.frame_done = true;
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for State {
    fn event(
        state: &mut Self,
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
            if caps.contains(wl_seat::Capability::Touch) && state.touch.is_none() {
                state.touch = Some(seat.get_touch(qh, ()));
            }
        }
    }
}

impl Dispatch<wl_touch::WlTouch, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_touch::WlTouch,
        event: wl_touch::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if matches!(
            event,
            wl_touch::Event::Down { .. } | wl_touch::Event::Up { .. }
        ) {
            let now = fusionfb_sys::now_ns();
            if let Ok(mut a) = state.arrivals.lock() {
                a.push(now);
            }
        }
    }
}
