//! Taking back what an application had on a master that died ([`proto::Request::SurfaceAdopt`],
//! [`proto::Request::WindowAdopt`], protocol minor 7): the restart half of DESIGN's master
//! restart.
//!
//! A rejoining application still holds its surfaces' buffers (the memfds, or dma-bufs, the
//! dead master handed out) with its last frames in them. It hands them back; the new master
//! maps them (read-only, as it maps any client buffer) and shows the one that was on the
//! glass at once, so the picture comes back without the application drawing anything. The
//! ids stay the same when they are free, so what the application knows still names the same
//! things. A memfd must be sealed against shrinking (the master made them so): a buffer that
//! could shrink under the master's mapping would fault the master when composed.

use std::os::fd::{AsFd, OwnedFd};

use fusion::{Error, FusioneeId};
use fusionfb_protocol as proto;
use gfx_drivers::{Buffer, BufferDesc, Format};

use super::Server;

impl Server {
    /// Takes back surface `id` of `who` with its buffers `fds`, `(width, height, fourcc)`,
    /// showing buffer `front` again at once.
    pub(super) fn surface_adopt(
        &mut self,
        who: FusioneeId,
        id: u32,
        (width, height, fourcc): (u32, u32, u32),
        front: Option<u8>,
        fds: Vec<OwnedFd>,
    ) -> fusion::Result<proto::SurfaceInfo> {
        if width == 0 || height == 0 || width > proto::MAX_SIDE || height > proto::MAX_SIDE {
            return Err(Error::Invalid(format!("surface size {width}x{height}")));
        }
        handed_back_count(fds.len(), front)?;
        let format = Format::from_fourcc(fourcc)
            .ok_or_else(|| Error::Invalid(format!("pixel format {fourcc:#010x}")))?;
        if self.surfaces.values().filter(|s| s.owner == who).count() >= 256 {
            return Err(Error::Quota("surfaces".into()));
        }
        let desc = BufferDesc::new(width, height, format);
        let bufs = fds
            .into_iter()
            .map(|fd| handed_back(fd, |fd| Buffer::import(fd, desc, false)))
            .collect::<fusion::Result<Vec<_>>>()?;
        self.register_adopted(who, id, bufs, front)
    }

    /// Registers the buffers handed back as surface `id` (when free) of `who`, buffer
    /// `front` on the glass as soon as something shows it. (No `FrameDone`: the client is
    /// not listening to the new reactor yet; it flips the buffer again once it is.)
    fn register_adopted(
        &mut self,
        who: FusioneeId,
        id: u32,
        bufs: Vec<Buffer>,
        front: Option<u8>,
    ) -> fusion::Result<proto::SurfaceInfo> {
        let (info, _) = self.register_surface_as(who, bufs, Some(id))?;
        self.surfaces
            .get_mut(&info.id)
            .expect("just registered")
            .front = front;
        Ok(info)
    }

    /// Gives `who` layer `layer` exclusively again with its surface `id`'s scan-out buffers
    /// `fds` (`desc`), the dead master's: the card imports them (PRIME) where it can, so the
    /// plane shows them as before; where it cannot (a driver without PRIME import), the
    /// layer is composed from a mapping of them instead, as when the plane refuses a buffer.
    /// Buffer `front` is on the plane at once.
    pub(super) fn layer_adopt(
        &mut self,
        who: FusioneeId,
        (layer, id): (u32, u32),
        desc: BufferDesc,
        front: Option<u8>,
        fds: Vec<OwnedFd>,
    ) -> fusion::Result<proto::SurfaceInfo> {
        let size = self.free_for_exclusive(layer)?;
        if (desc.width, desc.height) != size || desc.format != Format::Xrgb8888 {
            return Err(Error::Invalid(format!(
                "layer {layer}'s buffers are {}x{} XRGB8888 now, not {}x{} {:?}",
                size.0, size.1, desc.width, desc.height, desc.format
            )));
        }
        desc.validate()
            .map_err(|e| Error::Invalid(format!("the layer's buffers: {e}")))?;
        handed_back_count(fds.len(), front)?;
        let backend = &mut self.backend;
        let bufs = fds
            .into_iter()
            .map(|fd| handed_back(fd, |fd| backend.import_dmabuf(fd, desc)))
            .collect::<fusion::Result<Vec<_>>>()?;
        let scanned = bufs.iter().all(|b| self.backend.can_scan_out(b));
        let info = self.register_adopted(who, id, bufs, front)?;
        self.hold_layer(layer, info.id);
        if let Some(l) = self.layers.iter_mut().find(|l| l.spec.id == layer) {
            if !scanned {
                tracing::info!(
                    layer,
                    "the card cannot scan the layer's buffers out again: composing it"
                );
            }
            l.composed = !scanned;
        }
        self.outputs[0].planes_dirty = true;
        self.damage_all();
        Ok(info)
    }
}

/// Checks the number of buffers handed back (1 to [`proto::MAX_BUFFERS`]) and that `front`
/// is one of them.
fn handed_back_count(n: usize, front: Option<u8>) -> fusion::Result<()> {
    if n == 0 || n > proto::MAX_BUFFERS as usize {
        return Err(Error::Invalid(format!(
            "{n} buffers handed back (1 to {})",
            proto::MAX_BUFFERS
        )));
    }
    if front.is_some_and(|f| f as usize >= n) {
        return Err(Error::Invalid(format!(
            "front buffer {front:?} of {n} buffers"
        )));
    }
    Ok(())
}

/// A buffer handed back, mapped (read-only) with `import`: a dma-buf, or a memfd sealed
/// against shrinking (one that could shrink under the master's mapping would fault the
/// master when composed). What the descriptor is is asked of the descriptor, before
/// `import` makes it something else (the card's device memory, after a PRIME import).
fn handed_back(
    fd: OwnedFd,
    import: impl FnOnce(OwnedFd) -> Result<Buffer, gfx_drivers::backend::Error>,
) -> fusion::Result<Buffer> {
    if !fusionfb_sys::memfd_cannot_shrink(fd.as_fd())
        && !gfx_drivers::buffer::is_dma_buf(fd.as_fd())
    {
        return Err(Error::Invalid(
            "a buffer handed back must be a dma-buf or a memfd sealed against shrinking".into(),
        ));
    }
    import(fd).map_err(|e| Error::Invalid(format!("a buffer handed back: {e}")))
}
