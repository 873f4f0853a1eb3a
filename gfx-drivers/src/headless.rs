//! The `headless` backend: outputs that exist only in memory.
//!
//! For CI, screenshots, benchmarks, and any machine without a display (it is the default
//! there). It behaves like a KMS device as far as the compositor can tell:
//!
//! - Each output has a configurable mode (default 1280x800 at 60 Hz), a **primary** plane
//!   (XRGB8888, ARGB8888, RGB565; its buffer must have the mode's size) and one **overlay**
//!   plane (the same formats, any size, any position, blended premultiplied over the primary)
//!   and, unless [`HeadlessOutputConfig::cursor_plane`] says not, a **cursor** plane (ARGB8888,
//!   at most [`CURSOR_SIZE`], on top), as virtio-gpu has.
//! - **Vblanks** tick at the refresh rate from the moment the output was created (or last
//!   changed mode), with a vblank counter. Nothing ticks while nothing is pending: a single
//!   `timerfd` (`CLOCK_MONOTONIC`, absolute) is armed for the earliest pending vblank of all
//!   outputs and disarmed otherwise, so an idle headless server does not wake up.
//! - A commit latches at the **next** vblank after it was made; [`Backend::dispatch`] then
//!   reports it with that vblank's time (the ideal tick, which is what DRM reports too, not
//!   the moment the process got round to it) and counter.
//! - **Back-pressure:** one commit in flight per output; another returns
//!   [`Error::Busy`] (nothing is queued — see [`crate::backend`]).
//! - **The glass** is the buffers latched by the last presented commit:
//!   [`Backend::on_glass`] per plane, and [`HeadlessBackend::capture`] for the whole output
//!   as it would look (planes blended by zpos over black).
//!
//! - **Hot-plug**: an output may start unplugged ([`HeadlessOutputConfig::connected`]), and
//!   a [`HeadlessHotplug`] handle plugs and unplugs outputs from outside (another thread, a
//!   test), as a connector's hot-plug does on DRM: the next [`Backend::dispatch`] reports
//!   [`BackendEvent::OutputAdded`] or [`BackendEvent::OutputRemoved`], and
//!   [`Backend::outputs`] lists the plugged ones.
//!
//! Buffers are memfds ([`Buffer::new_memfd`]), shareable with clients.
//!
//! ```
//! use gfx_drivers::{Backend, BackendEvent, Format, HeadlessBackend, PlaneKind};
//! let mut backend = HeadlessBackend::new_default().unwrap();
//! let output = backend.outputs()[0];
//! let primary = backend.output(output).unwrap().plane(PlaneKind::Primary).unwrap().id;
//! let frame = backend.allocate(1280, 800, Format::Xrgb8888).unwrap();
//! frame.fill(0xff00_00ff).unwrap();
//! let commit = backend.present(output, primary, &frame, &[]).unwrap();
//! let event = loop {
//!     if let Some(e) = backend.dispatch_timeout(None).unwrap().pop() {
//!         break e;
//!     }
//! };
//! let BackendEvent::Presented(presented) = event else { unreachable!() };
//! assert_eq!(presented.commit, commit);
//! assert_eq!(backend.capture(output).unwrap().pixel(640, 400), 0xff00_00ff);
//! ```

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex};

use crate::backend::{
    Backend, BackendEvent, CommitId, Error, Mode, OutputId, OutputInfo, PlaneId, PlaneInfo,
    PlaneKind, PlaneUpdate, Presented, Transform,
};
use crate::buffer::{Buffer, ScanoutRef};
use crate::format::{self, Format, Image};
use crate::pacing::{Timer, VblankClock};

pub use crate::buffer::MAX_DIMENSION;

/// The mode of an output nobody configured: 1280x800 at 60 Hz.
pub const DEFAULT_MODE: Mode = Mode::new(1280, 800, 60_000);

const PLANE_FORMATS: [Format; 3] = [Format::Xrgb8888, Format::Argb8888, Format::Rgb565];

/// The cursor plane's size: the largest buffer it shows (the usual DRM cursor size).
pub const CURSOR_SIZE: (u32, u32) = (64, 64);

