//! The `fbdev` backend: the Linux framebuffer device `/dev/fbN`, for boards without KMS (and
//! for KMS drivers' fbdev emulation).
//!
//! ## What a framebuffer device offers
//!
//! One display, one mode, one block of video memory that scans out. `FBIOGET_VSCREENINFO`
//! gives the **visible** size (`xres`×`yres`), the **virtual** size (`xres_virtual`×
//! `yres_virtual`, at most what fits in the memory) and the pixel layout (bits per pixel and
//! where red, green and blue sit); `FBIOGET_FSCREENINFO` gives the memory size, the bytes per
//! line and whether the device can pan. **Panning** (`FBIOPAN_DISPLAY`) moves the visible
//! window inside the virtual area — with a virtual height of twice the visible one, that is
//! double buffering: draw into the hidden half, pan to it.
//!
//! ## How fusionfb drives it
//!
//! - One output named after the device (`fb0`), with its one mode; the refresh rate comes
//!   from the pixel clock and margins ([`refresh_mhz`]), 60 Hz when the driver gives none.
//!   One **primary** plane and no others: the compositor composes every other layer into it.
//! - Pixel formats: **XRGB8888** (32 bpp, red at bit 16, green 8, blue 0) and **RGB565**
//!   ([`pixel_format`]); anything else (palettes, 24 bpp, BGR orders) is refused with the
//!   layout spelled out.
//! - The compositor draws into ordinary memfd buffers ([`Backend::allocate`]); a
//!   [`commit`](Backend::commit) **copies** the damaged rows into the framebuffer memory,
//!   converting to its format on the way (so the plane takes XRGB8888, ARGB8888 and RGB565
//!   buffers whatever the device's format). Where the device can pan and the virtual size
//!   holds two screens (fusionfb asks for `yres_virtual = 2 × yres` at start), the copy goes
//!   into the hidden half, which then becomes visible: no tearing. The hidden half missed the
//!   previous frame's damage, so that is copied again too. Otherwise the copy goes straight
//!   into the visible memory (single buffering: may tear, never shows a half-composed frame
//!   since the compositor composed elsewhere). Copy rather than lend the framebuffer halves
//!   to the compositor: the format may differ from what it draws, and its buffers stay
//!   exportable to clients (the DRM backend is where zero-copy scan-out lives).
//! - **Presented** events: where `FBIO_WAITFORVSYNC` works (probed at start), a commit waits
//!   for the vertical blank before it pans, and is reported presented at once with that time;
//!   elsewhere a `timerfd` paces presents at the mode's refresh rate, like [`headless`](crate::headless).
//!   The timerfd is the backend's pollable fd in both cases.
//! - The buffer a commit hands over is free again when `commit` returns (its pixels were
//!   copied); [`on_glass`](Backend::on_glass) returns the visible part of the framebuffer
//!   memory itself, so a screenshot reads what really scans out.
//! - At drop the original virtual size and pan offset are put back (the console's view).
//! - **The console**: fbdev has no seat manager, so the backend takes the VT itself
//!   ([`crate::vt::Console`], unless asked not to): graphics mode, so the text console's
//!   cursor and kernel messages stop drawing into the framebuffer; the console keyboard off;
//!   and VT switches under its control. Switched away, commits are not copied (the other VT
//!   owns the framebuffer) but still complete on the timer, so clients go on; back, the
//!   backend's virtual size and pan are set again (the console may have changed them) and
//!   [`BackendEvent::SessionResumed`] makes the compositor redraw everything. The backend's
//!   pollable fd is then an epoll set of the timer and the console's signal sockets.
//!
//! The ioctls are the thin wrappers of `fusionfb_sys::fb`; this module holds the logic, and
//! its pure parts (formats, refresh, layout, pan offsets, damage copies into memory mapped
//! like the device's) are unit-tested
//! without a device.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use fusionfb_sys::fb::{self, FbFixScreeninfo, FbVarScreeninfo};

