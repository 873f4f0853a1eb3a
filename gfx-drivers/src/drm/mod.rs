//! The `drm` backend: KMS on a real display controller (feature `drm`).
//!
//! - **Opening** ([`open`]): the configured card, or the first `/dev/dri/card*` with a
//!   connected connector; through a libseat session where seatd or logind runs, directly as
//!   root otherwise.
//! - **Device**: smithay's `DrmDevice` (atomic modesetting, legacy fallback;
//!   `SMITHAY_USE_LEGACY=1` forces legacy). One **output** per connected connector (named
//!   like the kernel does: `Virtual-1`, `HDMI-A-1`), driven by a free CRTC (the one it already
//!   uses, if any); its modes preferred first, its physical size, and its **planes**: the
//!   primary, overlays and cursor of the CRTC with the formats fusionfb draws and their zpos
//!   (the cursor plane only with atomic KMS, its [`PlaneInfo::max_size`] the driver's
//!   `CURSOR_WIDTH`/`CURSOR_HEIGHT` caps).
//!   The mode comes from [`ModeChoice`] ([`modes`]): `preferred`, `current` (no modeset
//!   flash) or an exact `WxH@Hz`.
//! - **Buffers** ([`dumb`]): dumb buffers, mapped for the master's CPU, their framebuffers
//!   added lazily and cached, exported to a client as PRIME dma-bufs (bochs cannot:
//!   [`Error::Unsupported`]). Only this card's buffers scan out
//!   ([`Backend::can_scan_out`]); a client's memfd is composed. A client's dma-buf is
//!   imported onto the card where the driver can ([`prime`]) and then scans out as it is.
//! - **Commit**: the first commit of an output (and the first after a resume or
//!   [`Backend::set_mode`]) is a full atomic commit with modeset, later ones page flips, all
//!   with a completion event; one in flight per output ([`Error::Busy`]). A commit that uses an
//!   overlay or cursor plane is tried first with an atomic TEST_ONLY commit
//!   ([`Error::PlaneRefused`] when the driver says no); moving the cursor is a commit of the
//!   cursor plane alone with the same buffer at another position. An empty commit re-flips what the
//!   primary plane shows (a frame clock).
//! - **Events**: one pollable fd ([`AsFd`]): a private `calloop` loop holding the DRM
//!   device's event source (page flips with the kernel's monotonic timestamp and sequence),
//!   the session's (pause/resume), a udev monitor (connector hot-plug:
//!   [`BackendEvent::OutputAdded`]/`Removed`/`Changed`) and timers for the page-flip
//!   [`watchdog`] ([`BackendEvent::Stuck`]) and for the frames of a paused session.
//!   [`Backend::dispatch`] runs it with a zero timeout.
//! - **Session pause** (VT switch): the device is paused (DRM master dropped); commits are
//!   recorded and complete on a refresh-rate timer, so clients keep drawing and lose
//!   nothing; on resume the device is re-activated and the last frame re-committed with a
//!   full modeset. With a libseat session the seat manager says when; opened directly,
//!   the backend takes the VT itself ([`crate::vt::Console`]: graphics mode, console
//!   keyboard off, `VT_PROCESS` switching) unless `display.vt = "off"`.
//!
//! - **Damage**: each plane's damage goes to the driver as `FB_DAMAGE_CLIPS` ([`damage`]);
//!   modesets and re-commits update everything.

pub mod damage;
pub mod dumb;
#[cfg(feature = "gbm")]
pub mod gbm;
pub mod modes;
pub mod open;
pub mod prime;
pub mod seat;
pub(crate) mod sources;
pub mod watchdog;

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use calloop::generic::Generic;
use calloop::{Dispatcher, EventLoop, Interest, RegistrationToken};
use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
pub use seat::{SeatError, SeatNotifier, SeatSession};
use smithay::backend::drm::{
    DrmDevice, DrmDeviceFd, DrmEventMetadata as EventMetadata, DrmEventTime as Time, DrmSurface,
    PlaneConfig, PlaneDamageClips, PlaneState,
};
use smithay::backend::session::Event as SessionEvent;
use smithay::backend::udev::UdevBackend;
use smithay::reexports::drm::control::{
    connector, crtc, framebuffer, plane, Device as ControlDevice, ModeFlags, ModeTypeFlags,
};
use smithay::utils::{DeviceFd, Rectangle, Transform as SmithayTransform};

use crate::backend::{
    Backend, BackendEvent, CommitId, Error, Mode, OutputId, OutputInfo, PlaneId, PlaneInfo,
    PlaneKind, PlaneUpdate, Presented, Transform,
};
use crate::buffer::{Buffer, BufferDesc, ScanoutRef};
use crate::format::Format;
use crate::loop_source::{LoopSource, Wake, WakeKind};
pub use modes::ModeChoice;
use sources::{DrmSources, DrmWake};
use watchdog::Watchdog;

/// How to open the DRM backend (from the config's `[display]`).
#[derive(Debug, Clone, Default)]
pub struct DrmConfig {
    /// `display.device`: the card; `None` for the first usable one.
    pub device: Option<PathBuf>,
    /// `display.mode`.
    pub mode: ModeChoice,
    /// `display.vt`: whether to take the console when the card is opened directly.
    pub vt: crate::vt::VtChoice,
    /// `display.allocator`: what scan-out buffers are made with.
    pub allocator: Allocator,
    /// `display.output`: the connector to drive (`HDMI-A-1`, `DSI-1`, …) when several are
    /// connected; `None` for the first.
    pub output: Option<String>,
}

