//! Rejoining: when the master dies and a new one comes up (`fusionfb run`'s supervisor starts
//! it on the same, still listening, socket), the [`Display`] enters the world again and
//! takes back what the application had, so the application carries on: no window to
//! recreate, no picture to redraw, input arriving as before.
//!
//! For that the display keeps, from the calls it makes, what the application holds
//! ([`Held`]): each surface's buffers (a duplicate of each descriptor the master handed out,
//! so the memory outlives the master), the buffer flipped last, and each window's layer,
//! position, opacity, visibility, input region and when it was stacked (created or raised:
//! a `CLOCK_MONOTONIC` time, which orders the windows of every application the same way on
//! any master, also when applications rejoin one after another across several restarts;
//! native windows are stacked only by their applications). On `MasterGone`
//! ([`Display::dispatch`] sees it) it:
//!
//! 1. reads which of its windows had the focus from the dead master's descriptors (the
//!    shared memory stays mapped), once: when the next master dies too while it takes
//!    things back, the next attempt goes on from what the first master said;
//! 2. enters again, retrying until [`Display::set_rejoin`]'s time-out: a world whose socket
//!    is gone (the master shut down) or refuses connections for over a second (no supervisor
//!    keeps it) is over, and the application gets `MasterGone` as before;
//! 3. hands each surface back ([`proto::Request::SurfaceAdopt`]) with its buffers and the
//!    one on the glass, which the new master shows at once (an exclusively held layer's
//!    surface with [`proto::Request::LayerAdopt`]: the layer is held again, its scan-out
//!    buffers, which the application keeps, on the plane again, or composed where the card
//!    cannot import them); then each window, bottom to top
//!    ([`proto::Request::WindowAdopt`]), its input region and the focus; flips each
//!    surface's last buffer again (its `FrameDone` comes as after any flip); and watches the
//!    layers it watched;
//! 4. queues [`ClientEvent::Rejoined`], naming the surfaces it could not take back (say, a
//!    layer another application took meanwhile, or whose size changed with the mode: the
//!    application acquires it again, or draws elsewhere).
//!
//! Ids stay what the application knows: the new master keeps them when they are free, and
//! the display translates those it had to change. A request that was in flight when the
//! master died fails with `PeerGone`, never hangs; the next [`Display::dispatch`] rejoins.
//! `FUSIONFB_REJOIN=0` in the environment (or [`Display::set_rejoin`] with `None`) turns it
//! off: `MasterGone` ends the session, as it did before.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use fusion::pool::ShmHandle;
use fusion::Slave;
use fusionfb_protocol::{self as proto, Reply, Request, WindowChange};
use gfx_drivers::Format;
use tracing::{info, warn};

use super::{ClientError, Display, Result};

/// How long a display waits for a new master by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a world that refuses connections (nobody keeps its socket) is tried.
const REFUSED_GRACE: Duration = Duration::from_secs(1);
/// The environment variable that turns rejoining off (`0`) or sets its time-out in ms.
pub const ENV: &str = "FUSIONFB_REJOIN";

/// The rejoin time-out the environment asks for: `None` when [`ENV`] is `0` or `off`.
pub(super) fn timeout_from_env() -> Option<Duration> {
    match std::env::var(ENV).as_deref() {
        Ok("0") | Ok("off") | Ok("no") => None,
        Ok(ms) => Some(
            ms.parse()
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_TIMEOUT),
        ),
        Err(_) => Some(DEFAULT_TIMEOUT),
    }
}

/// One of the application's surfaces, as a new master needs it.
#[derive(Debug)]
pub(super) struct HeldSurface {
    /// Its id on the current master.
    pub master: u32,
    pub width: u32,
    pub height: u32,
    pub format: Format,
    /// Bytes from one row to the next.
    pub pitch: u32,
    /// Duplicates of its buffers' descriptors.
    pub fds: Vec<OwnedFd>,
    /// The buffer flipped last.
    pub front: Option<u8>,
    /// The layer it holds exclusively (its buffers are the display's scan-out buffers).
    pub exclusive: Option<u32>,
    pub descriptor: ShmHandle,
    /// Its reactor, listened to.
    pub listening: super::Listening,
}

/// One of the application's windows.
#[derive(Debug, Clone)]
pub(super) struct HeldWindow {
    /// Its id as the application knows it.
    pub id: u32,
    /// Its id on the current master.
    pub master: u32,
    /// The surface it shows (application id).
    pub surface: u32,
    pub layer: u32,
    pub x: i32,
    pub y: i32,
    pub opacity: u8,
    pub visible: bool,
    pub input_region: Option<Vec<proto::Rect>>,
    /// When it was created or last raised (`CLOCK_MONOTONIC` ns; 0: lowered).
    pub stacked: u64,
    pub descriptor: ShmHandle,
    /// Its reactor, listened to.
    pub listening: super::Listening,
}