use crate::backend::{
    geometry, Backend, BackendEvent, CommitId, Error, Mode, OutputId, OutputInfo, PlaneId,
    PlaneUpdate, Rect,
};
use crate::buffer::{Buffer, BufferDesc};
use crate::format::Format;
use crate::pacing::SingleOutput;

/// The refresh rate assumed when the driver reports no pixel clock: 60 Hz.
pub const DEFAULT_REFRESH_MHZ: u32 = 60_000;

/// The device opened when nothing names one.
pub const DEFAULT_DEVICE: &str = "/dev/fb0";

/// The pixel format of a framebuffer layout, or why fusionfb cannot drive it.
pub fn pixel_format(var: &FbVarScreeninfo) -> Result<Format, Error> {
    let channel = |c: &fb::FbBitfield| (c.offset, c.length, c.msb_right);
    let rgb = (channel(&var.red), channel(&var.green), channel(&var.blue));
    let format = match (var.bits_per_pixel, rgb) {
        (32, ((16, 8, 0), (8, 8, 0), (0, 8, 0))) => Some(Format::Xrgb8888),
        (16, ((11, 5, 0), (5, 6, 0), (0, 5, 0))) => Some(Format::Rgb565),
        _ => None,
    };
    match format {
        Some(f) if var.grayscale == 0 && var.nonstd == 0 => Ok(f),
        _ => {
            Err(Error::InvalidConfig(format!(
            "framebuffer pixel layout not supported: {} bpp, red {}:{}, green {}:{}, blue {}:{} \
             (offset:length){}{}; fusionfb drives XRGB8888 (32 bpp, red 16:8, green 8:8, \
             blue 0:8) and RGB565 (16 bpp, red 11:5, green 5:6, blue 0:5)",
            var.bits_per_pixel,
            var.red.offset,
            var.red.length,
            var.green.offset,
            var.green.length,
            var.blue.offset,
            var.blue.length,
            if var.grayscale != 0 { ", grayscale" } else { "" },
            if var.nonstd != 0 { ", non-standard" } else { "" },
        )))
        }
    }
}

/// The refresh rate in mHz from the pixel clock (picoseconds per pixel) and the margins and
/// sync lengths around the visible area; [`DEFAULT_REFRESH_MHZ`] when the driver gives no
/// pixel clock or the numbers make no sense (outside 1–1000 Hz).
pub fn refresh_mhz(var: &FbVarScreeninfo) -> u32 {
    let htotal = u64::from(var.xres)
        + u64::from(var.left_margin)
        + u64::from(var.right_margin)
        + u64::from(var.hsync_len);
    let vtotal = u64::from(var.yres)
        + u64::from(var.upper_margin)
        + u64::from(var.lower_margin)
        + u64::from(var.vsync_len);
    let ps_per_frame = u64::from(var.pixclock) * htotal * vtotal;
    if ps_per_frame == 0 {
        return DEFAULT_REFRESH_MHZ;
    }
    // 1 / (ps_per_frame × 1e-12 s) Hz = 1e15 / ps_per_frame mHz, rounded.
    let mhz = (1_000_000_000_000_000 + ps_per_frame / 2) / ps_per_frame;
    if (1_000..=1_000_000).contains(&mhz) {
        mhz as u32
    } else {
        DEFAULT_REFRESH_MHZ
    }
}

/// How fusionfb lays its frames out in a framebuffer's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The visible size and the mode's refresh rate.
    pub mode: Mode,
    /// The pixel format.
    pub format: Format,
    /// Bytes from one line to the next.
    pub pitch: usize,
    /// 2 when double buffering by panning, else 1.
    pub buffers: u32,
}