/// What the DRM backend allocates its scan-out buffers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocator {
    /// Dumb buffers: every KMS driver has them.
    #[default]
    Dumb,
    /// GBM buffer objects (the `gbm` module; the `gbm` cargo feature).
    Gbm,
}

/// The backend's sources on a loop of its own, for a caller without a loop (one that polls
/// the backend's fd and calls [`Backend::dispatch`]); empty once [`Backend::loop_source`]
/// moved them onto the caller's loop, as the compositor does.
struct Fallback {
    events: EventLoop<'static, Vec<DrmWake>>,
    sources: Option<(
        RegistrationToken,
        Dispatcher<'static, DrmSources, Vec<DrmWake>>,
    )>,
}

impl Fallback {
    fn new(sources: DrmSources) -> Result<Fallback, Error> {
        let events: EventLoop<'static, Vec<DrmWake>> = EventLoop::try_new().map_err(loop_err)?;
        let dispatcher = Dispatcher::new(sources, |wake, _, inbox: &mut Vec<DrmWake>| {
            inbox.push(wake)
        });
        let token = events
            .handle()
            .register_dispatcher(dispatcher.clone())
            .map_err(loop_err)?;
        Ok(Fallback {
            events,
            sources: Some((token, dispatcher)),
        })
    }

    /// Takes the sources off this loop (once).
    fn take(&mut self) -> Option<DrmSources> {
        let (token, dispatcher) = self.sources.take()?;
        // Removing drops the loop's share of the dispatcher, so it is ours alone.
        self.events.handle().remove(token);
        Some(dispatcher.into_source_inner())
    }

    /// What the sources reported since the last call (nothing once taken).
    fn dispatch(&mut self) -> Result<Vec<DrmWake>, Error> {
        let mut inbox = Vec::new();
        self.events
            .dispatch(Some(Duration::ZERO), &mut inbox)
            .map_err(loop_err)?;
        Ok(inbox)
    }
}

/// What one plane shows.
#[derive(Debug, Clone, Default)]
struct Shown {
    buffer: Option<ScanoutRef>,
    position: (i32, i32),
    /// What changed in the buffer since it was last shown (empty: everything); used for
    /// the commit that puts it on the glass, not for re-commits ([`damage`]).
    damage: Vec<crate::backend::Rect<crate::backend::geometry::Buffer>>,
}

#[derive(Debug)]
struct Pending {
    commit: CommitId,
    planes: Vec<(PlaneId, Shown)>,
    /// Completed by a timer, not by the device (session paused, or nothing to show yet).
    timed: bool,
    /// When a timed commit completes (`CLOCK_MONOTONIC` ns).
    due_ns: u64,
}

struct DrmOutput {
    info: OutputInfo,
    connector: connector::Handle,
    crtc: crtc::Handle,
    /// `None` while the connector is unplugged (its CRTC and planes are free then).
    surface: Option<DrmSurface>,
    drm_modes: Vec<smithay::reexports::drm::control::Mode>,
    glass: HashMap<PlaneId, Shown>,
    pending: Option<Pending>,
    needs_modeset: bool,
    watchdog: Watchdog,
    connected: bool,
    /// Blanked ([`Backend::set_blank`]): the CRTC is off until unblanked.
    blanked: bool,
}

impl DrmOutput {
    /// Lets the flip in flight (if any) complete on the backend's timer one refresh from
    /// now instead of by a device event that may never come (paused session, unplugged).
    fn finish_on_timer(&mut self) {
        let refresh = self.info.current_mode.refresh_interval_ns();
        if let Some(p) = &mut self.pending {
            p.timed = true;
            p.due_ns = fusionfb_sys::now_ns() + refresh;
            self.watchdog.disarm(0);
        }
    }
}

/// The KMS backend; see the [module docs](self).
pub struct DrmBackend {
    fallback: Fallback,
    /// Wakes the loop for timed commits and the watchdog (a dup is in [`DrmSources`]).
    timer: OwnedFd,
    device: DrmDevice,
    fd: DrmDeviceFd,
    path: PathBuf,
    /// Kept open for the backend's life: dropping it closes the seat.
    session: Option<SeatSession>,
    /// `display.output`.
    wanted_output: Option<String>,
    /// GBM, when `display.allocator = "gbm"`.
    #[cfg(feature = "gbm")]
    gbm: Option<gbm::GbmAllocator>,
    /// The VT, when the card was opened directly and there is one ([`crate::vt`]).
    console: Option<crate::vt::Console>,
    mode_choice: ModeChoice,
    outputs: Vec<DrmOutput>,
    /// Clients' dma-bufs imported onto the card ([`prime`]).
    prime: prime::PrimeTable,
    next_commit: u64,
    paused: bool,
    how: String,
}

impl std::fmt::Debug for DrmBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmBackend")
            .field("path", &self.path)
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

fn drm_err(e: smithay::backend::drm::DrmError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

fn loop_err(e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!("DRM event loop: {e}")))
}

