//! Publishing the display's state in fused shared memory.
//!
//! Every layer, surface and window has a descriptor ([`proto::LayerDescriptor`],
//! [`proto::SurfaceDescriptor`], [`proto::WindowDescriptor`]) in the master's main pool,
//! which slaves map read-only: an application reads the current geometry, stacking, focus,
//! front buffer or exclusive holder directly, without a round trip, and a buggy one cannot
//! change it. Mutations go through calls to the master, which validates them
//! (`requests.rs`); after each round of work the master rewrites the descriptors whose
//! content changed (sequence-locked, so readers never see a torn copy) and announces
//! [`Event::Configure`] on the object's reactor. A surface's flip-related fields (front
//! buffer, in flight, counters) are announced by its `FrameDone` instead, so a flip costs no
//! extra event.

use fusion::wire::MASTER_ID;
use fusion::Master;
use fusionfb_protocol::{self as proto, Event};
use gfx_drivers::backend::PlaneKind;

use super::Server;

/// Messages a layer reactor keeps for slow readers.
const LAYER_RING: usize = 16;

/// A layer's descriptor block and reactor, made when the server starts.
pub(super) fn layer_slot(
    master: &mut Master,
    id: u32,
) -> Result<(fusion::pool::ShmHandle, fusion::ReactorId), fusion::Error> {
    let descriptor = master
        .pool_mut(fusion::master::MAIN_POOL)
        .ok_or_else(|| fusion::Error::NotFound("main pool".into()))?
        .calloc(MASTER_ID, proto::LAYER_DESCRIPTOR_SIZE)?;
    let reactor = master.reactor_create(&format!("fusionfb.layer.{id}"), 64, LAYER_RING, false)?;
    Ok((descriptor, reactor))
}

impl Server {
    fn layer_descriptor(&self, z: usize) -> proto::LayerDescriptor {
        let l = &self.layers[z];
        let (w, h) = self.layer_glass_size(l.spec.id);
        let (width, height) = l.spec.size.unwrap_or((w, h));
        proto::LayerDescriptor {
            id: l.spec.id,
            kind: match l.spec.kind {
                PlaneKind::Primary => 0,
                PlaneKind::Overlay => 1,
                PlaneKind::Cursor => 2,
            },
            hardware: l.plane.is_some(),
            allow_exclusive: l.spec.allow_exclusive,
            x: l.spec.position.0,
            y: l.spec.position.1,
            width,
            height,
            exclusive_surface: l.exclusive,
            exclusive_owner: l
                .exclusive
                .and_then(|s| self.surfaces.get(&s))
                .map_or(fusion::FusioneeId(0), |s| s.owner),
            windows: self.windows.iter().filter(|w| w.layer == l.spec.id).count() as u32,
            z: z as u32,
        }
    }

    fn surface_descriptor(&self, id: u32) -> Option<proto::SurfaceDescriptor> {
        let s = self.surfaces.get(&id)?;
        let b = s.buffers.first()?;
        Some(proto::SurfaceDescriptor {
            id,
            owner: s.owner,
            width: b.width(),
            height: b.height(),
            format: b.format().fourcc(),
            pitch: b.pitch() as u32,
            buffers: s.buffers.len() as u8,
            front: s.front,
            in_flight: s.in_flight,
            exclusive_layer: self
                .layers
                .iter()
                .find(|l| l.exclusive == Some(id))
                .map(|l| l.spec.id),
            flips: s.flips,
            presented: s.presented,
            windows: self.windows.iter().filter(|w| w.surface == id).count() as u32,
        })
    }

    fn window_descriptor(&self, z: usize) -> proto::WindowDescriptor {
        let w = &self.windows[z];
        let (width, height) = self.window_rect(w).map(|r| (r.w, r.h)).unwrap_or((0, 0));
        proto::WindowDescriptor {
            id: w.id,
            surface: w.surface,
            layer: w.layer,
            x: w.x,
            y: w.y,
            width,
            height,
            opacity: w.opacity,
            visible: w.visible,
            focused: self.focused() == Some(w.id),
            z: z as u32,
            owner: w.owner,
            stacked: self.stacked.get(&w.id).copied().unwrap_or(0),
        }
    }