/// One headless output, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadlessOutputConfig {
    name: Option<String>,
    mode: Mode,
    extra_modes: Vec<Mode>,
    physical_size_mm: (u32, u32),
    transform: Transform,
    refuse_overlays: bool,
    fail_commits: u32,
    cursor_plane: bool,
    connected: bool,
}

impl Default for HeadlessOutputConfig {
    fn default() -> Self {
        HeadlessOutputConfig {
            name: None,
            mode: DEFAULT_MODE,
            extra_modes: Vec::new(),
            physical_size_mm: (0, 0),
            transform: Transform::Normal,
            refuse_overlays: false,
            fail_commits: 0,
            cursor_plane: true,
            connected: true,
        }
    }
}

impl HeadlessOutputConfig {
    /// An output with [`DEFAULT_MODE`], named `HEADLESS-<n>` by its position.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its preferred and initial mode.
    pub fn mode(mut self, width: u32, height: u32, refresh_mhz: u32) -> Self {
        self.mode = Mode::new(width, height, refresh_mhz);
        self
    }

    /// Further modes [`Backend::set_mode`] may switch to.
    pub fn extra_modes(mut self, modes: impl IntoIterator<Item = Mode>) -> Self {
        self.extra_modes.extend(modes);
        self
    }

    /// Its physical size in millimetres (default `(0, 0)`, unknown).
    pub fn physical_size_mm(mut self, width: u32, height: u32) -> Self {
        self.physical_size_mm = (width, height);
        self
    }

    /// Its transform hint.
    pub fn transform(mut self, transform: Transform) -> Self {
        self.transform = transform;
        self
    }

    /// Refuse every commit that shows a buffer on an overlay or cursor plane with
    /// [`Error::PlaneRefused`], the way a DRM driver's TEST_ONLY check refuses a plane
    /// configuration it cannot scan out (vc4 with an unsupported size, say): for testing
    /// the compositor's fallback to composition.
    pub fn refuse_overlays(mut self, refuse: bool) -> Self {
        self.refuse_overlays = refuse;
        self
    }

    /// Starts unplugged (`false`): not among [`Backend::outputs`] until a
    /// [`HeadlessHotplug`] plugs it in.
    pub fn connected(mut self, connected: bool) -> Self {
        self.connected = connected;
        self
    }

    /// Whether the output has a cursor plane (default: yes; without one it is like a bochs
    /// card, for testing the compositor's composed cursor).
    pub fn cursor_plane(mut self, has: bool) -> Self {
        self.cursor_plane = has;
        self
    }

    /// Fail the first `n` commits with an I/O error, the way a display does whose driver
    /// hiccups or whose monitor is being replugged: for testing that the compositor
    /// survives and tries again.
    pub fn fail_commits(mut self, n: u32) -> Self {
        self.fail_commits = n;
        self
    }
}

/// What one plane shows (on the glass, or after a pending commit).
#[derive(Debug, Clone, Default)]
struct PlaneState {
    buffer: Option<ScanoutRef>,
    position: (i32, i32),
}

#[derive(Debug)]
struct Pending {
    commit: CommitId,
    sequence: u64,
    deadline_ns: u64,
    /// (plane index on the output, its new state).
    planes: Vec<(usize, PlaneState)>,
}

#[derive(Debug)]
struct HeadlessOutput {
    info: OutputInfo,
    clock: VblankClock,
    glass: Vec<PlaneState>,
    pending: Option<Pending>,
    refuse_overlays: bool,
    fail_commits: u32,
    /// Blanked ([`Backend::set_blank`]): the glass reads dark.
    blanked: bool,
    /// Plugged in (see [`HeadlessHotplug`]).
    connected: bool,
}

/// Plugs and unplugs a [`HeadlessBackend`]'s outputs from outside, by name (see the module
/// docs). Cheap to clone; usable from any thread.
#[derive(Debug, Clone)]
pub struct HeadlessHotplug {
    queue: Arc<Mutex<Vec<(String, bool)>>>,
    wake: Arc<Timer>,
}

