//! The connection to a fusionfb master: surfaces, windows, flips and events.
//!
//! [`Display::connect`] enters the master's world as a Fusion slave and reads its root (the
//! entry call, the output, the layers). A [`Surface`] is 1–3 pixel buffers shared with the
//! master: the application draws straight into [`Surface::back`] (zero copies), then
//! [`Display::flip`]s it with the damaged rectangles. The master answers `Busy` while the
//! previous flip has not reached the glass; [`Display::wait_frame`] waits for the
//! [`ClientEvent::FrameDone`] that says it has, with the presentation time, so applications
//! pace themselves to the display. A [`Window`] shows a surface on a layer.
//!
//! Events come from the Fusion reactors of the surfaces and windows: pump them with
//! [`Display::dispatch`] (or poll [`Display::slave`]'s fd in an event loop) and take them
//! with [`Display::next_event`].
//!
//! When the master dies and a new one comes up, the display rejoins it and takes back the
//! application's surfaces (with the picture on the glass) and windows (the `rejoin` module); the
//! application gets [`ClientEvent::Rejoined`] and carries on.
//!
//! ```no_run
//! use fusionfb_client::display::Display;
//! use fusionfb_client::Format;
//! let mut d = Display::connect(None).unwrap();
//! let mut s = d.create_surface(200, 100, Format::Xrgb8888, 2).unwrap();
//! let w = d.create_window(&s, 0, 100, 50).unwrap();
//! s.back().fill(0xffff0000).unwrap();
//! d.flip(&mut s, &[]).unwrap();
//! d.wait_frame(&s, std::time::Duration::from_secs(1)).unwrap();
//! # let _ = w;
//! ```

mod rejoin;

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fusion::reactor::Reaction;
use fusion::{Slave, SlaveEvent, WorldConfig};
use fusionfb_protocol::{self as proto, Event, Reply, Request, WindowChange};
use gfx_drivers::{Buffer, BufferDesc, Format, Image};

/// What can go wrong talking to the master.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Fusion failed (no master, refused, master gone, a call failed…).
    #[error("{0}")]
    Fusion(#[from] fusion::Error),
    /// The master speaks another protocol version.
    #[error("the master speaks protocol {0}, this client {1}")]
    Version(u32, u32),
    /// A system call failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Mapping a buffer failed.
    #[error("buffer: {0}")]
    Buffer(#[from] gfx_drivers::backend::Error),
    /// The master answered something unexpected.
    #[error("unexpected answer from the master: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether this says the master died (before or while answering a request).
    pub fn is_master_death(&self) -> bool {
        matches!(
            self,
            ClientError::Fusion(
                fusion::Error::MasterGone | fusion::Error::PeerGone(fusion::wire::MASTER_ID)
            )
        )
    }
}

/// Result of client operations.
pub type Result<T> = std::result::Result<T, ClientError>;

/// What the master tells an application.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A flipped buffer reached the glass.
    FrameDone {
        /// The surface.
        surface: u32,
        /// The buffer now shown.
        buffer: u8,
        /// Presentation time (`CLOCK_MONOTONIC` ns).
        time_ns: u64,
        /// The output's frame counter.
        sequence: u64,
    },
    /// A touch in one of our windows (or on our exclusive layer: `window` is then the
    /// layer's surface id).
    Touch {
        /// The window.
        window: u32,
        /// What happened, where.
        touch: proto::Touch,
    },
    /// One of our windows gained or lost the keyboard focus.
    Focus {
        /// The window.
        window: u32,
        /// Gained (`true`) or lost.
        focused: bool,
    },
    /// The pointer in one of our windows (or on our exclusive layer: `window` is then the
    /// layer's surface id).
    Pointer {
        /// The window.
        window: u32,
        /// What happened, where.
        pointer: proto::Pointer,
    },
    /// A key, while one of our windows has the keyboard focus.
    Key {
        /// The window.
        window: u32,
        /// The key.
        key: proto::Key,
    },
    /// A touch with the panel's uncalibrated position, while our window is in calibration
    /// mode ([`Display::calibration_mode`]).
    RawTouch {
        /// The window.
        window: u32,
        /// What happened, where on the panel.
        touch: proto::RawTouch,
    },
    /// One of our windows changed; [`Display::window_state`] reads the new state.
    Configure {
        /// The window.
        window: u32,
    },
    /// A layer we [watch](Display::watch_layer) changed (taken, given back, windows came or
    /// went); [`Display::layer_state`] reads the new state.
    LayerChanged {
        /// The layer.
        layer: u32,
    },
    /// The master asks us to leave.
    LeaveRequested,
    /// The master is gone (and no new one came up to rejoin, or rejoining is off).
    MasterGone,
    /// The master died and this display joined the new one: the surfaces and windows are
    /// back, with the picture that was on the glass (see the `rejoin` module).
    Rejoined {
        /// Surfaces that could not be taken back (say, an exclusively held layer that
        /// another application took meanwhile): acquire or create them again.
        lost: Vec<u32>,
    },
}