fn our_mode(m: &smithay::reexports::drm::control::Mode) -> Mode {
    let (w, h) = m.size();
    let (_, _, htotal) = m.hsync();
    let (_, _, vtotal) = m.vsync();
    let flags = m.flags();
    let mhz = modes::refresh_mhz(
        m.clock(),
        htotal,
        vtotal,
        flags.contains(ModeFlags::INTERLACE),
        flags.contains(ModeFlags::DBLSCAN),
    );
    Mode::new(u32::from(w), u32::from(h), mhz)
}

fn plane_info(
    p: &smithay::backend::drm::PlaneInfo,
    kind: PlaneKind,
    zpos: u32,
    max_size: Option<(u32, u32)>,
) -> PlaneInfo {
    let mut formats: Vec<Format> = Vec::new();
    for f in p.formats.iter() {
        if let Some(ours) = Format::from_fourcc(f.code as u32) {
            if !formats.contains(&ours) {
                formats.push(ours);
            }
        }
    }
    PlaneInfo {
        id: PlaneId(p.handle.into()),
        kind,
        formats,
        zpos: p.zpos.map_or(zpos, |z| z.max(0) as u32),
        max_size,
    }
}

/// Arms `timer` (a `CLOCK_MONOTONIC` timerfd) for the absolute time `at_ns`, or disarms it.
fn arm_timer(timer: &OwnedFd, at_ns: Option<u64>) -> Result<(), Error> {
    let ts = |ns: u64| Timespec {
        tv_sec: (ns / 1_000_000_000) as _,
        tv_nsec: (ns % 1_000_000_000) as _,
    };
    let spec = Itimerspec {
        it_interval: ts(0),
        // 0 disarms; a deadline is never 0 on CLOCK_MONOTONIC.
        it_value: ts(at_ns.unwrap_or(0).max(u64::from(at_ns.is_some()))),
    };
    rustix::time::timerfd_settime(timer, TimerfdTimerFlags::ABSTIME, &spec)
        .map_err(std::io::Error::from)?;
    Ok(())
}

fn mono_ns(meta: &Option<EventMetadata>) -> u64 {
    match meta.map(|m| m.time) {
        Some(Time::Monotonic(d)) => d.as_nanos() as u64,
        Some(Time::Realtime(t)) => {
            // Translate a CLOCK_REALTIME stamp (old drivers) onto CLOCK_MONOTONIC.
            let ago = SystemTime::now().duration_since(t).unwrap_or_default();
            fusionfb_sys::now_ns().saturating_sub(ago.as_nanos() as u64)
        }
        None => fusionfb_sys::now_ns(),
    }
}

impl DrmOutput {
    fn surface(&self) -> Result<&DrmSurface, Error> {
        self.surface
            .as_ref()
            .ok_or_else(|| Error::Unavailable(format!("{} is unplugged", self.info.name)))
    }
}

impl DrmBackend {
    /// Opens the card `config` names (or the first usable one) and sets up one output per
    /// connected connector, in the chosen mode. Nothing is shown until the first commit.
    pub fn open(config: &DrmConfig) -> Result<DrmBackend, Error> {
        let opened = open::open(config.device.as_deref())?;
        let how = match &opened.how {
            open::SessionChoice::LibSeat(w) => format!("libseat session: {w}"),
            open::SessionChoice::Direct(w) => format!("opened directly: {w}"),
        };
        let fd = DrmDeviceFd::new(DeviceFd::from(opened.fd));
        let keep_current = config.mode == ModeChoice::Current;
        let (device, notifier) = DrmDevice::new(fd.clone(), !keep_current).map_err(drm_err)?;
        let mut session = None;
        let mut session_notifier = None;
        if let Some((s, notifier)) = opened.session {
            session_notifier = Some(notifier);
            session = Some(s);
        }
        // Opened directly, the console is ours to keep quiet and to switch away from (a
        // seat manager does that for a session).
        let console = if session.is_none() {
            crate::vt::Console::take_for(config.vt)
        } else {
            None
        };
        let mut console_sources = Vec::new();
        for fd in console.iter().flat_map(|c| c.fds()) {
            console_sources.push(Generic::new(
                fd.try_clone_to_owned()?,
                Interest::READ,
                calloop::Mode::Level,
            ));
        }
        let seat = session
            .as_ref()
            .map(smithay::backend::session::Session::seat)
            .unwrap_or_else(|| "seat0".into());
        let udev = UdevBackend::new(&seat)
            .map_err(|e| tracing::warn!("no udev monitor, so no connector hot-plug: {e}"))
            .ok();
        let timer = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        let sources = DrmSources {
            device: notifier,
            session: session_notifier,
            udev,
            console: console_sources,
            timer: Generic::new(timer.try_clone()?, Interest::READ, calloop::Mode::Level),
        };
        let fallback = Fallback::new(sources)?;
        let mut backend = DrmBackend {
            fallback,
            timer,
            device,
            fd,
            path: opened.path,
            session,
            wanted_output: config.output.clone(),
            #[cfg(feature = "gbm")]
            gbm: None,
            console,
            mode_choice: config.mode,
            outputs: Vec::new(),
            prime: prime::PrimeTable::default(),
            next_commit: 1,
            paused: false,
            how,
        };
        match config.allocator {
            Allocator::Dumb => {}
            #[cfg(feature = "gbm")]
            Allocator::Gbm => {
                let g = gbm::GbmAllocator::new(&backend.fd)?;
                tracing::info!(backend = g.backend_name(), "scan-out buffers from GBM");
                backend.gbm = Some(g);
            }
            #[cfg(not(feature = "gbm"))]
            Allocator::Gbm => {
                return Err(Error::Unsupported(
                    "display.allocator = \"gbm\": this fusionfb was built without the `gbm` \
                     feature (cargo build --features gbm)"
                        .into(),
                ))
            }
        }
        backend.scan_connectors()?;
        if let Some(want) = &config.output {
            if !backend
                .outputs
                .iter()
                .any(|o| o.connected && o.info.name == *want)
            {
                let have: Vec<&str> = backend
                    .outputs
                    .iter()
                    .filter(|o| o.connected)
                    .map(|o| o.info.name.as_str())
                    .collect();
                tracing::warn!(
                    "display.output = {want:?} is not connected (connected: {have:?}); driving the first"
                );
            }
        }
        if !backend.outputs.iter().any(|o| o.connected) {
            return Err(Error::Unavailable(format!(
                "{}: no connected display",
                backend.path.display()
            )));
        }
        tracing::info!(
            device = %backend.path.display(),
            atomic = backend.device.is_atomic(),
            how = %backend.how,
            outputs = ?backend.outputs.iter().map(|o| format!("{} {}", o.info.name, o.info.current_mode)).collect::<Vec<_>>(),
            "DRM device open"
        );
        Ok(backend)
    }