impl HeadlessHotplug {
    /// Plugs output `name` in (nothing happens if it is in, or not one of the backend's).
    pub fn plug(&self, name: &str) -> Result<(), Error> {
        self.set(name, true)
    }

    /// Unplugs output `name`.
    pub fn unplug(&self, name: &str) -> Result<(), Error> {
        self.set(name, false)
    }

    fn set(&self, name: &str, connected: bool) -> Result<(), Error> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), connected));
        // Wake the backend's fd now: its next dispatch reports the change.
        self.wake.arm(Some(1))
    }
}

/// The in-memory backend; see the [module docs](self).
#[derive(Debug)]
pub struct HeadlessBackend {
    timer: Timer,
    outputs: Vec<HeadlessOutput>,
    next_commit: u64,
    /// Plugs and unplugs asked for through [`HeadlessHotplug`] handles.
    hotplug: Arc<Mutex<Vec<(String, bool)>>>,
}

impl HeadlessBackend {
    /// One output, `HEADLESS-1`, at [`DEFAULT_MODE`].
    pub fn new_default() -> Result<Self, Error> {
        Self::new(vec![HeadlessOutputConfig::new()])
    }

    /// The outputs described by `configs`, in that order.
    pub fn new(configs: Vec<HeadlessOutputConfig>) -> Result<Self, Error> {
        if configs.is_empty() {
            return Err(Error::InvalidConfig(
                "a headless backend needs an output".into(),
            ));
        }
        let timer = Timer::new()?;
        let now = fusionfb_sys::now_ns();
        let mut outputs: Vec<HeadlessOutput> = Vec::with_capacity(configs.len());
        let mut next_plane = 1;
        for (i, config) in configs.into_iter().enumerate() {
            let name = config.name.unwrap_or_else(|| format!("HEADLESS-{}", i + 1));
            if outputs.iter().any(|o| o.info.name == name) {
                return Err(Error::InvalidConfig(format!(
                    "output name {name:?} given twice"
                )));
            }
            let mut modes = vec![config.mode];
            modes.extend(config.extra_modes.into_iter().filter(|m| *m != config.mode));
            for m in &modes {
                if m.width == 0
                    || m.height == 0
                    || m.width > MAX_DIMENSION
                    || m.height > MAX_DIMENSION
                    || m.refresh_mhz == 0
                {
                    return Err(Error::InvalidConfig(format!("{name}: unusable mode {m}")));
                }
            }
            let mut plane = |kind, zpos| {
                let id = PlaneId(next_plane);
                next_plane += 1;
                PlaneInfo {
                    id,
                    kind,
                    formats: PLANE_FORMATS.to_vec(),
                    zpos,
                    max_size: None,
                }
            };
            let mut planes = vec![plane(PlaneKind::Primary, 0), plane(PlaneKind::Overlay, 1)];
            if config.cursor_plane {
                planes.push(PlaneInfo {
                    formats: vec![Format::Argb8888],
                    max_size: Some(CURSOR_SIZE),
                    ..plane(PlaneKind::Cursor, 2)
                });
            }
            let info = OutputInfo {
                id: OutputId(i as u32),
                name,
                current_mode: config.mode,
                modes,
                physical_size_mm: config.physical_size_mm,
                transform: config.transform,
                planes,
            };
            tracing::debug!(output = %info.name, mode = %info.current_mode, "headless output");
            outputs.push(HeadlessOutput {
                clock: VblankClock::new(now, config.mode.refresh_interval_ns()),
                glass: vec![PlaneState::default(); info.planes.len()],
                pending: None,
                refuse_overlays: config.refuse_overlays,
                fail_commits: config.fail_commits,
                blanked: false,
                connected: config.connected,
                info,
            });
        }
        Ok(HeadlessBackend {
            timer,
            outputs,
            next_commit: 1,
            hotplug: Arc::default(),
        })
    }

    /// A handle that plugs and unplugs this backend's outputs.
    pub fn hotplug(&self) -> Result<HeadlessHotplug, Error> {
        Ok(HeadlessHotplug {
            queue: self.hotplug.clone(),
            wake: Arc::new(self.timer.try_clone()?),
        })
    }

