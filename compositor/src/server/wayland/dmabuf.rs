//! Clients' dma-bufs in the scene: shown as they are, scanned out when they cover the glass.
//!
//! A `wl_shm` pool is memory the client may truncate, so the master copies it
//! (`wayland/shm.rs`). A dma-buf is different: the client allocated it for the display and
//! promises not to draw into it until the master sends `wl_buffer.release`. So the master
//! takes it as it is:
//!
//! - **Import** once per buffer ([`Server::wayland_import`]): checked
//!   (`crate::wayland::dmabuf::describe`) and handed to the backend, which imports it onto
//!   the card where the driver can (DRM PRIME: then it may go on a plane) or maps it for
//!   the CPU (`DMA_BUF_IOCTL_SYNC` around every read). Kept until the client destroys the
//!   `wl_buffer`.
//! - **Shown** ([`Server::wayland_show_held`]): the scene surface's buffer *is* the
//!   dma-buf; the commit's damage goes to the scene as a native flip's does. The surface is
//!   marked as released explicitly, so a fullscreen opaque XRGB8888 dma-buf is scanned out
//!   with no copy (`Server::scanout_candidate`): 0 bytes composed, as an exclusive layer.
//!   A viewport is the exception: its crop is scaled into a master copy.
//! - **Released** when another buffer replaces it, the surface leaves the scene, or the
//!   surface turns to a copy — and nothing reads it any more: not on the glass, not waiting
//!   for a flip ([`Server::wayland_release_buffers`], each turn and each presentation).

use gfx_drivers::Buffer;
use smithay::backend::allocator::dmabuf::Dmabuf;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::wayland::compositor::Damage;

use super::{damage_areas, scene_damage, Server, WaylandScene, MAX_SIDE};

impl Server {
    /// The scene's buffer for the client's dma-buf `d`: imported through the backend the
    /// first time it is shown, then the same.
    pub(super) fn wayland_import(
        &mut self,
        w: &mut WaylandScene,
        d: &Dmabuf,
    ) -> Result<Buffer, String> {
        if let Some(b) = w.dmabufs.get(d) {
            return Ok(b.clone());
        }
        let desc = crate::wayland::dmabuf::describe(d, MAX_SIDE)?;
        let fd = d
            .handles()
            .next()
            .ok_or("no plane")?
            .try_clone_to_owned()
            .map_err(|e| e.to_string())?;
        let b = self
            .backend
            .import_dmabuf(fd, desc)
            .map_err(|e| e.to_string())?;
        w.dmabufs.insert(d.clone(), b.clone());
        Ok(b)
    }

    /// Shows the client's `buffer` (imported as `b`) on `s` as it is, holding it until it
    /// is replaced. Returns whether it is held (it is, unless the surface cannot be shown).
    pub(super) fn wayland_show_held(
        &mut self,
        w: &mut WaylandScene,
        s: &WlSurface,
        root: &WlSurface,
        buffer: &WlBuffer,
        b: Buffer,
        damage: &[Damage],
    ) -> bool {
        let (width, height) = (b.width(), b.height());
        let (id, whole) = match w.shown.get(s).map(|sh| sh.surface) {
            Some(id) => {
                let same = self
                    .surfaces
                    .get(&id)
                    .and_then(|st| st.buffers.first())
                    .is_some_and(|old| {
                        old.width() == width && old.height() == height && old.format() == b.format()
                    });
                if !same {
                    // Resized: where the old size showed is damaged too.
                    self.damage_surface_windows(id, None);
                }
                if let Some(st) = self.surfaces.get_mut(&id) {
                    st.buffers = vec![b.clone()];
                }
                (id, !same)
            }
            None => match self.wayland_show(w, s, root, b.clone()) {
                Some(id) => (id, true),
                None => return false,
            },
        };
        if let Some(sh) = w.shown.get_mut(s) {
            if let Some(old) = sh.held.replace((buffer.clone(), b)) {
                if old.0 != *buffer {
                    w.releasing.push(old);
                }
            }
        }
        let Some(st) = self.surfaces.get_mut(&id) else {
            return true;
        };
        st.front = Some(0);
        st.flips = st.flips.wrapping_add(1);
        st.released_explicitly = true;
        let rects = scene_damage(whole, &damage_areas(damage), (width, height));
        self.damage_surface_windows(id, Some(&rects));
        true
    }

    /// Takes `s` out of the scene; the buffer it held is released once nothing reads it.
    pub(super) fn wayland_unshow(&mut self, w: &mut WaylandScene, s: &WlSurface) {
        if let Some(shown) = w.shown.remove(s) {
            self.remove_surface(shown.surface);
            w.releasing.extend(shown.held);
        }
    }

    /// Releases the clients' buffers the scene let go of and nothing reads any more, and
    /// forgets the imports of destroyed buffers.
    pub(super) fn wayland_release_buffers(w: &mut WaylandScene) {
        for d in std::mem::take(&mut w.front.state.dmabufs_gone) {
            w.dmabufs.remove(&d);
        }
        w.releasing.retain(|(wl, b)| {
            if b.is_busy() {
                return true;
            }
            if wl.is_alive() {
                wl.release();
            }
            false
        });
    }
}