    /// Whether `b` is one of this card's scan-out buffers (no ioctl: the framebuffer is
    /// only added when the buffer is first shown).
    fn owns(&self, b: &Buffer) -> bool {
        #[cfg(feature = "gbm")]
        if gbm::own(&self.fd, b).is_some() {
            return true;
        }
        dumb::own(&self.fd, b).is_some() || prime::own(&self.fd, b).is_some()
    }

    /// The framebuffer of one of this card's buffers (`None`: not one of them).
    fn framebuffer(&self, b: &Buffer) -> Option<Result<framebuffer::Handle, Error>> {
        if let Some(m) = dumb::own(&self.fd, b) {
            return Some(m.framebuffer());
        }
        if let Some(m) = prime::own(&self.fd, b) {
            return Some(m.framebuffer());
        }
        #[cfg(feature = "gbm")]
        if let Some(m) = gbm::own(&self.fd, b) {
            return Some(m.framebuffer());
        }
        None
    }

    /// The libseat session the card was opened through, if a seat manager gave one: the
    /// compositor hands it to the input side so the input devices come from the same seat.
    pub fn session(&self) -> Option<SeatSession> {
        self.session.clone()
    }

    /// The card's path.
    pub fn device_path(&self) -> &Path {
        &self.path
    }

    /// How the card was opened (session or direct, and why), for the log line.
    pub fn how_opened(&self) -> &str {
        &self.how
    }