    /// Carries out the plugs and unplugs asked for since the last dispatch.
    fn plug_events(&mut self) -> Vec<BackendEvent> {
        let ops = std::mem::take(&mut *self.hotplug.lock().unwrap_or_else(|e| e.into_inner()));
        let mut events = Vec::new();
        for (name, connected) in ops {
            let Some(out) = self.outputs.iter_mut().find(|o| o.info.name == name) else {
                continue;
            };
            if out.connected == connected {
                continue;
            }
            out.connected = connected;
            tracing::info!(output = %name, connected, "headless hot-plug");
            events.push(if connected {
                BackendEvent::OutputAdded(out.info.id)
            } else {
                BackendEvent::OutputRemoved(out.info.id)
            });
        }
        events
    }

    fn out(&self, id: OutputId) -> Result<&HeadlessOutput, Error> {
        self.outputs
            .get(id.0 as usize)
            .ok_or(Error::UnknownOutput(id))
    }

    fn out_mut(&mut self, id: OutputId) -> Result<&mut HeadlessOutput, Error> {
        self.outputs
            .get_mut(id.0 as usize)
            .ok_or(Error::UnknownOutput(id))
    }

    /// What `output` shows now, as one XRGB8888 image of its mode: the planes on the glass
    /// blended by zpos over black, each at its position and clipped to the mode. Untransformed
    /// (the panel's native orientation).
    pub fn capture(&self, output: OutputId) -> Result<Image, Error> {
        let out = self.out(output)?;
        let mode = out.info.current_mode;
        let mut img = Image::new(mode.width, mode.height, Format::Xrgb8888);
        format::fill_rect(
            img.format,
            &mut img.data,
            img.pitch,
            img.width,
            img.height,
            0xff00_0000,
        )?;
        let mut order: Vec<usize> = (0..out.glass.len()).collect();
        order.sort_by_key(|&i| out.info.planes[i].zpos);
        for i in order {
            let state = &out.glass[i];
            let Some(buf) = state.buffer.as_ref().map(ScanoutRef::buffer) else {
                continue;
            };
            let (px, py) = state.position;
            let area = crate::Rect::<crate::backend::geometry::Physical>::new(
                px,
                py,
                buf.width(),
                buf.height(),
            );
            let Some(r) = area.clip(mode.width, mode.height) else {
                continue;
            };
            let (fmt, pitch, bpp) = (buf.format(), buf.pitch(), buf.format().bytes_per_pixel());
            // Where the visible part starts on the glass, and in the buffer.
            let (gx, gy) = r.origin_unsigned();
            let (bx, by) = r.translated(-px, -py).origin_index();
            buf.with_bytes(|bytes| {
                for (y, brow) in (gy..gy + r.h).zip(by..) {
                    let row = brow * pitch;
                    for (x, bcol) in (gx..gx + r.w).zip(bx..) {
                        let src = fmt.read_pixel(&bytes[row + bcol * bpp..]);
                        let dst = img.pixel(x, y);
                        img.set_pixel(x, y, format::over(src, dst));
                    }
                }
            });
        }
        Ok(img)
    }

    fn rearm(&self) -> Result<(), Error> {
        let next = self
            .outputs
            .iter()
            .filter_map(|o| o.pending.as_ref().map(|p| p.deadline_ns))
            .min();
        self.timer.arm(next)
    }
}

impl AsFd for HeadlessBackend {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.timer.as_fd()
    }
}

impl Backend for HeadlessBackend {
    fn name(&self) -> &str {
        "headless"
    }

    fn outputs(&self) -> Vec<OutputId> {
        self.outputs
            .iter()
            .filter(|o| o.connected)
            .map(|o| o.info.id)
            .collect()
    }

    fn output(&self, output: OutputId) -> Result<&OutputInfo, Error> {
        Ok(&self.out(output)?.info)
    }