/// What the application holds, by the ids it knows. See the module docs.
#[derive(Debug, Default)]
pub(super) struct Held {
    pub surfaces: BTreeMap<u32, HeldSurface>,
    /// Bottom to top, as far as this application's own raises and lowers tell.
    pub windows: Vec<HeldWindow>,
    pub watched_layers: Vec<u32>,
    /// It keeps the display from blanking ([`Request::InhibitBlanking`]).
    pub inhibits_blanking: bool,
}

impl Held {
    /// The master's id of surface `id`.
    pub fn surface(&self, id: u32) -> u32 {
        self.surfaces.get(&id).map_or(id, |s| s.master)
    }

    /// The master's id of window `id`.
    pub fn window(&self, id: u32) -> u32 {
        self.windows
            .iter()
            .find(|w| w.id == id)
            .map_or(id, |w| w.master)
    }

    /// Records a change the application made to window `id`.
    pub fn window_changed(&mut self, id: u32, change: &WindowChange) {
        let Some(i) = self.windows.iter().position(|w| w.id == id) else {
            return;
        };
        let w = &mut self.windows[i];
        match change {
            WindowChange::Move { x, y } => (w.x, w.y) = (*x, *y),
            WindowChange::Surface(s) => w.surface = *s,
            WindowChange::Opacity(o) => w.opacity = *o,
            WindowChange::Visible(v) => w.visible = *v,
            WindowChange::InputRegion(r) => w.input_region = r.clone(),
            WindowChange::Raise => {
                w.stacked = fusionfb_sys::now_ns();
                let w = self.windows.remove(i);
                self.windows.push(w);
            }
            WindowChange::Lower => {
                w.stacked = 0;
                let w = self.windows.remove(i);
                self.windows.insert(0, w);
            }
            WindowChange::Focus => {}
        }
    }
}

impl Display {
    /// Sets how long this display waits for a new master when its master dies (`None`: it
    /// does not rejoin; `MasterGone` ends the session). The default is
    /// `DEFAULT_TIMEOUT` (10 s), or what `FUSIONFB_REJOIN` says.
    pub fn set_rejoin(&mut self, timeout: Option<Duration>) {
        self.rejoin = timeout;
    }

