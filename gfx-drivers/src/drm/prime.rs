//! Imported dma-bufs: a client's buffer scanned out as it is.
//!
//! [`import`] turns a dma-buf fd from a client (a Wayland `zwp_linux_dmabuf_v1` buffer) into
//! a [`Buffer`] this card can scan out: the kernel gives the card a GEM handle for the same
//! memory (`DRM_IOCTL_PRIME_FD_TO_HANDLE`), whose framebuffer is added on first scan-out
//! (cached, `FbCache`); the master's CPU reads go through a read-only mapping of the dma-buf
//! itself, bracketed with `DMA_BUF_IOCTL_SYNC` like any dma-buf ([`Buffer::import_device`]).
//!
//! The kernel gives one handle per buffer object and file: the same memory imported twice
//! (two `wl_buffer`s on one dma-buf) has one handle, and closing it for one would pull it
//! from under the other. So the card keeps a [`PrimeTable`] of the live imports by handle
//! and hands out the same [`PrimeMemory`] again; the handle is closed when the last buffer
//! on it goes.
//!
//! A driver that cannot import a foreign dma-buf (bochs has no PRIME import; virtio-gpu in
//! Linux 6.1 imports only its own buffers) refuses here, and the caller composes the buffer
//! from a CPU mapping instead.

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};

use smithay::backend::drm::DrmDeviceFd;
use smithay::reexports::drm::buffer::{Buffer as DrmBuffer, DrmFourcc, Handle};
use smithay::reexports::drm::control::{framebuffer, Device as ControlDevice};

use super::dumb::{drm_format, FbCache};
use crate::backend::Error;
use crate::buffer::{Buffer, BufferDesc, DeviceMemory};

/// An imported dma-buf's GEM handle on a card, and its framebuffer once shown.
#[derive(Debug)]
pub struct PrimeMemory {
    fb: FbCache,
    handle: Handle,
    desc: BufferDesc,
    /// The dma-buf, for [`DeviceMemory::export`].
    dmabuf: OwnedFd,
}

/// What `ADDFB` needs of the import.
struct Scanout<'a>(&'a PrimeMemory);

impl DrmBuffer for Scanout<'_> {
    fn size(&self) -> (u32, u32) {
        (self.0.desc.width, self.0.desc.height)
    }

    fn format(&self) -> DrmFourcc {
        drm_format(self.0.desc.format).0
    }

    fn pitch(&self) -> u32 {
        u32::try_from(self.0.desc.pitch).unwrap_or(u32::MAX)
    }

    fn handle(&self) -> Handle {
        self.0.handle
    }
}

impl PrimeMemory {
    /// Whether the import lives on the card behind `fd`.
    pub fn is_on(&self, fd: &DrmDeviceFd) -> bool {
        self.fb.fd() == fd
    }

    /// Its framebuffer, added on first use.
    pub fn framebuffer(&self) -> Result<framebuffer::Handle, Error> {
        let (_, depth, bpp) = drm_format(self.desc.format);
        self.fb
            .get_or_add(|fd| fd.add_framebuffer(&Scanout(self), depth, bpp))
    }
}

impl DeviceMemory for PrimeMemory {
    fn export(&self) -> Result<OwnedFd, Error> {
        Ok(self.dmabuf.try_clone()?)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for PrimeMemory {
    fn drop(&mut self) {
        // The framebuffer goes before the handle.
        self.fb.release();
        if let Err(e) = self.fb.fd().close_buffer(self.handle) {
            tracing::debug!("closing an imported dma-buf's handle: {e}");
        }
    }
}

/// The live imports of a card by GEM handle (see the module docs).
#[derive(Debug, Default)]
pub struct PrimeTable(Mutex<HashMap<u32, Weak<PrimeMemory>>>);

/// Imports `dmabuf` (one linear plane described by `desc`, from byte 0) onto the card behind
/// `fd`: a [`Buffer`] the card can scan out and the master can read. Fails where the driver
/// cannot import it; the dma-buf is then still the caller's to map.
pub fn import(
    fd: &DrmDeviceFd,
    table: &PrimeTable,
    dmabuf: OwnedFd,
    desc: BufferDesc,
) -> Result<Buffer, (Error, OwnedFd)> {
    if let Err(e) = desc.validate() {
        return Err((e, dmabuf));
    }
    let handle = match fd.prime_fd_to_buffer(dmabuf.as_fd()) {
        Ok(h) => h,
        Err(e) => {
            return Err((
                Error::Unsupported(format!("this DRM driver cannot import the dma-buf: {e}")),
                dmabuf,
            ))
        }
    };
    let mut live = table.0.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|_, m| m.strong_count() > 0);
    let key = u32::from(handle);
    let memory = match live.get(&key).and_then(Weak::upgrade) {
        // The same memory again: the kernel gave the handle it already had.
        Some(m) if m.desc == desc => m,
        Some(_) => {
            return Err((
                Error::InvalidBuffer(
                    "the dma-buf is already imported with another description".into(),
                ),
                dmabuf,
            ))
        }
        None => {
            let dup = match dmabuf.try_clone() {
                Ok(d) => d,
                Err(e) => {
                    let _ = fd.close_buffer(handle);
                    return Err((e.into(), dmabuf));
                }
            };
            let m = Arc::new(PrimeMemory {
                fb: FbCache::new(fd),
                handle,
                desc,
                dmabuf: dup,
            });
            live.insert(key, Arc::downgrade(&m));
            m
        }
    };
    drop(live);
    let memory: Arc<dyn DeviceMemory> = memory;
    match dmabuf.try_clone() {
        Ok(map_fd) => match Buffer::import_device(map_fd, desc, memory) {
            Ok(b) => Ok(b),
            Err(e) => Err((e, dmabuf)),
        },
        Err(e) => Err((e.into(), dmabuf)),
    }
}

/// The import behind `buffer`, if it is one of this card's.
pub fn own<'a>(fd: &DrmDeviceFd, buffer: &'a Buffer) -> Option<&'a PrimeMemory> {
    buffer
        .device_memory()?
        .as_any()
        .downcast_ref::<PrimeMemory>()
        .filter(|m| m.is_on(fd))
}