type Queue = Arc<Mutex<VecDeque<ClientEvent>>>;

/// A reactor this display listens to, and its reaction (to detach).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listening {
    reactor: fusion::ReactorId,
    reaction: fusion::ReactionId,
}

/// The client event for an input or window event on `window`'s (or an exclusive surface's)
/// reactor.
fn window_event(window: u32, e: Event) -> Option<ClientEvent> {
    Some(match e {
        Event::Touch(touch) => ClientEvent::Touch { window, touch },
        Event::Focus(focused) => ClientEvent::Focus { window, focused },
        Event::Configure => ClientEvent::Configure { window },
        Event::Pointer(pointer) => ClientEvent::Pointer { window, pointer },
        Event::Key(key) => ClientEvent::Key { window, key },
        Event::RawTouch(touch) => ClientEvent::RawTouch { window, touch },
        Event::FrameDone { .. } => return None,
    })
}

/// A connection to the master. See the module docs.
#[derive(Debug)]
pub struct Display {
    slave: Slave,
    root: proto::Root,
    events: Queue,
    /// What the application holds, for a new master ([`rejoin`]).
    held: rejoin::Held,
    /// How long to wait for a new master when this one dies (`None`: do not rejoin).
    rejoin: Option<Duration>,
}

/// Pixel buffers shared with the master.
#[derive(Debug)]
pub struct Surface {
    id: u32,
    buffers: Vec<Buffer>,
    back: usize,
    descriptor: fusion::pool::ShmHandle,
}

/// A window showing a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    id: u32,
    descriptor: fusion::pool::ShmHandle,
}

impl Surface {
    /// The surface's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The buffer to draw the next frame into.
    pub fn back(&self) -> &Buffer {
        &self.buffers[self.back]
    }

    /// All the buffers, by index (the back one is [`Surface::back_index`]; the one flipped
    /// last is just before it, cyclically).
    pub fn buffers(&self) -> &[Buffer] {
        &self.buffers
    }

    /// Index of the back buffer.
    pub fn back_index(&self) -> u8 {
        self.back as u8
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.buffers[0].width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.buffers[0].height()
    }
}

impl Window {
    /// The window's id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

fn world(name: Option<&str>) -> WorldConfig {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(fusion::world::default_world_name);
    WorldConfig::new(&name)
}

impl Display {
    /// Connects to the master of `world` (default: `FUSIONFB_WORLD`, else `default`).
    pub fn connect(world_name: Option<&str>) -> Result<Display> {
        Self::connect_to(world(world_name))
    }

    /// Connects to the master of a world described in full.
    pub fn connect_to(cfg: WorldConfig) -> Result<Display> {
        let mut slave = Slave::enter(cfg)?;
        let root: proto::Root = fusion::call::decode(&slave.root()?)?;
        if root.version != proto::VERSION {
            return Err(ClientError::Version(root.version, proto::VERSION));
        }
        Ok(Display {
            slave,
            root,
            events: Queue::default(),
            held: rejoin::Held::default(),
            rejoin: rejoin::timeout_from_env(),
        })
    }