    /// Looks at every connector: new connected ones become outputs, disconnected ones are
    /// dropped, changed ones are rebuilt. Returns the events to report.
    fn scan_connectors(&mut self) -> Result<Vec<BackendEvent>, Error> {
        let res = self.fd.resource_handles()?;
        let mut events = Vec::new();
        for &conn in res.connectors() {
            let info = match self.fd.get_connector(conn, true) {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!("connector {conn:?}: {e}");
                    continue;
                }
            };
            let connected = info.state() == connector::State::Connected;
            let name = format!("{}-{}", info.interface().as_str(), info.interface_id());
            let known = self.outputs.iter().position(|o| o.connector == conn);
            match (known, connected) {
                (Some(i), false) if self.outputs[i].connected => {
                    let out = &mut self.outputs[i];
                    out.connected = false;
                    out.surface = None;
                    out.glass.clear();
                    // A flip in flight will get no event now: finish it on the timer, so
                    // the compositor and its clients go on while the display is away.
                    out.finish_on_timer();
                    if let Some(p) = &mut out.pending {
                        p.planes.clear();
                    }
                    tracing::info!(output = %out.info.name, "display unplugged");
                    events.push(BackendEvent::OutputRemoved(out.info.id));
                }
                (Some(i), true) => {
                    let was = self.outputs[i].connected;
                    let modes: Vec<Mode> = info.modes().iter().map(our_mode).collect();
                    let old: Vec<Mode> = self.outputs[i].drm_modes.iter().map(our_mode).collect();
                    if !was || modes != old {
                        let id = self.outputs[i].info.id;
                        // Free its CRTC and planes for the new surface.
                        self.outputs[i].surface = None;
                        let mut rebuilt = self.build_output(id, &info, name, &res)?;
                        // A frame finishing on the timer while it was away still finishes.
                        rebuilt.pending = self.outputs[i].pending.take().map(|mut p| {
                            p.timed = true;
                            p.planes.clear();
                            p
                        });
                        tracing::info!(output = %rebuilt.info.name, mode = %rebuilt.info.current_mode, "display (re)connected");
                        self.outputs[i] = rebuilt;
                        events.push(if was {
                            BackendEvent::OutputChanged(id)
                        } else {
                            BackendEvent::OutputAdded(id)
                        });
                    }
                }
                (None, true) => {
                    let id = OutputId(self.outputs.len() as u32);
                    match self.build_output(id, &info, name.clone(), &res) {
                        Ok(out) => {
                            if id.0 > 0 || !events.is_empty() {
                                events.push(BackendEvent::OutputAdded(id));
                            }
                            self.outputs.push(out);
                        }
                        Err(e) => tracing::warn!("{name}: not used: {e}"),
                    }
                }
                _ => {}
            }
        }
        Ok(events)
    }

    fn build_output(
        &mut self,
        id: OutputId,
        info: &connector::Info,
        name: String,
        res: &smithay::reexports::drm::control::ResourceHandles,
    ) -> Result<DrmOutput, Error> {
        let used: Vec<crtc::Handle> = self
            .outputs
            .iter()
            .filter(|o| o.connected && o.connector != info.handle())
            .map(|o| o.crtc)
            .collect();
        // The CRTC the connector already uses, else the first free one its encoders allow.
        let current_crtc = info
            .current_encoder()
            .and_then(|e| self.fd.get_encoder(e).ok())
            .and_then(|e| e.crtc());
        let crtc = current_crtc
            .filter(|c| !used.contains(c))
            .or_else(|| {
                info.encoders()
                    .iter()
                    .filter_map(|&e| self.fd.get_encoder(e).ok())
                    .flat_map(|e| res.filter_crtcs(e.possible_crtcs()))
                    .find(|c| !used.contains(c))
            })
            .ok_or_else(|| Error::Unavailable(format!("{name}: no free CRTC")))?;
        let current = self
            .fd
            .get_crtc(crtc)
            .ok()
            .and_then(|c| c.mode())
            .map(|m| our_mode(&m));
        let drm_modes = info.modes().to_vec();
        let candidates: Vec<modes::Candidate> = drm_modes
            .iter()
            .map(|m| modes::Candidate {
                mode: our_mode(m),
                preferred: m.mode_type().contains(ModeTypeFlags::PREFERRED),
            })
            .collect();
        let chosen = modes::select(self.mode_choice, &candidates, current)
            .map_err(|e| Error::InvalidConfig(format!("{name}: {e}")))?;
        let surface = self
            .device
            .create_surface(crtc, drm_modes[chosen], &[info.handle()])
            .map_err(drm_err)?;
        let planes = surface.planes();
        let mut infos: Vec<PlaneInfo> = Vec::new();
        let primary = surface.plane_info();
        infos.push(plane_info(primary, PlaneKind::Primary, 0, None));
        for (i, p) in planes.overlay.iter().enumerate() {
            infos.push(plane_info(p, PlaneKind::Overlay, 1 + i as u32, None));
        }
        // Legacy KMS (no atomic) cannot put a buffer on the cursor plane through the
        // plane API smithay speaks; the compositor composes the cursor there.
        if self.device.is_atomic() {
            let size = self.cursor_size();
            for p in &planes.cursor {
                infos.push(plane_info(p, PlaneKind::Cursor, 255, Some(size)));
            }
        }
        let order = modes::order(&candidates);
        let (mm_w, mm_h) = info.size().unwrap_or((0, 0));
        Ok(DrmOutput {
            info: OutputInfo {
                id,
                name,
                modes: order.iter().map(|&i| candidates[i].mode).collect(),
                current_mode: candidates[chosen].mode,
                physical_size_mm: (mm_w, mm_h),
                transform: Transform::Normal,
                planes: infos,
            },
            connector: info.handle(),
            crtc,
            surface: Some(surface),
            drm_modes,
            glass: HashMap::new(),
            pending: None,
            needs_modeset: true,
            blanked: false,
            watchdog: Watchdog::default(),
            connected: true,
        })
    }

    /// The driver's cursor size (`DRM_CAP_CURSOR_WIDTH`/`HEIGHT`; 64x64, the kernel's
    /// default, when it does not say).
    fn cursor_size(&self) -> (u32, u32) {
        use smithay::reexports::drm::{Device as _, DriverCapability};
        let cap = |c| {
            self.fd
                .get_driver_capability(c)
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| v > 0 && v <= 512)
                .unwrap_or(64)
        };
        (
            cap(DriverCapability::CursorWidth),
            cap(DriverCapability::CursorHeight),
        )
    }

    /// An output the card has had, connected or unplugged (an unplugged one keeps its id
    /// and takes commits, completed on a timer, until it comes back).
    fn out(&self, id: OutputId) -> Result<&DrmOutput, Error> {
        self.outputs
            .get(id.0 as usize)
            .ok_or(Error::UnknownOutput(id))
    }

    fn out_mut(&mut self, id: OutputId) -> Result<&mut DrmOutput, Error> {
        self.outputs
            .get_mut(id.0 as usize)
            .ok_or(Error::UnknownOutput(id))
    }

    /// Arms the timerfd for the earliest deadline of any output (a timed commit's, a
    /// watchdog's), or disarms it. A real fd, not a calloop timer: calloop's timers do not
    /// make the loop's own fd readable, and the compositor polls that fd.
    fn rearm(&self) -> Result<(), Error> {
        let next = self
            .outputs
            .iter()
            .filter_map(|o| {
                let p = o.pending.as_ref()?;
                if p.timed {
                    Some(p.due_ns)
                } else {
                    o.watchdog.deadline_ns()
                }
            })
            .min();
        arm_timer(&self.timer, next)
    }

    /// The DRM plane states that put `planes` on the glass.
    /// With `damage`, each plane's `FB_DAMAGE_CLIPS` blob too, to be kept until the commit
    /// is done.
    fn states(
        &self,
        planes: &[(PlaneId, Shown)],
        damage: bool,
    ) -> Result<(Vec<PlaneState<'static>>, Vec<PlaneDamageClips>), Error> {
        let mut blobs = Vec::new();
        let states = planes
            .iter()
            .map(|(id, shown)| {
                let handle = plane::Handle::from(
                    std::num::NonZeroU32::new(id.0)
                        .ok_or_else(|| Error::InvalidCommit("plane 0".into()))?,
                );
                let config = match &shown.buffer {
                    None => None,
                    Some(r) => {
                        let b = r.buffer();
                        let fb = self.framebuffer(b).ok_or_else(|| {
                            Error::Unsupported(
                                "only buffers allocated by this DRM device scan out".into(),
                            )
                        })??;
                        let (w, h) = (b.width() as i32, b.height() as i32);
                        let clips = if damage {
                            damage::clips(&self.fd, b.width(), b.height(), &shown.damage)
                        } else {
                            None
                        };
                        let damage_clips = clips.as_ref().map(damage::value);
                        blobs.extend(clips);
                        Some(PlaneConfig {
                            src: Rectangle::from_size((w as f64, h as f64).into()),
                            dst: Rectangle::new(shown.position.into(), (w, h).into()),
                            transform: SmithayTransform::Normal,
                            alpha: 1.0,
                            damage_clips,
                            fb,
                            fence: None,
                        })
                    }
                };
                Ok(PlaneState { handle, config })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok((states, blobs))
    }

    /// Puts `planes` on `output`'s glass: a modeset commit or a page flip, with an event.
    fn flip(&mut self, index: usize, planes: &[(PlaneId, Shown)]) -> Result<(), Error> {
        let modeset = self.outputs[index].needs_modeset;
        let (states, _blobs) = self.states(planes, !modeset)?;
        let out = &self.outputs[index];
        let primary = out.info.planes[0].id;
        if let Some((plane, _)) = planes
            .iter()
            .find(|(p, s)| *p != primary && s.buffer.is_some())
        {
            out.surface()?
                .test_state(states.clone(), out.needs_modeset)
                .map_err(|e| Error::PlaneRefused {
                    plane: *plane,
                    reason: e.to_string(),
                })?;
        }
        if out.needs_modeset {
            out.surface()?.commit(states, true).map_err(drm_err)?;
        } else {
            out.surface()?.page_flip(states, true).map_err(drm_err)?;
        }
        self.outputs[index].needs_modeset = false;
        Ok(())
    }

    /// What `output` shows, for a re-commit: every plane with a buffer.
    fn glass_planes(out: &DrmOutput) -> Vec<(PlaneId, Shown)> {
        let mut v: Vec<(PlaneId, Shown)> = out
            .glass
            .iter()
            .filter(|(_, s)| s.buffer.is_some())
            .map(|(p, s)| (*p, s.clone()))
            .collect();
        v.sort_by_key(|(p, _)| *p);
        v
    }

    fn complete(&mut self, index: usize, time_ns: u64, sequence: u64) -> Option<BackendEvent> {
        let now = fusionfb_sys::now_ns();
        let out = &mut self.outputs[index];
        let pending = out.pending.take()?;
        if let Some(stuck) = out.watchdog.disarm(now) {
            tracing::warn!(output = %out.info.name, ?stuck, "the stuck flip completed at last");
        }
        for (plane, shown) in pending.planes {
            // The replaced buffer's ScanoutRef drops here: it is no longer busy.
            out.glass.insert(plane, shown);
        }
        Some(BackendEvent::Presented(Presented {
            output: out.info.id,
            commit: pending.commit,
            sequence,
            time_ns,
            refresh_ns: out.info.current_mode.refresh_interval_ns(),
        }))
    }

    fn pause(&mut self) {
        tracing::info!("session paused: dropping DRM master, frames continue on a timer");
        self.paused = true;
        self.device.pause();
        for out in &mut self.outputs {
            // The flip's event may never come now: finish it on the timer instead.
            out.finish_on_timer();
        }
    }

    fn resume(&mut self) -> Result<(), Error> {
        tracing::info!("session resumed: modesetting the last frame again");
        self.device.activate(false).map_err(drm_err)?;
        self.paused = false;
        for i in 0..self.outputs.len() {
            self.outputs[i].needs_modeset = true;
            if !self.outputs[i].connected || self.outputs[i].blanked {
                continue;
            }
            let planes = Self::glass_planes(&self.outputs[i]);
            if planes.is_empty() {
                continue;
            }
            // A blocking modeset without an event: the next commit is free to go.
            let (states, _) = self.states(&planes, false)?;
            let out = &mut self.outputs[i];
            match out.surface()?.commit(states, false) {
                Ok(()) => out.needs_modeset = false,
                Err(e) => tracing::warn!(output = %out.info.name, "re-commit after resume: {e}"),
            }
        }
        Ok(())
    }
}

impl AsFd for DrmBackend {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fallback.events.as_fd()
    }
}