    fn set_mode(&mut self, output: OutputId, mode: Mode) -> Result<(), Error> {
        let out = self.out_mut(output)?;
        if out.pending.is_some() {
            return Err(Error::Busy(output));
        }
        if !out.info.modes.contains(&mode) {
            return Err(Error::UnsupportedMode { output, mode });
        }
        out.clock
            .retime(fusionfb_sys::now_ns(), mode.refresh_interval_ns());
        out.info.current_mode = mode;
        tracing::debug!(output = %out.info.name, %mode, "mode set");
        Ok(())
    }

    fn allocate(&mut self, width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        Buffer::allocate_memfd(width, height, format)
    }

    fn commit(&mut self, output: OutputId, updates: &[PlaneUpdate<'_>]) -> Result<CommitId, Error> {
        let out = self.out(output)?;
        if out.pending.is_some() {
            return Err(Error::Busy(output));
        }
        let indices = crate::backend::check_updates(&out.info, updates)?;
        if out.fail_commits > 0 {
            let out = self.out_mut(output)?;
            out.fail_commits -= 1;
            return Err(Error::Io(std::io::Error::other(format!(
                "{}: commit failed (fail_commits)",
                out.info.name
            ))));
        }
        let out = self.out(output)?;
        if out.refuse_overlays {
            let primary = out.info.planes[0].id;
            if let Some(u) = updates
                .iter()
                .find(|u| u.plane != primary && u.buffer.is_some())
            {
                return Err(Error::PlaneRefused {
                    plane: u.plane,
                    reason: "this headless output refuses overlay planes (refuse_overlays)".into(),
                });
            }
        }
        let planes: Vec<(usize, PlaneState)> = indices
            .into_iter()
            .zip(updates)
            .map(|(index, u)| {
                (
                    index,
                    PlaneState {
                        buffer: u.buffer.map(ScanoutRef::new),
                        position: u.position,
                    },
                )
            })
            .collect();
        let commit = CommitId(self.next_commit);
        self.next_commit += 1;
        let out = self.out_mut(output)?;
        let (sequence, deadline_ns) = out.clock.next_after(fusionfb_sys::now_ns());
        tracing::trace!(output = %out.info.name, ?commit, sequence, planes = planes.len(), "commit");
        out.pending = Some(Pending {
            commit,
            sequence,
            deadline_ns,
            planes,
        });
        self.rearm()?;
        Ok(commit)
    }

    fn is_pending(&self, output: OutputId) -> Result<bool, Error> {
        Ok(self.out(output)?.pending.is_some())
    }

    fn on_glass(&self, output: OutputId, plane: PlaneId) -> Result<Option<Buffer>, Error> {
        let out = self.out(output)?;
        let index = out
            .info
            .planes
            .iter()
            .position(|p| p.id == plane)
            .ok_or(Error::UnknownPlane { output, plane })?;
        if out.blanked {
            return Ok(None);
        }
        Ok(out.glass[index].buffer.as_ref().map(|r| r.buffer().clone()))
    }

    fn set_blank(&mut self, output: OutputId, blank: bool) -> Result<(), Error> {
        self.out_mut(output)?.blanked = blank;
        Ok(())
    }

    fn dispatch(&mut self) -> Result<Vec<BackendEvent>, Error> {
        self.timer.drain()?;
        let plugged = self.plug_events();
        let now = fusionfb_sys::now_ns();
        let mut events = Vec::new();
        for out in &mut self.outputs {
            if out.pending.as_ref().is_none_or(|p| p.deadline_ns > now) {
                continue;
            }
            let pending = out.pending.take().expect("checked above");
            for (index, state) in pending.planes {
                // The replaced buffer's ScanoutRef drops here: it is no longer busy.
                out.glass[index] = state;
            }
            events.push(Presented {
                output: out.info.id,
                commit: pending.commit,
                sequence: pending.sequence,
                time_ns: pending.deadline_ns,
                refresh_ns: out.clock.period_ns,
            });
        }
        self.rearm()?;
        events.sort_by_key(|p| p.time_ns);
        Ok(plugged
            .into_iter()
            .chain(events.into_iter().map(BackendEvent::Presented))
            .collect())
    }
}

crate::backend::pollable_backend!(HeadlessBackend);