impl Layout {
    /// The layout for a device in the state `var`/`fix` describe: double buffered when it can
    /// pan vertically and both the virtual height and the memory hold two screens.
    pub fn new(var: &FbVarScreeninfo, fix: &FbFixScreeninfo) -> Result<Layout, Error> {
        if fix.type_ != fb::FB_TYPE_PACKED_PIXELS || fix.visual != fb::FB_VISUAL_TRUECOLOR {
            return Err(Error::InvalidConfig(format!(
                "framebuffer {:?} is not packed true-colour pixels (type {}, visual {})",
                fix.id(),
                fix.type_,
                fix.visual
            )));
        }
        let format = pixel_format(var)?;
        if var.xres == 0 || var.yres == 0 {
            return Err(Error::InvalidConfig(format!(
                "framebuffer {:?} has an empty mode {}x{}",
                fix.id(),
                var.xres,
                var.yres
            )));
        }
        let pitch = fix.line_length as usize;
        let row = var.xres as usize * format.bytes_per_pixel();
        let screen = pitch * var.yres as usize;
        if pitch < row || (fix.smem_len as usize) < screen {
            return Err(Error::InvalidConfig(format!(
                "framebuffer {:?}: {} bytes per line and {} bytes of memory cannot hold {}x{} {}",
                fix.id(),
                pitch,
                fix.smem_len,
                var.xres,
                var.yres,
                format
            )));
        }
        let double = fix.ypanstep != 0
            && var.yres_virtual >= 2 * var.yres
            && fix.smem_len as usize >= 2 * screen;
        Ok(Layout {
            mode: Mode::new(var.xres, var.yres, refresh_mhz(var)),
            format,
            pitch,
            buffers: if double { 2 } else { 1 },
        })
    }

    /// The pan offset (`yoffset`, in lines) that shows buffer `index`.
    pub fn yoffset(&self, index: u32) -> u32 {
        index * self.mode.height
    }

    /// Where buffer `index` starts in the framebuffer memory, in bytes.
    pub fn offset(&self, index: u32) -> u64 {
        u64::from(self.yoffset(index)) * self.pitch as u64
    }

    /// The geometry of one buffer (one screen) in the framebuffer memory.
    pub fn desc(&self) -> BufferDesc {
        BufferDesc {
            width: self.mode.width,
            height: self.mode.height,
            format: self.format,
            pitch: self.pitch,
            size: self.pitch * self.mode.height as usize,
        }
    }
}

/// What to ask the driver for to double buffer: a virtual area two screens high, the
/// visible area at its top.
pub fn double_buffer_request(var: &FbVarScreeninfo) -> FbVarScreeninfo {
    FbVarScreeninfo {
        xres_virtual: var.xres,
        yres_virtual: var.yres * 2,
        xoffset: 0,
        yoffset: 0,
        activate: fb::FB_ACTIVATE_NOW,
        ..*var
    }
}

/// The framebuffer backend; see the [module docs](self).
#[derive(Debug)]
pub struct FbdevBackend {
    path: PathBuf,
    fd: OwnedFd,
    /// The state found at open, put back at drop.
    original: FbVarScreeninfo,
    /// The state we drive (pan offsets change in it).
    var: FbVarScreeninfo,
    layout: Layout,
    /// The framebuffer memory, one buffer per screen.
    screens: Vec<Buffer>,
    /// Which screen is visible.
    front: usize,
    /// What the hidden screen missed: the damage of the last frame copied into the visible
    /// one (`None`: everything).
    stale: Option<Vec<Rect<geometry::Buffer>>>,
    vsync: bool,
    /// Blanked with `FBIOBLANK`.
    blanked: bool,
    out: SingleOutput,
    /// The VT, when taken ([`crate::vt`]).
    console: Option<crate::vt::Console>,
    /// The timer and the console's sockets, when there is a console.
    poll: Option<OwnedFd>,
}

fn device_error(path: &Path, what: &str, e: impl Into<std::io::Error>) -> Error {
    let e = e.into();
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {what}: {e}", path.display()),
    ))
}