    /// Everything on the display now (what [`proto::Request::Describe`] answers).
    pub fn scene(&self) -> proto::Scene {
        proto::Scene {
            layers: (0..self.layers.len())
                .map(|z| self.layer_descriptor(z))
                .collect(),
            surfaces: self
                .surfaces
                .keys()
                .filter_map(|&id| self.surface_descriptor(id))
                .collect(),
            windows: (0..self.windows.len())
                .map(|z| self.window_descriptor(z))
                .collect(),
            frames: proto::FrameStats {
                committed: self.frames,
                presented: self.presented,
                direct: self.direct_frames,
                bytes_composed_last: self.bytes_composed_last,
                bytes_composed_total: self.bytes_composed_total,
            },
            apps: self.apps.clone(),
            #[cfg(feature = "wayland")]
            wayland: self.wayland_status(),
            #[cfg(not(feature = "wayland"))]
            wayland: None,
            #[cfg(feature = "wayland")]
            idle_inhibited_by: self.wayland_idle_inhibitors(),
            #[cfg(not(feature = "wayland"))]
            idle_inhibited_by: Vec::new(),
            health: Some(self.health()),
            blanking: Some(self.blank_status()),
            cursor: Some(self.cursor_status()),
            outputs: self.outputs_status(),
        }
    }

    /// Rewrites every descriptor whose content changed and announces `Configure` on the
    /// reactors of the windows, layers and surfaces that changed (see the module docs).
    pub(crate) fn publish(&mut self) {
        let mut changed = Vec::new();
        if self.window_list.1 != self.windows.len() {
            self.window_list = (self.frames + 1, self.windows.len());
        }
        for z in 0..self.windows.len() {
            let d = self.window_descriptor(z);
            let w = &self.windows[z];
            if w.published == Some(d) {
                continue;
            }
            // The next frame shows the list as it is now.
            self.window_list.0 = self.frames + 1;
            self.write_cell(w.descriptor, |map, at| d.write(map, at));
            if self.windows[z].published.replace(d).is_some() {
                changed.push(self.windows[z].reactor);
            }
        }
        for z in 0..self.layers.len() {
            let d = self.layer_descriptor(z);
            let l = &self.layers[z];
            if l.published == Some(d) {
                continue;
            }
            self.write_cell(l.descriptor, |map, at| d.write(map, at));
            if self.layers[z].published.replace(d).is_some() {
                changed.push(self.layers[z].reactor);
            }
        }
        let ids: Vec<u32> = self.surfaces.keys().copied().collect();
        for id in ids {
            let Some(d) = self.surface_descriptor(id) else {
                continue;
            };
            let s = &self.surfaces[&id];
            if s.published == Some(d) {
                continue;
            }
            // Only what a flip does not explain is worth an event (FrameDone tells the rest).
            let flip_only = s
                .published
                .is_some_and(|p| p.windows == d.windows && p.exclusive_layer == d.exclusive_layer);
            let first = s.published.is_none();
            self.write_cell(s.descriptor, |map, at| d.write(map, at));
            let s = self.surfaces.get_mut(&id).expect("listed");
            s.published = Some(d);
            if !first && !flip_only {
                changed.push(s.reactor);
            }
        }
        for r in changed {
            self.announce(r, &Event::Configure);
        }
    }

    fn write_cell(
        &self,
        at: fusion::pool::ShmHandle,
        write: impl FnOnce(&fusionfb_sys::Mapping, usize),
    ) {
        if let Some(pool) = self.master.pool(fusion::master::MAIN_POOL) {
            write(pool.map(), at.offset as usize);
        }
    }
}
