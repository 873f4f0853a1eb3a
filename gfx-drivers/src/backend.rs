//! The backend trait every display backend implements, and the words it speaks.
//!
//! ## The concepts
//!
//! Four words get confused in display code; in fusionfb they mean:
//!
//! - An **output** is one display the backend drives: a panel, an HDMI monitor, a window on a
//!   desktop, a block of memory. It has a name (`HDMI-A-1`, `HEADLESS-1`), the **modes** it can
//!   run (width, height, refresh rate in mHz), the **current mode**, a physical size in
//!   millimetres (0 when unknown) and a **transform hint**: how the panel is mounted. The
//!   backend never rotates pixels; the compositor draws rotated and maps touch coordinates
//!   through the same transform. In DRM terms an output is a connector driven by a CRTC.
//! - A **plane** is one hardware scan-out engine of an output: it reads one buffer and shows
//!   it at a position, stacked by `zpos`. Every output has a **primary** plane (the
//!   background, covering the whole mode), maybe **overlay** planes (video, an exclusive app)
//!   and maybe a **cursor** plane. Each plane reads only some [`Format`]s. Planes are what DRM
//!   calls planes, and what DirectFB called layers.
//! - A **layer** is the compositor's idea, not this crate's: a slot in the stack of the screen
//!   that is either backed by a plane (a slave may then take it exclusively and draw straight
//!   into its scan-out buffers) or, where the hardware has too few planes, composed into the
//!   primary plane by the master. `gfx-drivers` only offers the planes; the compositor maps
//!   its layers onto them.
//! - A **buffer** ([`Buffer`]) is pixel memory: fd-backed, mapped, shareable with a client. A
//!   **surface** is the client's idea — a window's 1–3 buffers with a format and size, flipped
//!   with damage — and lives in the compositor and client crates. A surface's buffer can be
//!   handed to a plane directly (scan-out, zero copies) or composed into another buffer.
//!
//! ## One frame
//!
//! The compositor [`allocate`](Backend::allocate)s buffers (at least two per plane it drives),
//! draws into one that is not [busy](Buffer::is_busy), and [`commit`](Backend::commit)s the
//! new contents of one or more planes of an output at once (atomically: they reach the glass
//! on the same vblank). The commit returns a [`CommitId`]; at the next vblank the backend
//! latches the planes and, from [`dispatch`](Backend::dispatch), reports a
//! [`Presented`] event with the same id, the vblank's `CLOCK_MONOTONIC` time and the output's
//! vblank counter. The buffers that were on the glass before are released then (no longer
//! busy) and may be drawn into again.
//!
//! **Back-pressure:** an output has at most one commit in flight. Committing again before its
//! [`Presented`] event returns [`Error::Busy`] and changes nothing — the same rule as DRM's
//! `EBUSY`. A compositor that gets new damage meanwhile accumulates it and commits after the
//! event; nothing is queued behind its back, so latency stays at most one frame and a buffer
//! on the glass is never written (no tearing).
//!
//! ## In an event loop
//!
//! A compositor keeps the backend in its loop's shared state and puts the backend's sources
//! on the loop with one `insert_source` of [`Backend::loop_source`], handing each wake back
//! to [`Backend::wake`] ([`crate::loop_source`]; the DRM backend's device, session, udev and
//! timer sources all go there). A simpler program may let [`BackendSource`] own the backend
//! as a `calloop` source, or poll the backend's one fd ([`AsFd`], readable when
//! [`dispatch`](Backend::dispatch) has events; [`readiness_source`]).

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use calloop::generic::Generic;
use calloop::Interest;

use crate::buffer::{Buffer, BufferDesc};
use crate::format::{Format, FormatError};
use crate::loop_source::{LoopSource, Wake};

/// An output of a backend (stable while the backend lives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputId(pub u32);

/// A plane of a backend (unique across all its outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaneId(pub u32);

/// One commit of an output, numbered per backend from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub u64);

/// A display mode: size in pixels and refresh rate in millihertz (60 Hz = 60 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Refresh rate in mHz.
    pub refresh_mhz: u32,
}

impl Mode {
    /// A mode.
    pub const fn new(width: u32, height: u32, refresh_mhz: u32) -> Mode {
        Mode {
            width,
            height,
            refresh_mhz,
        }
    }

    /// Nanoseconds from one vblank to the next (0 for a 0 mHz mode).
    pub const fn refresh_interval_ns(&self) -> u64 {
        if self.refresh_mhz == 0 {
            0
        } else {
            1_000_000_000_000 / self.refresh_mhz as u64
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}@{}.{:03}",
            self.width,
            self.height,
            self.refresh_mhz / 1000,
            self.refresh_mhz % 1000
        )
    }
}

