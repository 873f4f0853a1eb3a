//! Buffers: pixel memory that can be scanned out and shared with another process.
//!
//! A [`Buffer`] is pixel memory mapped into this process, plus its geometry
//! ([`BufferDesc`]: width, height, format, pitch, size). Its memory is one of three kinds:
//!
//! - a **memfd** ([`Buffer::new_memfd`]): what the headless backend and client surfaces use;
//! - **device memory** a backend owns ([`Buffer::from_device`]): a DRM dumb (or GBM) buffer,
//!   mapped through the card's fd and kept alive by its owner ([`DeviceMemory`]), which
//!   frees it when the last handle goes;
//! - an imported **dma-buf** ([`Buffer::import`] tells it from a memfd by asking the kernel):
//!   every CPU access to its mapping is bracketed with `DMA_BUF_IOCTL_SYNC`
//!   ([`Buffer::with_bytes`] and friends do it; [`Buffer::begin_cpu_access`] /
//!   [`Buffer::end_cpu_access`] bracket a longer stretch).
//!
//! [`Buffer::export`] gives an fd to send over a socket (`SCM_RIGHTS`, see
//! `fusionfb_sys::send_msg`): a duplicate of a memfd or dma-buf, or a PRIME dma-buf of device
//! memory (or a clear error where the driver cannot export, such as bochs); the other side
//! maps the same pages with [`Buffer::import`] — no pixel is ever copied on the way from a
//! client's pen to the glass.
//!
//! A `Buffer` is a cheap handle: clones share the memory. A backend keeps a clone while the
//! buffer is waiting for scan-out or on the glass; [`Buffer::is_busy`] says so. Drawing into
//! a busy buffer shows on the glass mid-frame — that is tearing, so the compositor draws
//! into a buffer that is not busy (double buffering) and flips.
//!
//! ```
//! use gfx_drivers::{Buffer, Format};
//! let buf = Buffer::new_memfd(64, 32, Format::Xrgb8888).unwrap();
//! buf.fill(0xff20_4060).unwrap();
//! let other = Buffer::import(buf.export().unwrap(), buf.desc(), false).unwrap();
//! assert_eq!(other.snapshot().pixel(63, 31), 0xff20_4060);
//! ```

use std::any::Any;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use fusionfb_sys::{self as sys, LockedMapping, Mapping};

use crate::backend::{geometry, Error, Rect};
use crate::format::{self, Format, Image};

/// A process-wide unique buffer number (never reused while the process runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u64);

/// What travels next to a buffer's fd so the receiver can map it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferDesc {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format.
    pub format: Format,
    /// Bytes from one row to the next.
    pub pitch: usize,
    /// Bytes mapped: at least `pitch * height`.
    pub size: usize,
}

impl BufferDesc {
    /// The description fusionfb uses for a new buffer: [`Format::pitch`] rows, tightly packed.
    pub fn new(width: u32, height: u32, format: Format) -> BufferDesc {
        BufferDesc::with_pitch(width, height, format, format.pitch(width))
    }

    /// A description of rows `pitch` bytes apart (a device's or a client's layout).
    pub fn with_pitch(width: u32, height: u32, format: Format, pitch: usize) -> BufferDesc {
        BufferDesc {
            width,
            height,
            format,
            pitch,
            size: pitch * height as usize,
        }
    }

    /// Checks that the numbers hold together (non-empty, the pitch holds a row, the size
    /// holds every row). A description from another process is validated before mapping.
    pub fn validate(&self) -> Result<(), Error> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::InvalidBuffer(format!(
                "empty buffer {}x{}",
                self.width, self.height
            )));
        }
        let needed = format::rect_len(
            self.pitch,
            self.format.bytes_per_pixel(),
            self.width,
            self.height,
        )?;
        if self.size < needed {
            return Err(Error::InvalidBuffer(format!(
                "size {} below the {needed} bytes of {}x{} {} with pitch {}",
                self.size, self.width, self.height, self.format, self.pitch
            )));
        }
        Ok(())
    }
}