impl FbdevBackend {
    /// Opens the framebuffer device at `path` (e.g. [`DEFAULT_DEVICE`]), asks for double
    /// buffering, and maps its memory.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_with(path, crate::vt::VtChoice::Auto)
    }

    /// [`open`](Self::open), saying whether to take the console.
    pub fn open_with(path: &Path, vt: crate::vt::VtChoice) -> Result<Self, Error> {
        use rustix::fs::{Mode as FileMode, OFlags};
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, FileMode::empty())
            .map_err(|e| device_error(path, "open", e))?;
        let original =
            fb::get_var(fd.as_fd()).map_err(|e| device_error(path, "FBIOGET_VSCREENINFO", e))?;
        let mut fix =
            fb::get_fix(fd.as_fd()).map_err(|e| device_error(path, "FBIOGET_FSCREENINFO", e))?;
        let mut var = original;
        // Validate what we found before changing anything.
        Layout::new(&var, &fix)?;
        if var.yres_virtual < 2 * var.yres && fix.ypanstep != 0 {
            let mut want = double_buffer_request(&var);
            match fb::put_var(fd.as_fd(), &mut want) {
                Ok(()) => {
                    var = fb::get_var(fd.as_fd())
                        .map_err(|e| device_error(path, "FBIOGET_VSCREENINFO", e))?;
                    fix = fb::get_fix(fd.as_fd())
                        .map_err(|e| device_error(path, "FBIOGET_FSCREENINFO", e))?;
                }
                Err(e) => tracing::debug!(device = %path.display(), "no double buffering: {e}"),
            }
        }
        let layout = Layout::new(&var, &fix)?;
        let mut screens = Vec::with_capacity(layout.buffers as usize);
        for i in 0..layout.buffers {
            let dup = fd.try_clone()?;
            let screen = Buffer::map_device(dup, layout.offset(i), layout.desc(), true).map_err(
                |e| match e {
                    Error::Io(e) => device_error(path, "mmap", e),
                    e => e,
                },
            )?;
            screens.push(screen);
        }
        let mut backend_var = var;
        // Start on screen 0 (the visible area may have been panned by someone else).
        if layout.buffers == 2 && (var.yoffset != 0 || var.xoffset != 0) {
            backend_var.xoffset = 0;
            backend_var.yoffset = 0;
            fb::pan(fd.as_fd(), &backend_var)
                .map_err(|e| device_error(path, "FBIOPAN_DISPLAY", e))?;
        }
        let vsync = fb::wait_for_vsync(fd.as_fd()).is_ok();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "fb".into());
        let mm = |v: u32| if v == 0 || v >= 0x8000_0000 { 0 } else { v };
        let out = SingleOutput::new(name, layout.mode, (mm(var.width), mm(var.height)))?;
        tracing::info!(
            device = %path.display(),
            driver = %fix.id(),
            mode = %layout.mode,
            format = %layout.format,
            buffers = layout.buffers,
            vsync,
            "framebuffer"
        );
        let console = crate::vt::Console::take_for(vt);
        let poll = match &console {
            None => None,
            Some(c) => {
                use rustix::event::epoll;
                let ep =
                    epoll::create(epoll::CreateFlags::CLOEXEC).map_err(std::io::Error::from)?;
                let fds = [out.timer.as_fd(), c.fds()[0], c.fds()[1]];
                for (i, fd) in fds.into_iter().enumerate() {
                    epoll::add(
                        &ep,
                        fd,
                        epoll::EventData::new_u64(i as u64),
                        epoll::EventFlags::IN,
                    )
                    .map_err(std::io::Error::from)?;
                }
                Some(ep)
            }
        };
        Ok(FbdevBackend {
            path: path.to_owned(),
            fd,
            original,
            var: backend_var,
            layout,
            screens,
            front: 0,
            stale: None,
            vsync,
            blanked: false,
            out,
            console,
            poll,
        })
    }

    /// Whether the display is switched away to another VT.
    fn away(&self) -> bool {
        self.console.as_ref().is_some_and(|c| c.is_away())
    }

    /// Handles the console's VT switches: the events for the compositor.
    fn switches(&mut self) -> Result<Vec<BackendEvent>, Error> {
        let Some(console) = &mut self.console else {
            return Ok(Vec::new());
        };
        let mut events = Vec::new();
        for e in console.events() {
            match e {
                crate::vt::VtEvent::Release => {
                    tracing::info!(device = %self.path.display(), "VT switched away: frames continue on a timer, not shown");
                    console.allow_release()?;
                    events.push(BackendEvent::SessionPaused);
                }
                crate::vt::VtEvent::Acquire => {
                    console.acknowledge_acquire()?;
                    tracing::info!(device = %self.path.display(), "VT back: showing the next frame in full");
                    let mut var = self.var;
                    var.activate = fb::FB_ACTIVATE_NOW;
                    if let Err(e) = fb::put_var(self.fd.as_fd(), &mut var) {
                        tracing::warn!(device = %self.path.display(), "restoring our layout after the VT switch: {e}");
                    }
                    self.stale = None;
                    events.push(BackendEvent::SessionResumed);
                }
            }
        }
        Ok(events)
    }

    /// How the frames are laid out in the device's memory.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether presents wait for the device's vertical blank (`FBIO_WAITFORVSYNC` works).
    pub fn has_vsync(&self) -> bool {
        self.vsync
    }

    /// Copies `buffer` (or black, for `None`) into the hidden screen, or the only one, and
    /// makes it visible.
    fn show(
        &mut self,
        buffer: Option<&Buffer>,
        damage: &[Rect<geometry::Buffer>],
    ) -> Result<(), Error> {
        let target = (self.front + 1) % self.screens.len();
        let screen = &self.screens[target];
        let copied = match buffer {
            Some(b) if b.same_as(screen) => Vec::new(),
            Some(b) => {
                let mut rects = damage.to_vec();
                if target != self.front {
                    match &self.stale {
                        Some(stale) if !rects.is_empty() => rects.extend_from_slice(stale),
                        _ => rects.clear(), // everything
                    }
                }
                screen.copy_from(b, &rects)?;
                if damage.is_empty() {
                    Vec::new()
                } else {
                    damage.to_vec()
                }
            }
            None => {
                screen.fill(0xff00_0000)?;
                Vec::new()
            }
        };
        if target != self.front {
            self.stale = (!copied.is_empty()).then_some(copied);
            if self.vsync {
                if let Err(e) = fb::wait_for_vsync(self.fd.as_fd()) {
                    tracing::warn!(device = %self.path.display(), "FBIO_WAITFORVSYNC stopped working: {e}");
                    self.vsync = false;
                }
            }
            self.var.xoffset = 0;
            self.var.yoffset = self.layout.yoffset(target as u32);
            self.var.activate = if self.vsync {
                fb::FB_ACTIVATE_NOW
            } else {
                fb::FB_ACTIVATE_VBL
            };
            fb::pan(self.fd.as_fd(), &self.var)
                .map_err(|e| device_error(&self.path, "FBIOPAN_DISPLAY", e))?;
            self.front = target;
        }
        Ok(())
    }
}