/// How the panel is mounted: the compositor draws rotated and maps touch through the same
/// transform; backends scan out unrotated. See [`Transform`] for the convention.
pub use fusionfb_types::geometry::Transform;

/// What a plane is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaneKind {
    /// The bottom plane; its buffer covers the whole mode.
    Primary,
    /// A plane above the primary, at any position, of any size.
    Overlay,
    /// A small plane on top, for a pointer.
    Cursor,
}

/// A plane, as the backend describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaneInfo {
    /// Its id, for [`PlaneUpdate`].
    pub id: PlaneId,
    /// What it is for.
    pub kind: PlaneKind,
    /// Formats it scans out.
    pub formats: Vec<Format>,
    /// Stacking order on its output: higher is nearer the viewer.
    pub zpos: u32,
    /// The largest buffer it scans out, `(width, height)`; `None`: any up to the mode. A
    /// cursor plane's is the driver's cursor size (DRM's `CURSOR_WIDTH`/`CURSOR_HEIGHT`
    /// caps, typically 64x64), and a buffer for it is best allocated at exactly that size.
    pub max_size: Option<(u32, u32)>,
}

/// An output, as the backend describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    /// Its id.
    pub id: OutputId,
    /// Its name (`HEADLESS-1`, `HDMI-A-1`, …), unique in the backend.
    pub name: String,
    /// Modes it can run, preferred first.
    pub modes: Vec<Mode>,
    /// The mode it runs now.
    pub current_mode: Mode,
    /// Width and height of the visible area in millimetres; `(0, 0)` when unknown.
    pub physical_size_mm: (u32, u32),
    /// How the panel is mounted.
    pub transform: Transform,
    /// Its planes, bottom (primary) first.
    pub planes: Vec<PlaneInfo>,
}

impl OutputInfo {
    /// The plane of `kind` (the first one, if several).
    pub fn plane(&self, kind: PlaneKind) -> Option<&PlaneInfo> {
        self.planes.iter().find(|p| p.kind == kind)
    }
}

/// Rectangles with their space in the type; a backend speaks of regions of a [`Buffer`]
/// (damage, fills, copies) as `Rect<geometry::Buffer>`, in the buffer's pixels.
pub use fusionfb_types::geometry::{self, Rect};

/// The new state of one plane in a [`Backend::commit`].
#[derive(Debug, Clone, Copy)]
pub struct PlaneUpdate<'a> {
    /// The plane.
    pub plane: PlaneId,
    /// The buffer to scan out, or `None` to turn the plane off.
    pub buffer: Option<&'a Buffer>,
    /// Where the buffer's top-left pixel goes on the output (always `(0, 0)` for primary).
    pub position: (i32, i32),
    /// What changed in `buffer` since it was last shown (buffer damage, which covers what
    /// changed since the previous frame too), in buffer coordinates; empty means
    /// "everything". DRM passes it on as `FB_DAMAGE_CLIPS`; fbdev and window copy only it.
    pub damage: &'a [Rect<geometry::Buffer>],
}

impl<'a> PlaneUpdate<'a> {
    /// Show `buffer` on `plane` at `(0, 0)`, all of it damaged.
    pub fn show(plane: PlaneId, buffer: &'a Buffer) -> Self {
        PlaneUpdate {
            plane,
            buffer: Some(buffer),
            position: (0, 0),
            damage: &[],
        }
    }

    /// Turn `plane` off.
    pub fn disable(plane: PlaneId) -> Self {
        PlaneUpdate {
            plane,
            buffer: None,
            position: (0, 0),
            damage: &[],
        }
    }

    /// The same update at another position.
    pub fn at(self, x: i32, y: i32) -> Self {
        PlaneUpdate {
            position: (x, y),
            ..self
        }
    }

    /// The same update with damage.
    pub fn with_damage(self, damage: &'a [Rect<geometry::Buffer>]) -> Self {
        PlaneUpdate { damage, ..self }
    }
}

/// A commit reached the glass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented {
    /// The output.
    pub output: OutputId,
    /// The commit, as [`Backend::commit`] returned it.
    pub commit: CommitId,
    /// The output's vblank counter at that vblank (DRM's `sequence`, Wayland's `msc`):
    /// increases with every vblank, so it may skip values between presents.
    pub sequence: u64,
    /// When the new frame started to scan out, `CLOCK_MONOTONIC` in nanoseconds
    /// (`fusionfb_sys::now_ns`'s clock, the clock input events carry).
    pub time_ns: u64,
    /// The output's refresh interval in nanoseconds (when the next vblank is due).
    pub refresh_ns: u64,
}