/// Pixel memory a backend owns and frees (a DRM dumb buffer, a GBM buffer object): what a
/// [`Buffer`] made by [`Buffer::from_device`] keeps alive.
pub trait DeviceMemory: std::fmt::Debug + Send + Sync + 'static {
    /// A new dma-buf fd for the memory (PRIME export), close-on-exec and mappable
    /// read-write, or why the device cannot give one.
    fn export(&self) -> Result<OwnedFd, Error>;

    /// The owner as `Any`, so its backend can find its own buffers again.
    fn as_any(&self) -> &dyn Any;
}

/// What the mapping is of.
#[derive(Debug)]
enum Backing {
    /// A memfd (or another plain file).
    Memfd,
    /// An imported dma-buf: CPU access is bracketed with `DMA_BUF_IOCTL_SYNC`.
    DmaBuf,
    /// Device memory, mapped through the device's fd.
    Device(Arc<dyn DeviceMemory>),
    /// A region of a device's memory that lives as long as the device (a framebuffer half):
    /// never exported.
    Framebuffer,
}

#[derive(Debug)]
struct Inner {
    id: BufferId,
    desc: BufferDesc,
    /// The fd `map` was made from: the memfd, the dma-buf, or the device (for device memory).
    fd: OwnedFd,
    /// The mapping, lending its bytes under its lock (see `fusionfb_sys::view`).
    map: LockedMapping,
    /// Dropped after `map`: device memory is freed only once it is unmapped.
    backing: Backing,
    /// Whether CPU access is bracketed with `DMA_BUF_IOCTL_SYNC`: `fd` is a dma-buf (an
    /// imported one, or device memory mapped through its own export, such as GBM's).
    dma_sync: bool,
    /// How many scan-out slots (pending or on the glass) hold the buffer.
    busy: AtomicU32,
}

/// Pixel memory backed by a file descriptor; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Buffer {
    inner: Arc<Inner>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The largest width or height a backend's `allocate` accepts (as large as KMS drivers
/// usually allow), so a bad request cannot ask for gigabytes.
pub const MAX_DIMENSION: u32 = 16384;

impl Buffer {
    /// Allocates a zeroed buffer in a fresh memfd. The memfd's size is sealed (it can neither
    /// shrink nor grow, and no one may add seals), so a peer can never make our mapping fault;
    /// it stays mappable writable by whoever receives it.
    pub fn new_memfd(width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        let desc = BufferDesc::new(width, height, format);
        desc.validate()?;
        let fd = sys::memfd_create("fusionfb-buffer", desc.size)?;
        sys::memfd_seal_final(fd.as_fd())?;
        Buffer::from_fd(fd, 0, desc, true, Backing::Memfd)
    }