impl Drop for FbdevBackend {
    fn drop(&mut self) {
        // The console comes back lit.
        if self.blanked {
            let _ = fb::blank(self.fd.as_fd(), false);
        }
        let mut var = self.original;
        var.activate = fb::FB_ACTIVATE_NOW;
        if var != self.var {
            if let Err(e) = fb::put_var(self.fd.as_fd(), &mut var) {
                tracing::debug!(device = %self.path.display(), "restoring the console mode: {e}");
            }
        }
    }
}

impl AsFd for FbdevBackend {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.poll {
            Some(ep) => ep.as_fd(),
            None => self.out.timer.as_fd(),
        }
    }
}

impl Backend for FbdevBackend {
    fn name(&self) -> &str {
        "fbdev"
    }

    fn outputs(&self) -> Vec<OutputId> {
        vec![SingleOutput::OUTPUT]
    }

    fn output(&self, output: OutputId) -> Result<&OutputInfo, Error> {
        self.out.output(output)
    }

    fn set_mode(&mut self, output: OutputId, mode: Mode) -> Result<(), Error> {
        self.out.set_mode(output, mode)
    }

    fn allocate(&mut self, width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        Buffer::allocate_memfd(width, height, format)
    }

    fn commit(&mut self, output: OutputId, updates: &[PlaneUpdate<'_>]) -> Result<CommitId, Error> {
        let update = self.out.check_commit(output, updates)?;
        // Switched away, the framebuffer belongs to the other VT: the frame completes
        // unseen.
        let update = update.filter(|_| !self.away());
        if let Some(u) = update {
            self.show(u.buffer, u.damage)?;
        }
        // With FBIO_WAITFORVSYNC, `show` waited for this vblank before panning.
        let waited = self.vsync && self.screens.len() > 1 && update.is_some();
        self.out.schedule(waited)
    }

    fn is_pending(&self, output: OutputId) -> Result<bool, Error> {
        self.out.is_pending(output)
    }

    fn on_glass(&self, output: OutputId, plane: PlaneId) -> Result<Option<Buffer>, Error> {
        self.out.check_plane(output, plane)?;
        if self.blanked {
            return Ok(None);
        }
        Ok(Some(self.screens[self.front].clone()))
    }

    /// `FBIOBLANK`: powers the panel down and up again; the framebuffer keeps its pixels.
    fn set_blank(&mut self, output: OutputId, blank: bool) -> Result<(), Error> {
        self.out.output(output)?;
        fusionfb_sys::fb::blank(self.fd.as_fd(), blank)?;
        self.blanked = blank;
        Ok(())
    }

    fn dispatch(&mut self) -> Result<Vec<BackendEvent>, Error> {
        let mut events = self.switches()?;
        events.extend(self.out.presented()?);
        Ok(events)
    }
}

crate::backend::pollable_backend!(FbdevBackend);

#[cfg(test)]
mod tests {
    use super::*;