pub use fusionfb_types::TouchPhase;

/// Touch input a backend receives itself — the `window` backend's mouse, which acts as a
/// finger — in output coordinates (pixels of the current mode, unrotated). The backend knows
/// no windows: the compositor routes it like any other touch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TouchInput {
    /// What happens.
    pub phase: TouchPhase,
    /// The contact's slot (0 for a mouse).
    pub slot: u32,
    /// The output it happens on.
    pub output: OutputId,
    /// Output x (meaningless for `Up`, `Cancel` and `Frame`).
    pub x: f32,
    /// Output y.
    pub y: f32,
    /// When, `CLOCK_MONOTONIC` in nanoseconds.
    pub time_ns: u64,
}

/// What [`Backend::dispatch`] reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BackendEvent {
    /// A commit reached the glass; its predecessor's buffers are released.
    Presented(Presented),
    /// A display was plugged in (DRM connector hot-plug): a new output.
    OutputAdded(OutputId),
    /// A display was unplugged: the output is gone ([`Backend::output`] fails for it).
    OutputRemoved(OutputId),
    /// An output's modes or size changed (a new monitor on the same connector).
    OutputChanged(OutputId),
    /// The session was paused (VT switch away): nothing reaches the glass until
    /// [`BackendEvent::SessionResumed`]; commits still complete, on a timer, so clients
    /// keep running.
    SessionPaused,
    /// The session is back: the last frame was shown again with a full modeset.
    SessionResumed,
    /// A flip on `output` has not completed after `waited` (the display or driver hangs). Reported
    /// once per flip; the flip may still complete later, or committing again abandons it.
    Stuck {
        /// The output.
        output: OutputId,
        /// How long the flip has been waiting.
        waited: Duration,
    },
    /// Touch input that came through the display (a desktop window's mouse).
    Touch(TouchInput),
    /// The user closed the output (a desktop window's close button): the compositor should
    /// shut down cleanly.
    Closed(OutputId),
}

/// Everything a backend can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Pixel memory does not hold the rectangle asked for.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// No such output.
    #[error("no output {0:?}")]
    UnknownOutput(OutputId),
    /// No such plane on that output.
    #[error("no plane {plane:?} on output {output:?}")]
    UnknownPlane {
        /// The output.
        output: OutputId,
        /// The plane asked for.
        plane: PlaneId,
    },
    /// The plane does not scan out that format.
    #[error("plane {plane:?} does not scan out {format}")]
    UnsupportedFormat {
        /// The plane.
        plane: PlaneId,
        /// The format asked for.
        format: Format,
    },
    /// The output does not run that mode.
    #[error("output {output:?} has no mode {mode}")]
    UnsupportedMode {
        /// The output.
        output: OutputId,
        /// The mode asked for.
        mode: Mode,
    },
    /// A commit is in flight on the output; wait for its [`Presented`] event.
    #[error("output {0:?} has a commit in flight")]
    Busy(OutputId),
    /// The commit is inconsistent (a plane twice, a primary buffer not the mode's size, …).
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    /// The buffer description or rectangle is inconsistent.
    #[error("invalid buffer: {0}")]
    InvalidBuffer(String),
    /// The buffer was imported read-only.
    #[error("the buffer is read-only")]
    ReadOnly,
    /// The backend's configuration is inconsistent (no outputs, a zero mode, a name twice, …).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The device is not there or cannot be opened (no card, no permission, session paused).
    #[error("display device unavailable: {0}")]
    Unavailable(String),
    /// The device cannot do that (export a buffer, scan out a foreign buffer, …).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The driver refused a plane configuration in an atomic TEST_ONLY commit: compose
    /// instead.
    #[error("the driver refuses plane {plane:?} in this configuration: {reason}")]
    PlaneRefused {
        /// The plane.
        plane: PlaneId,
        /// What the driver said.
        reason: String,
    },
}

/// A display backend: outputs, their planes, buffers, and presents; see the [module docs](self).
///
/// Object safe: the compositor picks a backend at run time and holds a `Box<dyn Backend>`.
pub trait Backend: AsFd {
    /// The backend's name (`headless`, `drm`, …), for logs and `fusionfb status`.
    fn name(&self) -> &str;

    /// The outputs, in a stable order.
    fn outputs(&self) -> Vec<OutputId>;

    /// An output's description.
    fn output(&self, output: OutputId) -> Result<&OutputInfo, Error>;