    /// [`new_memfd`](Buffer::new_memfd) within [`MAX_DIMENSION`]: what the memory-backed
    /// backends' `allocate` does.
    pub fn allocate_memfd(width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        if width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(Error::InvalidBuffer(format!(
                "{width}x{height} exceeds {MAX_DIMENSION}x{MAX_DIMENSION}"
            )));
        }
        Buffer::new_memfd(width, height, format)
    }

    /// Maps a buffer received from another process (or from [`Buffer::export`]): `fd` must
    /// be at least `desc.size` bytes. Read-only unless `writable`.
    ///
    /// The fd may be a memfd or a dma-buf (a PRIME export of a backend's scan-out buffer);
    /// a dma-buf is recognised by the kernel accepting `DMA_BUF_IOCTL_SYNC` on it, and its
    /// CPU accesses are bracketed with that ioctl from then on.
    pub fn import(fd: OwnedFd, desc: BufferDesc, writable: bool) -> Result<Buffer, Error> {
        desc.validate()?;
        let have = sys::fd_size(fd.as_fd())?;
        if have < desc.size {
            return Err(Error::InvalidBuffer(format!(
                "fd holds {have} bytes, the description needs {}",
                desc.size
            )));
        }
        let backing = if is_dma_buf(fd.as_fd()) {
            Backing::DmaBuf
        } else {
            Backing::Memfd
        };
        Buffer::from_fd(fd, 0, desc, writable, backing)
    }

    /// Wraps device memory a backend allocated: `fd` (the device's, or a dup of it) mapped
    /// writable at `offset` for `desc.size` bytes; `memory` is kept alive (and exports the
    /// memory) for as long as a handle to the buffer exists.
    pub fn from_device(
        fd: OwnedFd,
        offset: u64,
        desc: BufferDesc,
        memory: Arc<dyn DeviceMemory>,
    ) -> Result<Buffer, Error> {
        desc.validate()?;
        Buffer::from_fd(fd, offset, desc, true, Backing::Device(memory))
    }

    /// Wraps a dma-buf a backend imported onto its device (a client's buffer it can scan out):
    /// `fd` is the dma-buf, mapped read-only from byte 0 (CPU reads bracketed with
    /// `DMA_BUF_IOCTL_SYNC`); `memory` is the device's handle on it, kept alive as long as
    /// the buffer.
    pub fn import_device(
        fd: OwnedFd,
        desc: BufferDesc,
        memory: Arc<dyn DeviceMemory>,
    ) -> Result<Buffer, Error> {
        desc.validate()?;
        let have = sys::fd_size(fd.as_fd())?;
        if have < desc.size {
            return Err(Error::InvalidBuffer(format!(
                "the dma-buf holds {have} bytes, the description needs {}",
                desc.size
            )));
        }
        Buffer::from_fd(fd, 0, desc, false, Backing::Device(memory))
    }

    /// Maps `desc.size` bytes of a device's memory from byte `offset` on — one half of a
    /// double-buffered framebuffer, say. The buffer works like any other in this process, but
    /// [`export`](Buffer::export) refuses it: the fd is the device itself, and the offset does
    /// not travel with a [`BufferDesc`]. The device checks the range when mapping.
    pub fn map_device(
        fd: OwnedFd,
        offset: u64,
        desc: BufferDesc,
        writable: bool,
    ) -> Result<Buffer, Error> {
        desc.validate()?;
        Buffer::from_fd(fd, offset, desc, writable, Backing::Framebuffer)
    }

    fn from_fd(
        fd: OwnedFd,
        offset: u64,
        desc: BufferDesc,
        writable: bool,
        backing: Backing,
    ) -> Result<Buffer, Error> {
        let map = Mapping::new_at(fd.as_fd(), offset, desc.size, writable)?;
        let dma_sync = match backing {
            Backing::DmaBuf => true,
            Backing::Device(_) => is_dma_buf(fd.as_fd()),
            Backing::Memfd | Backing::Framebuffer => false,
        };
        let id = BufferId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        tracing::trace!(id = id.0, ?desc, writable, ?backing, "buffer mapped");
        Ok(Buffer {
            inner: Arc::new(Inner {
                id,
                desc,
                fd,
                map: LockedMapping::new(map),
                backing,
                dma_sync,
                busy: AtomicU32::new(0),
            }),
        })
    }

    /// A new fd for the same memory (close-on-exec), to send to a client with the
    /// [`BufferDesc`]. The receiver maps it with [`Buffer::import`]. For device memory this
    /// is a PRIME dma-buf, or an error where the driver cannot export (bochs: `ENOSYS`).
    pub fn export(&self) -> Result<OwnedFd, Error> {
        match &self.inner.backing {
            Backing::Memfd | Backing::DmaBuf => Ok(self.inner.fd.try_clone()?),
            Backing::Device(memory) => memory.export(),
            Backing::Framebuffer => Err(Error::InvalidBuffer(
                "device memory (a framebuffer) cannot be exported".into(),
            )),
        }
    }

    /// The device memory behind the buffer, if a backend allocated it.
    pub fn device_memory(&self) -> Option<&Arc<dyn DeviceMemory>> {
        match &self.inner.backing {
            Backing::Device(memory) => Some(memory),
            _ => None,
        }
    }

    /// Whether the buffer is an imported dma-buf (CPU access is bracketed with
    /// `DMA_BUF_IOCTL_SYNC`).
    pub fn is_dma_buf(&self) -> bool {
        matches!(self.inner.backing, Backing::DmaBuf)
    }

    /// Starts a stretch of CPU access (`DMA_BUF_IOCTL_SYNC` START, READ and WRITE when
    /// `write`) to a dma-buf (imported, or device memory mapped through its export); nothing
    /// for other memory. [`Buffer::with_bytes`] and [`Buffer::with_bytes_mut`] bracket each
    /// access on their own: call this pair around a
    /// longer stretch of drawing (nested brackets are allowed by the kernel).
    pub fn begin_cpu_access(&self, write: bool) -> Result<(), Error> {
        self.sync(sys::DMA_BUF_SYNC_START, write)
    }

    /// Ends what [`Buffer::begin_cpu_access`] started (SYNC END with the same direction).
    pub fn end_cpu_access(&self, write: bool) -> Result<(), Error> {
        self.sync(sys::DMA_BUF_SYNC_END, write)
    }

    fn sync(&self, edge: u64, write: bool) -> Result<(), Error> {
        if !self.inner.dma_sync {
            return Ok(());
        }
        let dir = if write {
            sys::DMA_BUF_SYNC_READ | sys::DMA_BUF_SYNC_WRITE
        } else {
            sys::DMA_BUF_SYNC_READ
        };
        Ok(sys::dma_buf_sync(self.inner.fd.as_fd(), edge | dir)?)
    }

    /// [`Buffer::sync`] for the per-access brackets, which cannot return an error: a failed
    /// sync only risks stale cache lines, so it is logged.
    fn sync_logged(&self, edge: u64, write: bool) {
        if let Err(e) = self.sync(edge, write) {
            tracing::warn!(id = self.inner.id.0, "DMA_BUF_IOCTL_SYNC failed: {e}");
        }
    }

    /// The buffer's number.
    pub fn id(&self) -> BufferId {
        self.inner.id
    }

    /// Geometry and format.
    pub fn desc(&self) -> BufferDesc {
        self.inner.desc
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.inner.desc.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.inner.desc.height
    }

    /// Pixel format.
    pub fn format(&self) -> Format {
        self.inner.desc.format
    }

    /// Bytes from one row to the next.
    pub fn pitch(&self) -> usize {
        self.inner.desc.pitch
    }

    /// Bytes of memory.
    pub fn size(&self) -> usize {
        self.inner.desc.size
    }

    /// Whether this process may write the pixels.
    pub fn writable(&self) -> bool {
        self.inner.map.mapping().writable()
    }

    /// Whether a backend holds the buffer for scan-out (waiting for a vblank, or on the
    /// glass). Don't draw into a busy buffer: it would tear.
    pub fn is_busy(&self) -> bool {
        self.inner.busy.load(Ordering::Acquire) > 0
    }

    /// Runs `f` over the buffer's bytes (`size()` of them, rows `pitch()` apart) without a
    /// copy. Other processes sharing the buffer may write meanwhile, as with any shared pixel
    /// buffer (`wl_shm`): you may read torn pixels, never invalid memory. In this process the
    /// buffer's access lock is held: don't touch the same buffer from inside `f`.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.inner.map.with_bytes(|bytes| {
            self.sync_logged(sys::DMA_BUF_SYNC_START, false);
            let r = f(bytes);
            self.sync_logged(sys::DMA_BUF_SYNC_END, false);
            r
        })
    }

    /// Runs `f` over the buffer's bytes, writable, without a copy; [`Error::ReadOnly`] for a
    /// buffer imported read-only. Holds the buffer's access lock: don't touch the same buffer
    /// from inside `f`.
    pub fn with_bytes_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, Error> {
        self.inner
            .map
            .with_bytes_mut(|bytes| {
                self.sync_logged(sys::DMA_BUF_SYNC_START, true);
                let r = f(bytes);
                self.sync_logged(sys::DMA_BUF_SYNC_END, true);
                r
            })
            .ok_or(Error::ReadOnly)
    }

    /// Fills the whole buffer with premultiplied `argb`.
    pub fn fill(&self, argb: u32) -> Result<(), Error> {
        self.fill_rect(Rect::new(0, 0, self.width(), self.height()), argb)
    }

    /// Fills `rect` (clipped to the buffer) with premultiplied `argb`.
    pub fn fill_rect(&self, rect: Rect<geometry::Buffer>, argb: u32) -> Result<(), Error> {
        let Some(r) = rect.clip(self.width(), self.height()) else {
            return Ok(());
        };
        let (fmt, pitch) = (self.format(), self.pitch());
        let (x, y) = r.origin_index();
        let at = y * pitch + x * fmt.bytes_per_pixel();
        self.with_bytes_mut(|b| format::fill_rect(fmt, &mut b[at..], pitch, r.w, r.h, argb))??;
        Ok(())
    }

    /// Converts pixels of `src_fmt` (rows `src_pitch` apart) into the buffer at (`x`, `y`),
    /// `w`×`h` of them; the rectangle must lie inside the buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn write_rect(
        &self,
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        src_fmt: Format,
        src: &[u8],
        src_pitch: usize,
    ) -> Result<(), Error> {
        self.check_inside(x, y, w, h)?;
        let (fmt, pitch) = (self.format(), self.pitch());
        let at = y as usize * pitch + x as usize * fmt.bytes_per_pixel();
        self.with_bytes_mut(|b| {
            format::convert_rect(src_fmt, src, src_pitch, fmt, &mut b[at..], pitch, w, h)
        })??;
        Ok(())
    }

    /// Converts the `w`×`h` pixels at (`x`, `y`) into `dst` (format `dst_fmt`, rows
    /// `dst_pitch` apart); the rectangle must lie inside the buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn read_rect(
        &self,
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        dst_fmt: Format,
        dst: &mut [u8],
        dst_pitch: usize,
    ) -> Result<(), Error> {
        self.check_inside(x, y, w, h)?;
        let (fmt, pitch) = (self.format(), self.pitch());
        let at = y as usize * pitch + x as usize * fmt.bytes_per_pixel();
        self.with_bytes(|b| {
            format::convert_rect(fmt, &b[at..], pitch, dst_fmt, dst, dst_pitch, w, h)
        })?;
        Ok(())
    }

    /// Copies the `rects` of `src` (all of it when `rects` is empty or longer than 16) into
    /// the same places of this buffer, which has the same size, converting formats; returns
    /// the rectangles copied, clipped to the buffer. How a backend without zero-copy scan-out
    /// (fbdev, a desktop window) puts a frame on its glass.
    pub fn copy_from(
        &self,
        src: &Buffer,
        rects: &[Rect<geometry::Buffer>],
    ) -> Result<Vec<Rect<geometry::Buffer>>, Error> {
        const MAX_RECTS: usize = 16;
        let (w, h) = (self.width(), self.height());
        if (src.width(), src.height()) != (w, h) {
            return Err(Error::InvalidBuffer(format!(
                "a {}x{} buffer cannot fill a {w}x{h} one",
                src.width(),
                src.height()
            )));
        }
        if self.same_as(src) {
            return Ok(Vec::new());
        }
        let full = [Rect::new(0, 0, w, h)];
        let rects = if rects.is_empty() || rects.len() > MAX_RECTS {
            &full[..]
        } else {
            rects
        };
        let clipped: Vec<Rect<_>> = rects.iter().filter_map(|r| r.clip(w, h)).collect();
        let (sf, sp, bpp) = (src.format(), src.pitch(), src.format().bytes_per_pixel());
        src.with_bytes(|bytes| {
            clipped.iter().try_for_each(|r| {
                let (col, row) = r.origin_index();
                let at = row * sp + col * bpp;
                let (x, y) = r.origin_unsigned();
                self.write_rect(x, y, r.w, r.h, sf, &bytes[at..], sp)
            })
        })?;
        Ok(clipped)
    }

    /// A copy of the pixels, in the buffer's format and pitch (a screenshot of this buffer).
    pub fn snapshot(&self) -> Image {
        let d = self.desc();
        let len = d.pitch * d.height as usize;
        Image {
            width: d.width,
            height: d.height,
            format: d.format,
            pitch: d.pitch,
            data: self.with_bytes(|b| b[..len].to_vec()),
        }
    }

    fn check_inside(&self, x: u32, y: u32, w: u32, h: u32) -> Result<(), Error> {
        let inside = x.checked_add(w).is_some_and(|r| r <= self.width())
            && y.checked_add(h).is_some_and(|b| b <= self.height());
        if inside {
            Ok(())
        } else {
            Err(Error::InvalidBuffer(format!(
                "{w}x{h} at ({x}, {y}) is outside the {}x{} buffer",
                self.width(),
                self.height()
            )))
        }
    }

    /// Whether two handles share one buffer.
    pub fn same_as(&self, other: &Buffer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Whether the kernel takes `fd` for a dma-buf: it accepts `DMA_BUF_IOCTL_SYNC` (an empty
/// read bracket) where any other file answers `ENOTTY`.
pub fn is_dma_buf(fd: BorrowedFd<'_>) -> bool {
    let start = sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_READ;
    if sys::dma_buf_sync(fd, start).is_err() {
        return false;
    }
    let _ = sys::dma_buf_sync(fd, sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_READ);
    true
}

/// The fd the pixels are mapped from: the memfd, the dma-buf, or the device for device
/// memory. To share the buffer use [`Buffer::export`].
impl AsFd for Buffer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

/// A backend's hold on a buffer for scan-out: while one exists, [`Buffer::is_busy`] is true.
/// Every backend holds its scan-out buffers through these (unused only when no backend
/// feature is on).
#[derive(Debug)]
#[cfg_attr(not(feature = "headless"), allow(dead_code))]
pub(crate) struct ScanoutRef(Buffer);

#[cfg_attr(not(feature = "headless"), allow(dead_code))]
impl ScanoutRef {
    pub(crate) fn new(buffer: &Buffer) -> ScanoutRef {
        buffer.inner.busy.fetch_add(1, Ordering::AcqRel);
        ScanoutRef(buffer.clone())
    }

    pub(crate) fn buffer(&self) -> &Buffer {
        &self.0
    }
}

impl Clone for ScanoutRef {
    fn clone(&self) -> Self {
        ScanoutRef::new(&self.0)
    }
}

impl Drop for ScanoutRef {
    fn drop(&mut self) {
        self.0.inner.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_zeroed_and_sized() {
        let b = Buffer::new_memfd(33, 7, Format::Rgb565).unwrap();
        assert_eq!(b.pitch(), 68);
        assert_eq!(b.size(), 68 * 7);
        assert!(b.with_bytes(|bytes| bytes.iter().all(|&x| x == 0)));
        assert!(!b.is_busy());
        assert!(Buffer::new_memfd(0, 7, Format::Rgb565).is_err());
    }

    #[test]
    fn export_maps_the_same_pages_both_ways() {
        let a = Buffer::new_memfd(16, 16, Format::Argb8888).unwrap();
        let b = Buffer::import(a.export().unwrap(), a.desc(), true).unwrap();
        assert_ne!(a.id(), b.id());
        a.fill_rect(Rect::new(4, 4, 2, 2), 0x8040_2010).unwrap();
        assert_eq!(b.snapshot().pixel(5, 5), 0x8040_2010);
        assert_eq!(b.snapshot().pixel(6, 5), 0);
        b.fill_rect(Rect::new(0, 15, 16, 1), 0xffff_ffff).unwrap();
        assert_eq!(a.snapshot().pixel(9, 15), 0xffff_ffff);
    }

    #[test]
    fn exported_memfd_cannot_be_resized() {
        let a = Buffer::new_memfd(16, 16, Format::Argb8888).unwrap();
        let fd = a.export().unwrap();
        assert!(rustix::fs::ftruncate(&fd, 4).is_err());
        assert!(rustix::fs::ftruncate(&fd, 1 << 20).is_err());
    }

    #[test]
    fn read_only_import_refuses_writes() {
        let a = Buffer::new_memfd(4, 4, Format::Xrgb8888).unwrap();
        let b = Buffer::import(a.export().unwrap(), a.desc(), false).unwrap();
        assert!(matches!(b.fill(0), Err(Error::ReadOnly)));
    }

    #[test]
    fn import_checks_the_description() {
        let a = Buffer::new_memfd(4, 4, Format::Xrgb8888).unwrap();
        let mut d = a.desc();
        d.height = 5;
        d.size = d.pitch * 5;
        assert!(Buffer::import(a.export().unwrap(), d, false).is_err());
        let mut d = a.desc();
        d.pitch = 8;
        assert!(Buffer::import(a.export().unwrap(), d, false).is_err());
    }

    #[test]
    fn write_and_read_rect_convert() {
        let b = Buffer::new_memfd(8, 8, Format::Rgb565).unwrap();
        let src: Vec<u8> = [0xffff_0000u32, 0xff00_ff00, 0xff00_00ff, 0xffff_ffff]
            .iter()
            .flat_map(|p| p.to_le_bytes())
            .collect();
        b.write_rect(6, 7, 2, 1, Format::Xrgb8888, &src, 8).unwrap();
        b.write_rect(0, 0, 2, 1, Format::Xrgb8888, &src[8..], 8)
            .unwrap();
        let mut out = [0u8; 16];
        b.read_rect(6, 7, 2, 1, Format::Argb8888, &mut out, 8)
            .unwrap();
        b.read_rect(0, 0, 2, 1, Format::Argb8888, &mut out[8..], 8)
            .unwrap();
        assert_eq!(&out[..], &src[..]);
        assert!(b.write_rect(7, 7, 2, 1, Format::Xrgb8888, &src, 8).is_err());
    }

    #[derive(Debug)]
    struct FakeDevice {
        exportable: bool,
        freed: Arc<std::sync::atomic::AtomicBool>,
    }

    impl DeviceMemory for FakeDevice {
        fn export(&self) -> Result<OwnedFd, Error> {
            if self.exportable {
                Ok(sys::memfd_create("exported", 4096)?)
            } else {
                Err(Error::Io(std::io::Error::from_raw_os_error(38)))
            }
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    impl Drop for FakeDevice {
        fn drop(&mut self) {
            self.freed.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn device_memory_is_mapped_at_its_offset_kept_alive_and_exported_by_its_owner() {
        // A "device" whose second page holds the buffer, as a dumb buffer sits at its fake
        // offset on the card's fd.
        let dev = sys::memfd_create("card", 2 * 4096).unwrap();
        let whole = Mapping::new(dev.as_fd(), 2 * 4096, true).unwrap();
        let freed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let desc = BufferDesc::new(16, 16, Format::Xrgb8888);
        let memory = Arc::new(FakeDevice {
            exportable: false,
            freed: freed.clone(),
        });
        let b = Buffer::from_device(dev.try_clone().unwrap(), 4096, desc, memory).unwrap();
        b.fill_rect(Rect::new(0, 0, 1, 1), 0xff12_3456).unwrap();
        let mut px = [0u8; 4];
        assert!(whole.read(4096, &mut px));
        assert_eq!(u32::from_le_bytes(px), 0xff12_3456);
        assert!(b.device_memory().is_some() && !b.is_dma_buf());
        assert!(b.export().is_err(), "the owner refuses: the buffer says so");
        let clone = b.clone();
        drop(b);
        assert!(!freed.load(Ordering::SeqCst));
        drop(clone);
        assert!(
            freed.load(Ordering::SeqCst),
            "the last handle frees the memory"
        );
    }

    #[test]
    fn a_memfd_import_is_no_dma_buf_and_cpu_brackets_are_no_ops() {
        let a = Buffer::new_memfd(4, 4, Format::Xrgb8888).unwrap();
        let b = Buffer::import(a.export().unwrap(), a.desc(), true).unwrap();
        assert!(!b.is_dma_buf());
        b.begin_cpu_access(true).unwrap();
        b.fill(0xff00_ff00).unwrap();
        b.end_cpu_access(true).unwrap();
        assert_eq!(a.snapshot().pixel(3, 3), 0xff00_ff00);
    }

    #[test]
    fn scanout_refs_count() {
        let b = Buffer::new_memfd(4, 4, Format::Xrgb8888).unwrap();
        let r1 = ScanoutRef::new(&b);
        let r2 = r1.clone();
        assert!(b.is_busy());
        drop(r1);
        assert!(b.is_busy());
        drop(r2);
        assert!(!b.is_busy());
    }
}