    /// The output as the master describes it.
    pub fn output(&self) -> &proto::OutputInfo {
        &self.root.output
    }

    /// The outputs the master drives and where each is in its layout (minor 11; empty from
    /// an older master, which drives one).
    pub fn outputs(&mut self) -> Result<Vec<proto::OutputStatus>> {
        Ok(self.describe()?.outputs)
    }

    /// Where output `name` is in the master's layout: windows placed in that rectangle show
    /// on it. `NotFound` names the outputs there are.
    pub fn output_place(&mut self, name: &str) -> Result<proto::Rect> {
        let outputs = self.outputs()?;
        match outputs.iter().find(|o| o.name == name) {
            Some(o) => Ok(proto::Rect::new(o.x, o.y, o.width, o.height)),
            None => {
                let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
                Err(fusion::Error::NotFound(format!(
                    "output {name:?} (the master's outputs are {})",
                    if names.is_empty() {
                        "not listed (an older master drives one)".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
                .into())
            }
        }
    }

    /// The layers, bottom to top.
    pub fn layers(&self) -> &[proto::LayerInfo] {
        &self.root.layers
    }

    pub(crate) fn slave_ref(&self) -> &Slave {
        &self.slave
    }

    /// The Fusion slave underneath (its fd is pollable; `dispatch` handles it).
    pub fn slave(&mut self) -> &mut Slave {
        &mut self.slave
    }

    fn call(&mut self, req: &Request) -> Result<(Reply, Vec<std::os::fd::OwnedFd>)> {
        let payload = fusion::call::encode(req)?;
        let (bytes, fds) = self
            .slave
            .call_execute_fds(self.root.call, 0, &payload, &[])
            .map_err(in_flight)?;
        Ok((fusion::call::decode(&bytes)?, fds))
    }

    fn call_fast(&mut self, req: &Request) -> Result<Reply> {
        let payload = fusion::call::encode(req)?;
        let bytes = self
            .slave
            .call_execute(self.root.call, 0, &payload)
            .map_err(in_flight)?;
        Ok(fusion::call::decode(&bytes)?)
    }

    /// Creates a surface of `buffers` buffers (1–3) and maps them.
    pub fn create_surface(
        &mut self,
        width: u32,
        height: u32,
        format: Format,
        buffers: u8,
    ) -> Result<Surface> {
        let (reply, fds) = self.call(&Request::SurfaceCreate {
            width,
            height,
            format: format.fourcc(),
            buffers,
        })?;
        let Reply::Surface(info) = reply else {
            return Err(ClientError::Protocol(format!("{reply:?}")));
        };
        if fds.len() != buffers as usize {
            return Err(ClientError::Protocol(format!(
                "{} buffer fds for {buffers} buffers",
                fds.len()
            )));
        }
        self.map_surface(info, fds, None)
    }

    /// Takes layer `layer` exclusively: the surface's buffers are the plane's own scan-out
    /// buffers (the glass's size and orientation), and each flip shows the flipped buffer on
    /// the plane as it is — zero copies. `Busy` if another application holds it.
    pub fn acquire_layer(&mut self, layer: u32) -> Result<Surface> {
        let (reply, fds) = self.call(&Request::LayerAcquire { layer })?;
        let Reply::Surface(info) = reply else {
            return Err(ClientError::Protocol(format!("{reply:?}")));
        };
        self.map_surface(info, fds, Some(layer))
    }

    /// Gives an exclusively held layer back.
    pub fn release_layer(&mut self, layer: u32) -> Result<()> {
        self.call_fast(&Request::LayerRelease { layer })?;
        let gone: Vec<u32> = self
            .held
            .surfaces
            .iter()
            .filter(|(_, s)| s.exclusive == Some(layer))
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            if let Some(s) = self.held.surfaces.remove(&id) {
                self.detach(s.listening);
            }
        }
        Ok(())
    }

    /// Maps a new surface's buffers and listens to its reactor.
    fn map_surface(
        &mut self,
        info: proto::SurfaceInfo,
        fds: Vec<std::os::fd::OwnedFd>,
        exclusive: Option<u32>,
    ) -> Result<Surface> {
        if fds.is_empty() {
            return Err(ClientError::Protocol("a surface without buffers".into()));
        }
        let format = Format::from_fourcc(info.format)
            .ok_or_else(|| ClientError::Protocol(format!("format {:#x}", info.format)))?;
        let desc = BufferDesc {
            width: info.width,
            height: info.height,
            format,
            pitch: info.pitch as usize,
            size: info.size as usize,
        };
        let bufs = fds
            .into_iter()
            .map(|fd| Buffer::import(fd, desc, true))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let listening = self.attach_surface(info.reactor, info.id)?;
        // The buffers' memory, kept for a new master if this one dies.
        let kept = bufs
            .iter()
            .map(|b| b.export())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.held.surfaces.insert(
            info.id,
            rejoin::HeldSurface {
                master: info.id,
                width: info.width,
                height: info.height,
                format,
                pitch: info.pitch,
                fds: kept,
                front: None,
                exclusive,
                descriptor: info.descriptor,
                listening,
            },
        );
        Ok(Surface {
            id: info.id,
            buffers: bufs,
            back: 0,
            descriptor: info.descriptor,
        })
    }

    /// Listens to a surface's reactor: its frames and, on an exclusively held layer, its
    /// input, as events of surface `id` (the id the application knows).
    fn attach_surface(&mut self, reactor: fusion::ReactorId, id: u32) -> Result<Listening> {
        let q = self.events.clone();
        let reaction = self.slave.attach(reactor, 0, move |d| {
            let e = match fusion::call::decode::<Event>(d.payload) {
                Ok(Event::FrameDone {
                    buffer,
                    time_ns,
                    sequence,
                    ..
                }) => Some(ClientEvent::FrameDone {
                    surface: id,
                    buffer,
                    time_ns,
                    sequence,
                }),
                Ok(e) => window_event(id, e),
                Err(_) => None,
            };
            if let Some(e) = e {
                q.lock().expect("events").push_back(e);
            }
            Reaction::Keep
        })?;
        Ok(Listening { reactor, reaction })
    }

    /// Listens to a window's reactor, as events of window `id` (the id the application
    /// knows).
    fn attach_window(&mut self, reactor: fusion::ReactorId, id: u32) -> Result<Listening> {
        let q = self.events.clone();
        let reaction = self.slave.attach(reactor, 0, move |d| {
            let e = fusion::call::decode::<Event>(d.payload)
                .ok()
                .and_then(|e| window_event(id, e));
            if let Some(e) = e {
                q.lock().expect("events").push_back(e);
            }
            Reaction::Keep
        })?;
        Ok(Listening { reactor, reaction })
    }

    /// Stops listening to a reactor (its object is gone): the master frees a destroyed
    /// reactor, its ring and its bell only once nobody listens.
    fn detach(&mut self, l: Listening) {
        let _ = self.slave.detach(l.reactor, l.reaction);
    }

    /// Shows `surface` in a new window on `layer` at `(x, y)`, opaque and visible.
    pub fn create_window(
        &mut self,
        surface: &Surface,
        layer: u32,
        x: i32,
        y: i32,
    ) -> Result<Window> {
        let reply = self.call_fast(&Request::WindowCreate {
            surface: self.held.surface(surface.id),
            layer,
            x,
            y,
            opacity: 255,
            visible: true,
        })?;
        let Reply::Window(info) = reply else {
            return Err(ClientError::Protocol(format!("{reply:?}")));
        };
        let listening = self.attach_window(info.reactor, info.id)?;
        // Mapped now, while the master answers: if it dies, the window's last place is read
        // from this mapping to restore the stacking on the next one.
        self.slave.pool_map(info.descriptor.pool)?;
        self.held.windows.push(rejoin::HeldWindow {
            id: info.id,
            master: info.id,
            surface: surface.id,
            layer,
            x,
            y,
            opacity: 255,
            visible: true,
            input_region: None,
            stacked: fusionfb_sys::now_ns(),
            descriptor: info.descriptor,
            listening,
        });
        Ok(Window {
            id: info.id,
            descriptor: info.descriptor,
        })
    }

    /// Changes a window.
    pub fn set_window(&mut self, window: &Window, change: WindowChange) -> Result<()> {
        let master_change = match &change {
            WindowChange::Surface(s) => WindowChange::Surface(self.held.surface(*s)),
            c => c.clone(),
        };
        self.call_fast(&Request::WindowSet {
            window: self.held.window(window.id),
            change: master_change,
        })?;
        self.held.window_changed(window.id, &change);
        Ok(())
    }

    /// Destroys a window.
    pub fn destroy_window(&mut self, window: Window) -> Result<()> {
        self.call_fast(&Request::WindowDestroy {
            window: self.held.window(window.id),
        })?;
        if let Some(i) = self.held.windows.iter().position(|w| w.id == window.id) {
            let w = self.held.windows.remove(i);
            self.detach(w.listening);
        }
        Ok(())
    }

    /// Destroys a surface (and the windows showing it).
    pub fn destroy_surface(&mut self, surface: Surface) -> Result<()> {
        self.call_fast(&Request::SurfaceDestroy {
            surface: self.held.surface(surface.id),
        })?;
        if let Some(s) = self.held.surfaces.remove(&surface.id) {
            self.detach(s.listening);
        }
        let (gone, kept) = std::mem::take(&mut self.held.windows)
            .into_iter()
            .partition(|w| w.surface == surface.id);
        self.held.windows = kept;
        for w in gone {
            self.detach(w.listening);
        }
        Ok(())
    }

    /// Hands the back buffer to the master with `damage` (surface coordinates; empty: all),
    /// then makes the next buffer the back one. `Busy` while the previous flip has not
    /// reached the glass: wait for its frame first ([`Display::wait_frame`]).
    pub fn flip(
        &mut self,
        surface: &mut Surface,
        damage: &[proto::Rect<proto::Buffer>],
    ) -> Result<()> {
        self.call_fast(&Request::SurfaceFlip {
            surface: self.held.surface(surface.id),
            buffer: surface.back as u8,
            damage: damage.to_vec(),
        })?;
        if let Some(s) = self.held.surfaces.get_mut(&surface.id) {
            s.front = Some(surface.back as u8);
        }
        surface.back = (surface.back + 1) % surface.buffers.len();
        Ok(())
    }

    /// Handles what the master sent; waits up to `timeout` when nothing was there.
    pub fn dispatch(&mut self, timeout: Option<Duration>) -> Result<()> {
        match self.slave.dispatch(timeout) {
            Ok(_) => {}
            // The master died; the event below says so (and rejoins).
            Err(fusion::Error::MasterGone) if self.slave.master_gone() => {}
            Err(e) => return Err(e.into()),
        }
        while let Some(e) = self.slave.next_event() {
            let e = match e {
                SlaveEvent::LeaveRequested(_) => ClientEvent::LeaveRequested,
                SlaveEvent::MasterGone => match self.rejoin {
                    Some(timeout) => match self.rejoin(timeout) {
                        Ok(lost) => ClientEvent::Rejoined { lost },
                        Err(e) => {
                            tracing::info!("no new master to rejoin: {e}");
                            ClientEvent::MasterGone
                        }
                    },
                    None => ClientEvent::MasterGone,
                },
                _ => continue,
            };
            let rejoined = matches!(e, ClientEvent::Rejoined { .. });
            self.events.lock().expect("events").push_back(e);
            if rejoined {
                // The new slave's events follow on the next dispatch.
                break;
            }
        }
        Ok(())
    }

    /// The next event, if one came.
    pub fn next_event(&mut self) -> Option<ClientEvent> {
        self.events.lock().expect("events").pop_front()
    }

    /// Waits until `surface`'s last flip reached the glass (at most `timeout`); returns its
    /// presentation time. Other events stay queued.
    pub fn wait_frame(&mut self, surface: &Surface, timeout: Duration) -> Result<u64> {
        let end = Instant::now() + timeout;
        loop {
            {
                let mut q = self.events.lock().expect("events");
                if let Some(i) = q.iter().position(
                    |e| matches!(e, ClientEvent::FrameDone { surface: s, .. } if *s == surface.id),
                ) {
                    if let Some(ClientEvent::FrameDone { time_ns, .. }) = q.remove(i) {
                        return Ok(time_ns);
                    }
                }
            }
            let now = Instant::now();
            if now >= end {
                return Err(fusion::Error::TimedOut.into());
            }
            self.dispatch(Some((end - now).min(Duration::from_millis(50))))?;
            if self.slave.master_gone() {
                return Err(fusion::Error::MasterGone.into());
            }
        }
    }

    /// A window's current state, read straight from the master's shared memory (no round
    /// trip).
    pub fn window_state(&mut self, window: &Window) -> Result<proto::WindowDescriptor> {
        let at = self
            .held
            .windows
            .iter()
            .find(|w| w.id == window.id)
            .map_or(window.descriptor, |w| w.descriptor);
        let map = self.slave.pool_map(at.pool)?;
        proto::WindowDescriptor::read(&map, at.offset as usize)
            .ok_or_else(|| ClientError::Protocol("no window descriptor".into()))
    }

    /// A surface's current state (front buffer, flips in flight, the layer it holds, the
    /// windows showing it), read straight from the master's shared memory.
    pub fn surface_state(&mut self, surface: &Surface) -> Result<proto::SurfaceDescriptor> {
        let at = self
            .held
            .surfaces
            .get(&surface.id)
            .map_or(surface.descriptor, |s| s.descriptor);
        let map = self.slave.pool_map(at.pool)?;
        proto::SurfaceDescriptor::read(&map, at.offset as usize)
            .ok_or_else(|| ClientError::Protocol("no surface descriptor".into()))
    }

    /// Layer `layer`'s current state (who holds it, its windows, its plane), read straight
    /// from the master's shared memory.
    pub fn layer_state(&mut self, layer: u32) -> Result<proto::LayerDescriptor> {
        let info = self
            .root
            .layers
            .iter()
            .find(|l| l.id == layer)
            .ok_or_else(|| ClientError::Protocol(format!("no layer {layer}")))?;
        let at = info.descriptor;
        let map = self.slave.pool_map(at.pool)?;
        proto::LayerDescriptor::read(&map, at.offset as usize)
            .ok_or_else(|| ClientError::Protocol("no layer descriptor".into()))
    }

    /// Listens to layer `layer`'s reactor: each change of its descriptor arrives as
    /// [`ClientEvent::LayerChanged`] (say, to know when an exclusive holder gives it back).
    pub fn watch_layer(&mut self, layer: u32) -> Result<()> {
        let reactor = self
            .root
            .layers
            .iter()
            .find(|l| l.id == layer)
            .ok_or_else(|| ClientError::Protocol(format!("no layer {layer}")))?
            .reactor;
        let q = self.events.clone();
        self.slave.attach(reactor, 0, move |d| {
            if let Ok(Event::Configure) = fusion::call::decode::<Event>(d.payload) {
                q.lock()
                    .expect("events")
                    .push_back(ClientEvent::LayerChanged { layer });
            }
            Reaction::Keep
        })?;
        if !self.held.watched_layers.contains(&layer) {
            self.held.watched_layers.push(layer);
        }
        Ok(())
    }

    /// Every layer, surface and window on the display (one call; `fusionfb status` uses it).
    /// A master older than this library leaves the newest fields (frame counters, apps)
    /// empty.
    pub fn describe(&mut self) -> Result<proto::Scene> {
        let payload = fusion::call::encode(&Request::Describe)?;
        let bytes = self.slave.call_execute(self.root.call, 0, &payload)?;
        match proto::Scene::decode_reply(&bytes)? {
            Reply::Scene(scene) => Ok(*scene),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Feeds synthetic touches (output coordinates) through the master's input routing.
    pub fn inject_touch(&mut self, events: &[proto::InjectedTouch]) -> Result<()> {
        self.call_fast(&Request::InjectTouch(events.to_vec()))
            .map(drop)
    }

    /// Feeds synthetic input of any kind (touch, pointer, keys) through the master's input
    /// source, as if a device had sent it.
    pub fn inject(&mut self, events: &[proto::Injected]) -> Result<()> {
        self.call_fast(&Request::Inject(events.to_vec())).map(drop)
    }

    /// Keeps the display from blanking when idle (`[display] blank-after`) while `inhibit`
    /// holds and this client is connected (a video player, a slideshow, a clock that must
    /// stay readable); `false` lets it blank again.
    pub fn inhibit_blanking(&mut self, inhibit: bool) -> Result<()> {
        self.call_fast(&Request::InhibitBlanking { inhibit })?;
        self.held.inhibits_blanking = inhibit;
        Ok(())
    }

    /// Turns the display off (`on`) or back on, as `fusionfb blank on|off` does. The next
    /// input event turns it on too, and is not delivered.
    pub fn blank(&mut self, on: bool) -> Result<()> {
        self.call_fast(&Request::Blank { on }).map(drop)
    }

    /// Starts (`on`) or stops calibration mode for `window`: every touch then comes to it as
    /// [`ClientEvent::RawTouch`]. Returns how the panel is mounted (clockwise quarter turns,
    /// mirrored), to put targets on the panel's own axes.
    pub fn calibration_mode(&mut self, window: &Window, on: bool) -> Result<(u8, bool)> {
        match self.call_fast(&Request::CalibrationMode {
            window: self.held.window(window.id),
            on,
        })? {
            Reply::Calibration {
                quarter_turns,
                flipped,
            } => Ok((quarter_turns, flipped)),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// What is on the glass now.
    pub fn screenshot(&mut self) -> Result<Image> {
        self.screenshot_of(Request::Screenshot)
    }

    /// What output `name`'s glass shows now (minor 11; [`Display::screenshot`] shows the
    /// first output's).
    pub fn screenshot_output(&mut self, name: &str) -> Result<Image> {
        self.screenshot_of(Request::ScreenshotOutput {
            output: name.to_string(),
        })
    }

    fn screenshot_of(&mut self, req: Request) -> Result<Image> {
        let (reply, mut fds) = self.call(&req)?;
        let (
            Reply::Screenshot {
                width,
                height,
                pitch,
                format,
            },
            Some(fd),
        ) = (reply, fds.pop())
        else {
            return Err(ClientError::Protocol(
                "screenshot without its pixels".into(),
            ));
        };
        let format = Format::from_fourcc(format)
            .ok_or_else(|| ClientError::Protocol(format!("screenshot format {format:#x}")))?;
        let len = pitch as usize * height as usize;
        let map = fusionfb_sys::Mapping::new(fd.as_fd(), len.max(1), false)
            .map_err(fusion::Error::from)?;
        let mut data = vec![0; len];
        map.read(0, &mut data);
        Ok(Image {
            width,
            height,
            format,
            pitch: pitch as usize,
            data,
        })
    }
}

/// A request the master did not answer because it died fails with `PeerGone` (the master's
/// id), as a call to any departed peer does; the next [`Display::dispatch`] rejoins.
fn in_flight(e: fusion::Error) -> fusion::Error {
    match e {
        fusion::Error::MasterGone => fusion::Error::PeerGone(fusion::wire::MASTER_ID),
        e => e,
    }
}