    /// Switches an output to one of its modes. Fails with [`Error::Busy`] while a commit is
    /// in flight. The primary plane keeps showing its old buffer until the next commit, which
    /// must bring a buffer of the new size.
    fn set_mode(&mut self, output: OutputId, mode: Mode) -> Result<(), Error>;

    /// Allocates a zeroed `width`×`height` buffer of `format` that this backend can scan out
    /// and a client can map ([`Buffer::export`]).
    fn allocate(&mut self, width: u32, height: u32, format: Format) -> Result<Buffer, Error>;

    /// Schedules new contents for some planes of `output`, all for the same vblank. Planes not
    /// named keep what they show. An empty `updates` just asks for a [`Presented`] event at the
    /// next vblank (a frame clock). [`Error::Busy`] while the previous commit is in flight.
    fn commit(&mut self, output: OutputId, updates: &[PlaneUpdate<'_>]) -> Result<CommitId, Error>;

    /// Whether `output` has a commit in flight.
    fn is_pending(&self, output: OutputId) -> Result<bool, Error>;

    /// The buffer on the glass on `plane` of `output` now: the one the last [`Presented`]
    /// commit put there (`None` when the plane is off). Its memory is what scans out, so this
    /// is how screenshots and tests read the glass.
    fn on_glass(&self, output: OutputId, plane: PlaneId) -> Result<Option<Buffer>, Error>;

    /// Handles whatever made the fd readable and returns the events, oldest first. Never
    /// blocks; returns nothing when nothing is due.
    fn dispatch(&mut self) -> Result<Vec<BackendEvent>, Error>;

    /// The backend's event sources for the caller's `calloop` loop, as one source: its
    /// callback hands each [`Wake`] to [`wake`](Backend::wake) ([`crate::loop_source`]).
    /// Default: the readiness of the backend's fd. The DRM backend moves its own sources
    /// (device, session, udev, console, timer) there, so it can be called once.
    fn loop_source(&mut self) -> Result<LoopSource, Error> {
        Ok(LoopSource::readable(self.as_fd())?)
    }

    /// Handles what the [`loop_source`](Backend::loop_source) reported and returns the
    /// events, oldest first. Default: [`dispatch`](Backend::dispatch).
    fn wake(&mut self, wake: Wake) -> Result<Vec<BackendEvent>, Error> {
        let _ = wake;
        self.dispatch()
    }

    /// [`commit`](Backend::commit) of one plane: shows `buffer` on `plane` at `(0, 0)` with
    /// `damage`.
    fn present(
        &mut self,
        output: OutputId,
        plane: PlaneId,
        buffer: &Buffer,
        damage: &[Rect<geometry::Buffer>],
    ) -> Result<CommitId, Error> {
        self.commit(
            output,
            &[PlaneUpdate::show(plane, buffer).with_damage(damage)],
        )
    }

    /// Whether `buffer` can go on a plane of this backend as it is. Buffers from
    /// [`allocate`](Backend::allocate) always can; DRM cannot scan out a client's memfd,
    /// which the compositor then composes instead. Default: any buffer.
    fn can_scan_out(&self, buffer: &Buffer) -> bool {
        let _ = buffer;
        true
    }

    /// Takes a client's dma-buf (one linear plane described by `desc`, from byte 0): a
    /// [`Buffer`] the compositor can read, and scan out where [`Backend::can_scan_out`] says
    /// so. Default: a read-only CPU mapping ([`Buffer::import`]), composed like a memfd;
    /// DRM imports it onto the card where the driver can (PRIME), so it may go on a plane.
    fn import_dmabuf(&mut self, fd: OwnedFd, desc: BufferDesc) -> Result<Buffer, Error> {
        Buffer::import(fd, desc, false)
    }

    /// Turns `output`'s panel off (`blank`) or back on, keeping its mode, planes and buffers:
    /// DRM switches the CRTC off (`ACTIVE = 0` in an atomic commit, DPMS off on legacy
    /// drivers) and the next commit brings it back with a modeset; fbdev uses `FBIOBLANK`;
    /// headless shows a dark glass ([`on_glass`](Backend::on_glass) says `None`). While
    /// blanked the caller commits nothing; unblanking shows the last frame again.
    /// Default: [`Error::Unsupported`].
    fn set_blank(&mut self, output: OutputId, blank: bool) -> Result<(), Error> {
        let _ = (output, blank);
        Err(Error::Unsupported(format!(
            "{} cannot blank its display",
            self.name()
        )))
    }

    /// The display device's `dev_t` (what a dma-buf client allocates for: the main device
    /// of `zwp_linux_dmabuf_v1` feedback), if the backend drives one.
    fn device_id(&self) -> Option<u64> {
        None
    }

    /// Waits up to `timeout` (forever with `None`) for the fd to become readable, then
    /// [`dispatch`](Backend::dispatch)es. For tests and simple programs; a compositor uses
    /// its event loop.
    fn dispatch_timeout(&mut self, timeout: Option<Duration>) -> Result<Vec<BackendEvent>, Error> {
        if fusionfb_sys::poll_readable(&[self.as_fd()], timeout).is_none() {
            return Ok(Vec::new());
        }
        self.dispatch()
    }
}

/// Checks a commit's updates against an output every backend the same way: each plane
/// exists and is named once, scans out the buffer's format, and a primary buffer has the
/// mode's size at `(0, 0)`, and no buffer is larger than its plane's
/// [`max_size`](PlaneInfo::max_size). Returns each update's plane index in `info.planes`.
pub fn check_updates(info: &OutputInfo, updates: &[PlaneUpdate<'_>]) -> Result<Vec<usize>, Error> {
    let (output, mode) = (info.id, info.current_mode);
    let mut indices: Vec<usize> = Vec::with_capacity(updates.len());
    for u in updates {
        let index =
            info.planes
                .iter()
                .position(|p| p.id == u.plane)
                .ok_or(Error::UnknownPlane {
                    output,
                    plane: u.plane,
                })?;
        if indices.contains(&index) {
            return Err(Error::InvalidCommit(format!(
                "plane {:?} named twice",
                u.plane
            )));
        }
        let plane = &info.planes[index];
        if let Some(buf) = u.buffer {
            if !plane.formats.contains(&buf.format()) {
                return Err(Error::UnsupportedFormat {
                    plane: u.plane,
                    format: buf.format(),
                });
            }
            if let Some((mw, mh)) = plane.max_size {
                if buf.width() > mw || buf.height() > mh {
                    return Err(Error::InvalidCommit(format!(
                        "plane {:?} shows at most {mw}x{mh}, got a {}x{} buffer",
                        u.plane,
                        buf.width(),
                        buf.height()
                    )));
                }
            }
            if plane.kind == PlaneKind::Primary
                && (u.position != (0, 0)
                    || buf.width() != mode.width
                    || buf.height() != mode.height)
            {
                return Err(Error::InvalidCommit(format!(
                    "the primary plane needs a {}x{} buffer at (0, 0), got {}x{} at {:?}",
                    mode.width,
                    mode.height,
                    buf.width(),
                    buf.height(),
                    u.position
                )));
            }
        }
        indices.push(index);
    }
    Ok(indices)
}

/// A `calloop` source that wakes when `backend` has events; its callback should call
/// [`Backend::dispatch`] on the backend it keeps elsewhere (in the loop's shared state).
/// The source holds a duplicate of the backend's fd.
pub fn readiness_source<B: Backend + ?Sized>(backend: &B) -> Result<Generic<OwnedFd>, Error> {
    let fd = backend.as_fd().try_clone_to_owned()?;
    Ok(Generic::new(fd, Interest::READ, calloop::Mode::Level))
}

/// A backend as a `calloop` event source that owns it: the callback gets each
/// [`BackendEvent`] with the backend, to commit the next frame. (Fusion's generic
/// [`fusionfb_sys::source::FdSource`]; every backend type is a [`fusionfb_sys::source::Pollable`].)
pub type BackendSource<B> = fusionfb_sys::source::FdSource<B>;

/// Makes a backend type a [`fusionfb_sys::source::Pollable`] whose `pump` is [`Backend::dispatch`],
/// so it can be a [`BackendSource`].
macro_rules! pollable_backend {
    ($t:ty) => {
        impl fusionfb_sys::source::Pollable for $t {
            type Event = $crate::backend::BackendEvent;
            type Error = $crate::backend::Error;

            fn pump(&mut self) -> Result<Vec<Self::Event>, Self::Error> {
                self.dispatch()
            }
        }
    };
}
// Used by the backends that are features (drm, fbdev, window); none may be on.
#[allow(unused_imports)]
pub(crate) use pollable_backend;

pollable_backend!(Box<dyn Backend>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_interval_and_display() {
        assert_eq!(
            Mode::new(1280, 800, 60_000).refresh_interval_ns(),
            16_666_666
        );
        assert_eq!(Mode::new(1, 1, 0).refresh_interval_ns(), 0);
        assert_eq!(
            Mode::new(1920, 1080, 59_940).to_string(),
            "1920x1080@59.940"
        );
    }
}