    /// What bochs-drm's fbdev emulation reports for 1024x768 (no pixel clock, no panning room).
    fn bochs_like() -> (FbVarScreeninfo, FbFixScreeninfo) {
        let bf = |offset, length| fb::FbBitfield {
            offset,
            length,
            msb_right: 0,
        };
        let var = FbVarScreeninfo {
            xres: 1024,
            yres: 768,
            xres_virtual: 1024,
            yres_virtual: 768,
            bits_per_pixel: 32,
            red: bf(16, 8),
            green: bf(8, 8),
            blue: bf(0, 8),
            transp: bf(24, 8),
            width: u32::MAX,
            height: u32::MAX,
            ..Default::default()
        };
        let mut fix = FbFixScreeninfo {
            smem_len: 1024 * 768 * 4,
            type_: fb::FB_TYPE_PACKED_PIXELS,
            visual: fb::FB_VISUAL_TRUECOLOR,
            ypanstep: 1,
            line_length: 4096,
            ..Default::default()
        };
        fix.id[..10].copy_from_slice(b"bochsdrmfb");
        (var, fix)
    }

    fn rgb565_panel() -> (FbVarScreeninfo, FbFixScreeninfo) {
        let (mut var, mut fix) = bochs_like();
        var.xres = 800;
        var.yres = 480;
        var.xres_virtual = 800;
        var.yres_virtual = 960;
        var.bits_per_pixel = 16;
        var.red = fb::FbBitfield {
            offset: 11,
            length: 5,
            msb_right: 0,
        };
        var.green = fb::FbBitfield {
            offset: 5,
            length: 6,
            msb_right: 0,
        };
        var.blue = fb::FbBitfield {
            offset: 0,
            length: 5,
            msb_right: 0,
        };
        var.transp = fb::FbBitfield::default();
        // A 33.3 MHz pixel clock (30 000 ps) and the margins of a common 7" panel:
        // 1056 × 525 clocks per frame.
        var.pixclock = 30_000;
        var.left_margin = 46;
        var.right_margin = 210;
        var.hsync_len = 0;
        var.upper_margin = 23;
        var.lower_margin = 22;
        var.vsync_len = 0;
        fix.line_length = 1600;
        fix.smem_len = 1600 * 960;
        (var, fix)
    }