impl Backend for DrmBackend {
    fn name(&self) -> &str {
        "drm"
    }

    /// The connected outputs, the one `display.output` names first.
    fn outputs(&self) -> Vec<OutputId> {
        let mut v: Vec<&DrmOutput> = self.outputs.iter().filter(|o| o.connected).collect();
        v.sort_by_key(|o| Some(&o.info.name) != self.wanted_output.as_ref());
        v.into_iter().map(|o| o.info.id).collect()
    }

    fn output(&self, output: OutputId) -> Result<&OutputInfo, Error> {
        Ok(&self.out(output)?.info)
    }

    fn set_mode(&mut self, output: OutputId, mode: Mode) -> Result<(), Error> {
        let out = self.out_mut(output)?;
        if out.pending.is_some() {
            return Err(Error::Busy(output));
        }
        let i = out
            .drm_modes
            .iter()
            .position(|m| our_mode(m) == mode)
            .ok_or(Error::UnsupportedMode { output, mode })?;
        out.surface()?.use_mode(out.drm_modes[i]).map_err(drm_err)?;
        out.info.current_mode = mode;
        out.needs_modeset = true;
        Ok(())
    }

    fn allocate(&mut self, width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(Error::InvalidBuffer(format!(
                "{width}x{height} is not a size a dumb buffer can have"
            )));
        }
        #[cfg(feature = "gbm")]
        if let Some(gbm) = &self.gbm {
            return gbm.allocate(width, height, format);
        }
        dumb::allocate(&self.fd, width, height, format)
    }

    fn commit(&mut self, output: OutputId, updates: &[PlaneUpdate<'_>]) -> Result<CommitId, Error> {
        let index = output.0 as usize;
        let now = fusionfb_sys::now_ns();
        let out = self.out_mut(output)?;
        if out.pending.is_some() {
            if !out.watchdog.is_stuck() {
                return Err(Error::Busy(output));
            }
            // The stuck flip is abandoned: its buffers count as shown, and this commit
            // modesets afresh.
            tracing::warn!(output = %out.info.name, "abandoning a stuck flip");
            let p = out.pending.take().expect("checked");
            out.watchdog.disarm(now);
            out.glass.extend(p.planes);
            out.needs_modeset = true;
        }
        let out = self.out(output)?;
        crate::backend::check_updates(&out.info, updates)?;
        for u in updates {
            if let Some(b) = u.buffer {
                if !self.can_scan_out(b) {
                    return Err(Error::Unsupported(format!(
                        "buffer {:?} is not a dumb buffer of {}: compose it instead",
                        b.id(),
                        self.path.display()
                    )));
                }
            }
        }
        let mut planes: Vec<(PlaneId, Shown)> = updates
            .iter()
            .map(|u| {
                (
                    u.plane,
                    Shown {
                        buffer: u.buffer.map(ScanoutRef::new),
                        position: u.position,
                        damage: u.damage.to_vec(),
                    },
                )
            })
            .collect();
        // A modeset needs the primary plane; an empty commit re-flips it (a frame clock).
        let primary = out.info.planes[0].id;
        let needs_primary = out.needs_modeset || updates.is_empty();
        if needs_primary && !planes.iter().any(|(p, _)| *p == primary) {
            if let Some(s) = out.glass.get(&primary).filter(|s| s.buffer.is_some()) {
                // The same buffer again: nothing changed in it. Clips cannot say "nothing"
                // (none means everything), so one pixel, to spare uploading drivers a
                // whole frame per clock tick.
                let mut s = s.clone();
                s.damage = vec![crate::backend::Rect::new(0, 0, 1, 1)];
                planes.push((primary, s));
            }
        }
        let refresh = out.info.current_mode.refresh_interval_ns();
        let has_primary = planes
            .iter()
            .any(|(p, s)| *p == primary && s.buffer.is_some());
        let timed = self.paused
            || !out.connected
            || (out.needs_modeset && !has_primary)
            || planes.is_empty();
        if !timed {
            self.flip(index, &planes)?;
        }
        let commit = CommitId(self.next_commit);
        self.next_commit += 1;
        let out = &mut self.outputs[index];
        let due_ns = now + refresh.max(1_000_000);
        if !timed {
            out.watchdog.arm(now, refresh);
        }
        out.pending = Some(Pending {
            commit,
            planes,
            timed,
            due_ns,
        });
        self.rearm()?;
        Ok(commit)
    }

    fn is_pending(&self, output: OutputId) -> Result<bool, Error> {
        Ok(self.out(output)?.pending.is_some())
    }

    fn on_glass(&self, output: OutputId, plane: PlaneId) -> Result<Option<Buffer>, Error> {
        let out = self.out(output)?;
        if !out.info.planes.iter().any(|p| p.id == plane) {
            return Err(Error::UnknownPlane { output, plane });
        }
        if out.blanked {
            return Ok(None);
        }
        Ok(out
            .glass
            .get(&plane)
            .and_then(|s| s.buffer.as_ref())
            .map(|r| r.buffer().clone()))
    }

    fn can_scan_out(&self, buffer: &Buffer) -> bool {
        self.owns(buffer)
    }

    /// Blanking clears the CRTC (smithay's `DrmSurface::clear`: `ACTIVE = 0` and every
    /// plane off in one atomic commit; DPMS off on legacy drivers); unblanking commits
    /// what was on the glass again with a modeset, as a resumed session does.
    fn set_blank(&mut self, output: OutputId, blank: bool) -> Result<(), Error> {
        let index = self
            .outputs
            .iter()
            .position(|o| o.info.id == output)
            .ok_or(Error::UnknownOutput(output))?;
        if self.outputs[index].blanked == blank {
            return Ok(());
        }
        let out = &mut self.outputs[index];
        out.blanked = blank;
        out.needs_modeset = true;
        if !out.connected || self.paused {
            return Ok(());
        }
        if blank {
            // A flip in flight may never report now: finish it on the timer.
            out.finish_on_timer();
            self.rearm()?;
            let out = &self.outputs[index];
            return out.surface()?.clear().map_err(drm_err);
        }
        let planes = Self::glass_planes(&self.outputs[index]);
        if planes.is_empty() {
            return Ok(());
        }
        let (states, _) = self.states(&planes, false)?;
        let out = &mut self.outputs[index];
        out.surface()?.commit(states, false).map_err(drm_err)?;
        out.needs_modeset = false;
        Ok(())
    }

    fn import_dmabuf(&mut self, fd: OwnedFd, desc: BufferDesc) -> Result<Buffer, Error> {
        match prime::import(&self.fd, &self.prime, fd, desc) {
            Ok(b) => Ok(b),
            Err((e, fd)) => {
                tracing::debug!("dma-buf composed, not scanned out: {e}");
                Buffer::import(fd, desc, false)
            }
        }
    }

    fn device_id(&self) -> Option<u64> {
        Some(self.device.device_id())
    }

    fn dispatch(&mut self) -> Result<Vec<BackendEvent>, Error> {
        let wakes = self.fallback.dispatch()?;
        self.handle(wakes)
    }

    /// The sources move onto the caller's loop (once; the fd then never becomes readable).
    fn loop_source(&mut self) -> Result<LoopSource, Error> {
        let sources = self.fallback.take().ok_or_else(|| {
            Error::Unavailable("the DRM backend's sources are already on a loop".into())
        })?;
        Ok(LoopSource::drm(sources))
    }

    fn wake(&mut self, wake: Wake) -> Result<Vec<BackendEvent>, Error> {
        match wake.0 {
            WakeKind::Drm(w) => self.handle(vec![w]),
            WakeKind::Readable => self.dispatch(),
        }
    }
}

