//! GBM buffers: scan-out memory allocated by the GPU driver's GBM (`libgbm`), for boards whose
//! display controller wants buffers the GPU's allocator lays out (placement, alignment,
//! contiguity) rather than dumb buffers. Behind the `gbm` cargo feature (it links libgbm);
//! chosen with `display.allocator = "gbm"`.
//!
//! [`GbmAllocator::allocate`] creates a linear, scan-out buffer object (`gbm_bo_create` with
//! `GBM_BO_USE_SCANOUT | GBM_BO_USE_LINEAR`, so the CPU can draw into it), exports it as a
//! dma-buf and maps that for the master. Its owner, [`GbmMemory`], plays the part
//! [`super::dumb::DumbMemory`] plays for dumb buffers: the framebuffer is added on first
//! scan-out and cached, [`DeviceMemory::export`] gives a client a new dma-buf of the same
//! buffer object (the same export path as dumb buffers: a client holding a layer
//! exclusively draws into it with zero copies), and everything is freed with the last
//! handle. Because the master's own mapping is a dma-buf, its CPU accesses are bracketed with
//! `DMA_BUF_IOCTL_SYNC` like a client's ([`Buffer`] notices by itself).
//!
//! Not yet run against a real GBM implementation from a test: the emulated board's rootfs
//! has libgbm but not Mesa's DRI drivers (`libgl1-mesa-dri` and LLVM, over 100 MB) that
//! libgbm loads for virtio-gpu, and the CI host has no DRM device. CI builds and lints it
//! (`cargo clippy -p gfx-drivers --features gbm`).

use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use smithay::backend::drm::DrmDeviceFd;
use smithay::reexports::drm::control::{framebuffer, Device as ControlDevice};
use smithay::reexports::gbm::{self, BufferObject, BufferObjectFlags};

use super::dumb::FbCache;

use crate::backend::Error;
use crate::buffer::{Buffer, BufferDesc, DeviceMemory};
use crate::format::Format;

/// A GBM buffer object of a card, owned by the buffers that map it.
#[derive(Debug)]
pub struct GbmMemory {
    // Declared first: the framebuffer is removed before the buffer object is destroyed.
    fb: FbCache,
    bo: BufferObject<()>,
    format: Format,
}

/// GBM's fourcc and the legacy `ADDFB` (depth, bpp) for a format.
fn gbm_format(format: Format) -> (gbm::Format, u32, u32) {
    match format {
        Format::Xrgb8888 => (gbm::Format::Xrgb8888, 24, 32),
        Format::Argb8888 => (gbm::Format::Argb8888, 32, 32),
        Format::Rgb565 => (gbm::Format::Rgb565, 16, 16),
    }
}

impl GbmMemory {
    /// Whether the memory lives on the card behind `fd`.
    pub fn is_on(&self, fd: &DrmDeviceFd) -> bool {
        self.fb.fd() == fd
    }

    /// Its framebuffer, added on first use.
    pub fn framebuffer(&self) -> Result<framebuffer::Handle, Error> {
        let (_, depth, bpp) = gbm_format(self.format);
        self.fb
            .get_or_add(|fd| fd.add_framebuffer(&self.bo, depth, bpp))
    }
}

impl DeviceMemory for GbmMemory {
    fn export(&self) -> Result<OwnedFd, Error> {
        self.bo
            .fd()
            .map_err(|e| Error::Unsupported(format!("exporting a GBM buffer as dma-buf: {e}")))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A GBM device on the card.
pub struct GbmAllocator {
    fd: DrmDeviceFd,
    device: gbm::Device<DrmDeviceFd>,
}

impl std::fmt::Debug for GbmAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbmAllocator")
            .field("backend", &self.device.backend_name())
            .finish()
    }
}

impl GbmAllocator {
    /// Opens GBM on the card (`gbm_create_device`): libgbm loads the GPU driver's backend,
    /// and fails where there is none for this card.
    pub fn new(fd: &DrmDeviceFd) -> Result<GbmAllocator, Error> {
        let device = gbm::Device::new(fd.clone()).map_err(|e| {
            Error::Unavailable(format!(
                "GBM on this card (gbm_create_device; is the GPU driver's Mesa backend installed?): {e}"
            ))
        })?;
        Ok(GbmAllocator {
            fd: fd.clone(),
            device,
        })
    }

    /// The GBM backend's name (`drm` for Mesa's).
    pub fn backend_name(&self) -> &str {
        self.device.backend_name()
    }

    /// A `width`×`height` linear scan-out buffer of `format`, mapped writable through its
    /// dma-buf.
    pub fn allocate(&self, width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        let (fourcc, _, _) = gbm_format(format);
        let bo = self
            .device
            .create_buffer_object::<()>(
                width,
                height,
                fourcc,
                BufferObjectFlags::SCANOUT | BufferObjectFlags::LINEAR,
            )
            .map_err(|e| {
                Error::Unsupported(format!(
                    "GBM cannot allocate a linear {width}x{height} {format} scan-out buffer: {e}"
                ))
            })?;
        let pitch = bo.stride() as usize;
        let offset = u64::from(bo.offset(0));
        let desc = BufferDesc::with_pitch(width, height, format, pitch);
        let memory = Arc::new(GbmMemory {
            fb: FbCache::new(&self.fd),
            bo,
            format,
        });
        // The master maps the buffer through a dma-buf of its own, like a client.
        let dmabuf = memory.export()?;
        Buffer::from_device(dmabuf, offset, desc, memory)
    }
}

/// The GBM memory of `buffer`, if it is one of this card's.
pub fn own<'a>(fd: &DrmDeviceFd, buffer: &'a Buffer) -> Option<&'a GbmMemory> {
    buffer
        .device_memory()?
        .as_any()
        .downcast_ref::<GbmMemory>()
        .filter(|m| m.is_on(fd))
}