    #[test]
    fn formats_from_bitfields() {
        let (var, _) = bochs_like();
        assert_eq!(pixel_format(&var).unwrap(), Format::Xrgb8888);
        let (var, _) = rgb565_panel();
        assert_eq!(pixel_format(&var).unwrap(), Format::Rgb565);
        // BGR order, 24 bpp, a palette: refused, with the layout in the message.
        let (mut bgr, _) = bochs_like();
        std::mem::swap(&mut bgr.red, &mut bgr.blue);
        let msg = pixel_format(&bgr).unwrap_err().to_string();
        assert!(msg.contains("red 0:8") && msg.contains("XRGB8888"), "{msg}");
        let (mut packed24, _) = bochs_like();
        packed24.bits_per_pixel = 24;
        assert!(pixel_format(&packed24).is_err());
        let (mut gray, _) = bochs_like();
        gray.grayscale = 1;
        assert!(pixel_format(&gray)
            .unwrap_err()
            .to_string()
            .contains("grayscale"));
    }

    #[test]
    fn refresh_from_pixclock_and_margins() {
        let (var, _) = bochs_like();
        assert_eq!(refresh_mhz(&var), DEFAULT_REFRESH_MHZ);
        let (var, _) = rgb565_panel();
        // 1e15 / (30 000 × 1056 × 525) = 1e15 / 16 632 000 000 = 60 125.06… mHz
        assert_eq!(refresh_mhz(&var), 60_125);
        let mut silly = var;
        silly.pixclock = 1; // 1 THz pixel clock: nonsense
        assert_eq!(refresh_mhz(&silly), DEFAULT_REFRESH_MHZ);
    }

    #[test]
    fn layout_single_or_double() {
        let (var, fix) = bochs_like();
        let single = Layout::new(&var, &fix).unwrap();
        assert_eq!(single.buffers, 1);
        assert_eq!(single.mode, Mode::new(1024, 768, 60_000));
        assert_eq!(single.desc().size, 4096 * 768);

        let (var, fix) = rgb565_panel();
        let double = Layout::new(&var, &fix).unwrap();
        assert_eq!(double.buffers, 2);
        assert_eq!(double.format, Format::Rgb565);
        assert_eq!((double.yoffset(0), double.yoffset(1)), (0, 480));
        assert_eq!((double.offset(0), double.offset(1)), (0, 1600 * 480));

        // Room in the virtual size but not in memory, or no pan step: single.
        let mut short = fix;
        short.smem_len = 1600 * 700;
        assert_eq!(Layout::new(&var, &short).unwrap().buffers, 1);
        let mut nopan = fix;
        nopan.ypanstep = 0;
        assert_eq!(Layout::new(&var, &nopan).unwrap().buffers, 1);

        // A line length too short for the width, memory too small, a palette visual: refused.
        let mut narrow = fix;
        narrow.line_length = 1000;
        assert!(Layout::new(&var, &narrow).is_err());
        let mut tiny = fix;
        tiny.smem_len = 100;
        assert!(Layout::new(&var, &tiny).is_err());
        let mut palette = fix;
        palette.visual = 3;
        assert!(Layout::new(&var, &palette)
            .unwrap_err()
            .to_string()
            .contains("true-colour"));
    }

