//! Dumb buffers: CPU-drawable scan-out memory every KMS driver offers.
//!
//! [`allocate`] creates one (`DRM_IOCTL_MODE_CREATE_DUMB`), maps it for the master through the
//! card's fd at the offset `MAP_DUMB` gives, and wraps it in a [`Buffer`] whose owner
//! ([`DumbMemory`]) adds its framebuffer lazily on first scan-out (cached), exports it as a
//! PRIME dma-buf for a client, and frees framebuffer and buffer when the last handle goes.

use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use smithay::backend::drm::DrmDeviceFd;
use smithay::reexports::drm::buffer::{Buffer as _, DrmFourcc};
use smithay::reexports::drm::control::dumbbuffer::DumbBuffer;
use smithay::reexports::drm::control::{framebuffer, Device as ControlDevice};

use crate::backend::Error;
use crate::buffer::{Buffer, BufferDesc, DeviceMemory};
use crate::format::Format;

/// A buffer's framebuffer on a card, added on first scan-out and removed with the buffer
/// (shared by the dumb and GBM allocators).
#[derive(Debug)]
pub(crate) struct FbCache {
    fd: DrmDeviceFd,
    fb: Mutex<Option<framebuffer::Handle>>,
}

impl FbCache {
    pub(crate) fn new(fd: &DrmDeviceFd) -> FbCache {
        FbCache {
            fd: fd.clone(),
            fb: Mutex::new(None),
        }
    }

    /// The card the framebuffer is (or will be) on.
    pub(crate) fn fd(&self) -> &DrmDeviceFd {
        &self.fd
    }

    /// Removes the framebuffer if one was added (before the memory behind it goes).
    pub(crate) fn release(&mut self) {
        if let Some(fb) = self.fb.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            if let Err(e) = self.fd.destroy_framebuffer(fb) {
                tracing::debug!("destroying framebuffer {fb:?}: {e}");
            }
        }
    }

    /// The framebuffer, added with `add` the first time.
    pub(crate) fn get_or_add(
        &self,
        add: impl FnOnce(&DrmDeviceFd) -> std::io::Result<framebuffer::Handle>,
    ) -> Result<framebuffer::Handle, Error> {
        let mut fb = self.fb.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = *fb {
            return Ok(h);
        }
        let h = add(&self.fd)?;
        *fb = Some(h);
        Ok(h)
    }
}

impl Drop for FbCache {
    fn drop(&mut self) {
        self.release();
    }
}

/// A dumb buffer of a card, owned by the buffers that map it.
#[derive(Debug)]
pub struct DumbMemory {
    fb: FbCache,
    dumb: DumbBuffer,
    format: Format,
}

/// The DRM fourcc and (depth, bpp) of the legacy `ADDFB` for a format.
pub(crate) fn drm_format(format: Format) -> (DrmFourcc, u32, u32) {
    match format {
        Format::Xrgb8888 => (DrmFourcc::Xrgb8888, 24, 32),
        Format::Argb8888 => (DrmFourcc::Argb8888, 32, 32),
        Format::Rgb565 => (DrmFourcc::Rgb565, 16, 16),
    }
}

impl DumbMemory {
    /// Whether the memory lives on the card behind `fd`.
    pub fn is_on(&self, fd: &DrmDeviceFd) -> bool {
        self.fb.fd() == fd
    }

    /// Its framebuffer, added on first use.
    pub fn framebuffer(&self) -> Result<framebuffer::Handle, Error> {
        let (_, depth, bpp) = drm_format(self.format);
        self.fb
            .get_or_add(|fd| fd.add_framebuffer(&self.dumb, depth, bpp))
    }
}

impl DeviceMemory for DumbMemory {
    fn export(&self) -> Result<OwnedFd, Error> {
        let flags = smithay::reexports::drm::CLOEXEC | smithay::reexports::drm::RDWR;
        self.fb
            .fd()
            .buffer_to_prime_fd(self.dumb.handle(), flags)
            .map_err(|e| {
                Error::Unsupported(format!(
                    "this DRM driver cannot export a dumb buffer as dma-buf (PRIME): {e}"
                ))
            })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for DumbMemory {
    fn drop(&mut self) {
        // The framebuffer goes before the buffer (FbCache's own Drop runs after this body).
        self.fb.release();
        if let Err(e) = self.fb.fd().destroy_dumb_buffer(self.dumb) {
            tracing::debug!("destroying a dumb buffer: {e}");
        }
    }
}

/// A zeroed `width`×`height` dumb buffer of `format` on the card, mapped writable.
pub fn allocate(
    fd: &DrmDeviceFd,
    width: u32,
    height: u32,
    format: Format,
) -> Result<Buffer, Error> {
    let (fourcc, _, bpp) = drm_format(format);
    let dumb = fd.create_dumb_buffer((width, height), fourcc, bpp)?;
    let memory = Arc::new(DumbMemory {
        fb: FbCache::new(fd),
        dumb,
        format,
    });
    let pitch = dumb.pitch() as usize;
    let desc = BufferDesc::with_pitch(width, height, format, pitch);
    let map = drm_ffi::mode::dumbbuffer::map(fd.as_fd(), dumb.handle().into(), 0, 0)?;
    let dup = fd.as_fd().try_clone_to_owned()?;
    Buffer::from_device(dup, map.offset, desc, memory)
}

/// The dumb memory of `buffer`, if it is one of this card's.
pub fn own<'a>(fd: &DrmDeviceFd, buffer: &'a Buffer) -> Option<&'a DumbMemory> {
    buffer
        .device_memory()?
        .as_any()
        .downcast_ref::<DumbMemory>()
        .filter(|m| m.is_on(fd))
}