impl DrmBackend {
    /// Does what the sources reported (and whatever is due on the clock) and returns the
    /// events.
    fn handle(&mut self, wakes: Vec<DrmWake>) -> Result<Vec<BackendEvent>, Error> {
        let dev_id = self.device.device_id();
        let mut vt = false;
        let mut hotplug = false;
        let mut session = Vec::new();
        let mut flips = Vec::new();
        for w in wakes {
            match w {
                DrmWake::Flip(crtc, meta) => flips.push((crtc, meta)),
                DrmWake::Error(e) => tracing::warn!("DRM events: {e}"),
                DrmWake::Session(e) => session.push(e),
                DrmWake::Vt => vt = true,
                DrmWake::Hotplug(id) => hotplug |= id == dev_id,
                DrmWake::Timer => {}
            }
        }
        let mut events = Vec::new();
        let switches = match (&mut self.console, vt) {
            (Some(c), true) => c.events(),
            _ => Vec::new(),
        };
        for e in switches {
            match e {
                crate::vt::VtEvent::Release => {
                    self.pause();
                    if let Some(c) = &mut self.console {
                        c.allow_release()?;
                    }
                    events.push(BackendEvent::SessionPaused);
                }
                crate::vt::VtEvent::Acquire => {
                    if let Some(c) = &mut self.console {
                        c.acknowledge_acquire()?;
                    }
                    self.resume()?;
                    events.push(BackendEvent::SessionResumed);
                }
            }
        }
        for e in session {
            match e {
                SessionEvent::PauseSession => {
                    self.pause();
                    events.push(BackendEvent::SessionPaused);
                }
                SessionEvent::ActivateSession => {
                    self.resume()?;
                    events.push(BackendEvent::SessionResumed);
                }
            }
        }
        for (crtc, meta) in flips {
            let Some(i) = self.outputs.iter().position(|o| {
                o.connected && o.crtc == crtc && o.pending.as_ref().is_some_and(|p| !p.timed)
            }) else {
                continue;
            };
            let seq = meta.map_or(0, |m| u64::from(m.sequence));
            events.extend(self.complete(i, mono_ns(&meta), seq));
        }
        let now = fusionfb_sys::now_ns();
        for i in 0..self.outputs.len() {
            let out = &mut self.outputs[i];
            if out
                .pending
                .as_ref()
                .is_some_and(|p| p.timed && p.due_ns <= now)
            {
                // A paused session's, an unplugged display's or a clock-only frame: due one
                // refresh after commit.
                events.extend(self.complete(i, now, 0));
                continue;
            }
            if !out.connected {
                continue;
            }
            if let Some(waited) = out.watchdog.check(now) {
                tracing::warn!(output = %out.info.name, ?waited, "page flip stuck: no completion event");
                events.push(BackendEvent::Stuck {
                    output: out.info.id,
                    waited,
                });
            }
        }
        if hotplug {
            events.extend(self.scan_connectors()?);
        }
        self.rearm()?;
        Ok(events)
    }
}

impl fusionfb_sys::source::Pollable for DrmBackend {
    type Event = BackendEvent;
    type Error = Error;

    fn pump(&mut self) -> Result<Vec<BackendEvent>, Error> {
        self.dispatch()
    }
}