    #[test]
    fn double_buffer_request_keeps_the_mode() {
        let (var, _) = bochs_like();
        let want = double_buffer_request(&var);
        assert_eq!((want.xres, want.yres), (1024, 768));
        assert_eq!((want.xres_virtual, want.yres_virtual), (1024, 1536));
        assert_eq!((want.xoffset, want.yoffset), (0, 0));
        assert_eq!(want.bits_per_pixel, 32);
        assert_eq!(want.red, var.red);
    }

    /// The framebuffer memory stand-in: a regular file mapped like the device would be, at the
    /// offsets of a double-buffered RGB565 layout.
    fn file_screens(layout: &Layout) -> (std::fs::File, Vec<Buffer>) {
        let dir = std::env::temp_dir().join(format!("fusionfb-fbdev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fb-memory");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.set_len(layout.offset(layout.buffers)).unwrap();
        let screens = (0..layout.buffers)
            .map(|i| {
                let fd = OwnedFd::from(file.try_clone().unwrap());
                Buffer::map_device(fd, layout.offset(i), layout.desc(), true).unwrap()
            })
            .collect();
        (file, screens)
    }

    #[test]
    fn damage_copies_convert_into_the_right_screen() {
        use std::os::unix::fs::FileExt;
        let (var, fix) = rgb565_panel();
        let layout = Layout::new(&var, &fix).unwrap();
        let (file, screens) = file_screens(&layout);
        assert!(
            screens[0].export().is_err(),
            "device memory is not exportable"
        );
        let frame = Buffer::new_memfd(800, 480, Format::Xrgb8888).unwrap();
        frame.fill(0xff00_00ff).unwrap();
        frame
            .fill_rect(Rect::new(10, 20, 5, 3), 0xffff_0000)
            .unwrap();
        // Only the damaged rectangle reaches screen 1 (plus clipping of an overhang).
        let copied = screens[1]
            .copy_from(
                &frame,
                &[Rect::new(10, 20, 5, 3), Rect::new(790, 470, 50, 50)],
            )
            .unwrap();
        assert_eq!(
            copied,
            vec![Rect::new(10, 20, 5, 3), Rect::new(790, 470, 10, 10)]
        );
        // Read the file itself: red as RGB565 (0xf800) at (12, 21) of screen 1.
        let mut px = [0u8; 2];
        let at = layout.offset(1) + 21 * 1600 + 12 * 2;
        file.read_exact_at(&mut px, at).unwrap();
        assert_eq!(u16::from_le_bytes(px), 0xf800);
        file.read_exact_at(&mut px, layout.offset(1) + 479 * 1600 + 799 * 2)
            .unwrap();
        assert_eq!(u16::from_le_bytes(px), 0x001f);
        // Outside the damage, screen 1 is untouched; screen 0 got nothing.
        file.read_exact_at(&mut px, layout.offset(1) + 21 * 1600 + 9 * 2)
            .unwrap();
        assert_eq!(u16::from_le_bytes(px), 0);
        assert!(screens[0].with_bytes(|b| b.iter().all(|&x| x == 0)));
        // No damage means everything.
        screens[0].copy_from(&frame, &[]).unwrap();
        assert_eq!(screens[0].snapshot().pixel(0, 0), 0xff00_00ff);
        assert_eq!(screens[0].snapshot().pixel(14, 22), 0xffff_0000);
        // Wrong size: refused.
        let small = Buffer::new_memfd(80, 48, Format::Xrgb8888).unwrap();
        assert!(screens[0].copy_from(&small, &[]).is_err());
    }

    #[test]
    fn opening_what_is_not_a_framebuffer_fails_clearly() {
        let e = FbdevBackend::open(Path::new("/nonexistent/fb9")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/fb9: open"), "{e}");
        let e = FbdevBackend::open(Path::new("/dev/null")).unwrap_err();
        assert!(
            e.to_string().contains("/dev/null: FBIOGET_VSCREENINFO"),
            "{e}"
        );
    }
}