    /// Enters the world again and takes back what the application had (see the module
    /// docs); the surfaces that could not be taken back are returned.
    pub(super) fn rejoin(&mut self, timeout: Duration) -> Result<Vec<u32>> {
        let started = Instant::now();
        let deadline = started + timeout;
        // Read once, before entering anywhere: an attempt that entered a next master that
        // died too leaves `self.slave` on that master while the windows' descriptors still
        // name places in the first one's pools (read through the next master's, they are
        // another window's, or nothing).
        let focused = self.read_dead_master();
        loop {
            match self.rejoin_once(deadline, focused) {
                // The new master died too before everything was back: the next one.
                // (A world whose socket is gone is over: `enter_again` says so as `MasterGone`
                // too, and that ends it here.)
                Err(e)
                    if e.is_master_death()
                        && Instant::now() < deadline
                        && self.slave.world().socket_path().exists() =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Ok(lost) => {
                    info!(
                        surfaces = self.held.surfaces.len(),
                        windows = self.held.windows.len(),
                        lost = lost.len(),
                        "rejoined a new master in {:.1} ms",
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    return Ok(lost);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Step 1 of [`Display::rejoin`]: which window had the focus (its application id) and
    /// when each window was stacked, from the dead master's descriptors (a master older than
    /// minor 7 says 0: the local times stand).
    fn read_dead_master(&mut self) -> Option<u32> {
        let mut focused = None;
        for w in &mut self.held.windows {
            let Ok(map) = self.slave.pool_map(w.descriptor.pool) else {
                continue;
            };
            if let Some(d) = proto::WindowDescriptor::read(&map, w.descriptor.offset as usize) {
                if d.focused {
                    focused = Some(w.id);
                }
                if d.stacked != 0 {
                    w.stacked = d.stacked;
                }
            }
        }
        focused
    }

    /// One attempt of [`Display::rejoin`], steps 2 to 3; `focused` is step 1's.
    fn rejoin_once(&mut self, deadline: Instant, focused: Option<u32>) -> Result<Vec<u32>> {
        // 2. Enter again.
        let cfg = self.slave.world().clone();
        let mut slave = enter_again(&cfg, deadline)?;
        let root: proto::Root = fusion::call::decode(&slave.root()?)?;
        if root.version != proto::VERSION {
            return Err(ClientError::Version(root.version, proto::VERSION));
        }
        self.slave = slave;
        self.root = root;
        // 3. Surfaces, windows bottom to top, input regions, focus, watched layers.
        let mut lost = Vec::new();
        let ids: Vec<u32> = self.held.surfaces.keys().copied().collect();
        for id in ids {
            let s = &self.held.surfaces[&id];
            let req = match s.exclusive {
                Some(layer) => Request::LayerAdopt {
                    layer,
                    id: s.master,
                    width: s.width,
                    height: s.height,
                    format: s.format.fourcc(),
                    pitch: s.pitch,
                    front: s.front,
                },
                None => Request::SurfaceAdopt {
                    id: s.master,
                    width: s.width,
                    height: s.height,
                    format: s.format.fourcc(),
                    front: s.front,
                },
            };
            let fds: Vec<_> = s.fds.iter().map(|f| f.as_fd()).collect();
            let payload = fusion::call::encode(&req)?;
            let bytes = self
                .slave
                .call_execute_fds(self.root.call, 0, &payload, &fds)
                .map(|(b, _)| b)
                .map_err(super::in_flight);
            let info = match bytes.map_err(ClientError::from).and_then(|b| {
                match fusion::call::decode::<Reply>(&b)? {
                    Reply::Surface(info) => Ok(info),
                    other => Err(ClientError::Protocol(format!("{other:?}"))),
                }
            }) {
                Ok(info) => info,
                // This master died too: the next one (see `rejoin`).
                Err(e) if e.is_master_death() => return Err(e),
                Err(e) => {
                    warn!("rejoin: surface {id} not taken back: {e}");
                    lost.push(id);
                    continue;
                }
            };
            let listening = self.attach_surface(info.reactor, id)?;
            let s = self.held.surfaces.get_mut(&id).expect("listed");
            s.listening = listening;
            s.master = info.id;
            s.descriptor = info.descriptor;
        }
        for id in &lost {
            self.held.surfaces.remove(id);
        }
        // Bottom to top (the local order is theirs already).
        let windows = self.held.windows.clone();
        let mut focus = None;
        let mut adopted = Vec::with_capacity(windows.len());
        for mut w in windows {
            let stacked = w.stacked;
            let Some(surface) = self.held.surfaces.get(&w.surface).map(|s| s.master) else {
                warn!("rejoin: window {} lost with its surface", w.id);
                continue;
            };
            let reply = self.call_fast(&Request::WindowAdopt {
                id: w.master,
                surface,
                layer: w.layer,
                x: w.x,
                y: w.y,
                opacity: w.opacity,
                visible: w.visible,
                stacked,
            });
            let info = match reply {
                Ok(Reply::Window(info)) => info,
                Err(e) if e.is_master_death() => return Err(e),
                other => {
                    warn!("rejoin: window {} not taken back: {other:?}", w.id);
                    continue;
                }
            };
            w.listening = self.attach_window(info.reactor, w.id)?;
            self.slave.pool_map(info.descriptor.pool)?;
            w.master = info.id;
            w.descriptor = info.descriptor;
            if w.input_region.is_some() {
                self.call_fast(&Request::WindowSet {
                    window: w.master,
                    change: WindowChange::InputRegion(w.input_region.clone()),
                })?;
            }
            if focused == Some(w.id) {
                focus = Some(w.master);
            }
            adopted.push(w);
        }
        self.held.windows = adopted;
        // The last frames again, now that the reactors are listened to: each flip's
        // `FrameDone` tells the application its picture is back (and ends a wait for the
        // frame the dead master never presented).
        let fronts: Vec<(u32, u8)> = self
            .held
            .surfaces
            .values()
            .filter_map(|s| Some((s.master, s.front?)))
            .collect();
        for (surface, buffer) in fronts {
            self.call_fast(&Request::SurfaceFlip {
                surface,
                buffer,
                damage: Vec::new(),
            })?;
        }
        if let Some(window) = focus {
            self.call_fast(&Request::WindowSet {
                window,
                change: WindowChange::Focus,
            })?;
        }
        for layer in self.held.watched_layers.clone() {
            self.watch_layer(layer)?;
        }
        if self.held.inhibits_blanking {
            self.call_fast(&Request::InhibitBlanking { inhibit: true })?;
        }
        Ok(lost)
    }
}

/// Enters `cfg`'s world until `deadline`: a socket that is gone ends it at once, one that
/// refuses connections (nobody listens: no supervisor keeps it) for over [`REFUSED_GRACE`]
/// too; while something listens (the next master is coming up, or died again during the
/// handshake) it is tried again.
fn enter_again(cfg: &fusion::WorldConfig, deadline: Instant) -> Result<Slave> {
    let mut failing_since: Option<Instant> = None;
    loop {
        if !cfg.socket_path().exists() {
            return Err(fusion::Error::MasterGone.into());
        }
        let err = match Slave::enter(cfg.clone()) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        let now = Instant::now();
        let refused = matches!(
            fusionfb_sys::connect_seqpacket(&cfg.socket_path()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        );
        if refused {
            let since = *failing_since.get_or_insert(now);
            if now.duration_since(since) > REFUSED_GRACE {
                return Err(err.into());
            }
        }
        if now >= deadline {
            return Err(err.into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
