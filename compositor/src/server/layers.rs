//! Layers: hardware planes (or virtual ones) that windows live on, and exclusive access.
//!
//! Windows on every shared layer are composed together, layer by layer, into the primary
//! plane (an overlay layer without a free hardware plane is a virtual one: its windows are
//! simply composed above the lower layers'). A slave may instead take a layer
//! **exclusively** ([`fusionfb_protocol::Request::LayerAcquire`]): it gets a surface whose
//! buffers are the plane's own scan-out buffers, allocated by the backend, and each flip puts
//! the flipped buffer on the plane as it is — zero copies from the application's pen to the
//! glass. An exclusive layer is the glass as it is: no output transform. When the holder
//! releases it or dies, the master takes the plane back and composes again.

use fusion::{Error, FusioneeId, ReactorId};
use fusionfb_protocol as proto;
use gfx_drivers::backend::{PlaneId, PlaneKind};
use gfx_drivers::Format;

use super::{Band, Server};

/// A layer as the server keeps it.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// Layer id (what windows name).
    pub id: u32,
    /// Primary, overlay or cursor.
    pub kind: PlaneKind,
    /// Whether a slave may take it exclusively.
    pub allow_exclusive: bool,
    /// Size of its scan-out buffers when taken exclusively (`None`: the output's).
    pub size: Option<(u32, u32)>,
    /// Where an overlay plane shows on its output.
    pub position: (i32, i32),
    /// The output an overlay layer is on, by name (`None`: the first): its plane is that
    /// output's, and its windows' positions start at that output's corner.
    pub output: Option<String>,
}

impl LayerSpec {
    /// The default single layer: the primary one, shared.
    pub fn primary() -> Self {
        LayerSpec {
            id: 0,
            kind: PlaneKind::Primary,
            allow_exclusive: true,
            size: None,
            position: (0, 0),
            output: None,
        }
    }
}

/// A layer and who holds it.
#[derive(Debug)]
pub(crate) struct LayerState {
    pub spec: LayerSpec,
    /// The hardware plane it maps to, if one is free.
    pub plane: Option<PlaneId>,
    /// The surface holding it exclusively.
    pub exclusive: Option<u32>,
    /// The driver refused the holder's buffer on the plane: it is composed into the
    /// primary plane instead, until the layer is released.
    pub composed: bool,
    /// Where its descriptor lives in the master's read-only pool.
    pub descriptor: fusion::pool::ShmHandle,
    /// Its reactor (announces `Configure` when the descriptor changes).
    pub reactor: ReactorId,
    /// What was last published there.
    pub published: Option<proto::LayerDescriptor>,
}

pub(crate) fn kind_name(k: PlaneKind) -> &'static str {
    match k {
        PlaneKind::Primary => "primary",
        PlaneKind::Cursor => "cursor",
        _ => "overlay",
    }
}

impl Server {
    /// The index of the output layer `l` is on (`None`: it names an output not driven now).
    pub(crate) fn output_of_layer(&self, l: &LayerState) -> Option<usize> {
        match &l.spec.output {
            None => Some(0),
            Some(name) => self.output_named(name),
        }
    }

    /// Where the positions of windows on layer `id` start in the layout: the corner of the
    /// output the layer is bound to, `(0, 0)` for a layer bound to none.
    pub(crate) fn layer_origin(&self, id: u32) -> (i32, i32) {
        self.layers
            .iter()
            .find(|l| l.spec.id == id && l.spec.output.is_some())
            .and_then(|l| self.output_of_layer(l))
            .map_or((0, 0), |i| self.outputs[i].origin)
    }

    /// The index of the output layer `id` is on (the first for a layer whose output is not
    /// driven now).
    fn layer_output_index(&self, id: u32) -> usize {
        self.layers
            .iter()
            .find(|l| l.spec.id == id)
            .and_then(|l| self.output_of_layer(l))
            .unwrap_or(0)
    }

    /// Layer `id`'s output's physical size.
    pub(crate) fn layer_glass_size(&self, id: u32) -> (u32, u32) {
        self.outputs[self.layer_output_index(id)].physical_size()
    }

    /// Marks the planes of layer `id`'s output to be committed again.
    fn layer_planes_dirty(&mut self, id: u32) {
        let i = self.layer_output_index(id);
        self.outputs[i].planes_dirty = true;
    }

    /// The layers for a message: `0 (primary), 1 (overlay)`.
    pub(crate) fn layer_list(&self) -> String {
        let names: Vec<String> = self
            .layers
            .iter()
            .map(|l| format!("{} ({})", l.spec.id, kind_name(l.spec.kind)))
            .collect();
        names.join(", ")
    }

    /// Gives `who` layer `id` exclusively; answers like a surface creation.
    pub(crate) fn layer_acquire(
        &mut self,
        who: FusioneeId,
        id: u32,
    ) -> fusion::Result<(proto::SurfaceInfo, Vec<std::os::fd::OwnedFd>)> {
        let (bw, bh) = self.free_for_exclusive(id)?;
        let bufs = (0..2)
            .map(|_| {
                self.backend
                    .allocate(bw, bh, Format::Xrgb8888)
                    .map_err(|e| super::backend_failure("allocating a layer buffer", e))
            })
            .collect::<fusion::Result<Vec<_>>>()?;
        let (info, fds) = self.register_surface(who, bufs)?;
        self.hold_layer(id, info.id);
        Ok((info, fds))
    }

    /// Layer `id`, if a slave may take it exclusively now: the size its scan-out buffers
    /// have.
    pub(crate) fn free_for_exclusive(&self, id: u32) -> fusion::Result<(u32, u32)> {
        let (w, h) = self.layer_glass_size(id);
        let l = self
            .layers
            .iter()
            .find(|l| l.spec.id == id)
            .ok_or_else(|| {
                Error::NotFound(format!("layer {id}: the layers are {}", self.layer_list()))
            })?;
        if !l.spec.allow_exclusive {
            return Err(Error::Access(format!(
                "layer {id} cannot be taken exclusively"
            )));
        }
        if l.exclusive.is_some() {
            return Err(Error::Busy);
        }
        if l.plane.is_none() {
            return Err(Error::Invalid(format!(
                "layer {id} has no hardware plane to hand out (it is virtual)"
            )));
        }
        Ok(l.spec.size.unwrap_or((w, h)))
    }

    /// Records that surface `surface` holds layer `id` exclusively.
    pub(crate) fn hold_layer(&mut self, id: u32, surface: u32) {
        if let Some(l) = self.layers.iter_mut().find(|l| l.spec.id == id) {
            l.exclusive = Some(surface);
        }
    }

    /// Takes a layer back (its holder released it, or its surface went away).
    pub(crate) fn layer_release_surface(&mut self, surface: u32) {
        let mut released = Vec::new();
        for l in &mut self.layers {
            if l.exclusive == Some(surface) {
                l.exclusive = None;
                l.composed = false;
                released.push(l.spec.id);
            }
        }
        if !released.is_empty() {
            // It is no input target any more: its contacts and pointer grab end here.
            self.input.seat.forget(surface);
            // The plane shows composition again: redraw it whole.
            self.damage_all();
            for id in released {
                self.layer_planes_dirty(id);
            }
        }
    }

    /// Exclusively held layers of output `output` whose holder has flipped a buffer: the
    /// primary layer's (`primary`) or the others', with their plane, buffer and position
    /// (not those whose plane was refused: they are composed, see
    /// [`Server::composed_layers`]).
    pub(crate) fn exclusive_buffers(
        &self,
        output: usize,
        primary: bool,
    ) -> Vec<(PlaneId, gfx_drivers::Buffer, (i32, i32))> {
        self.layers
            .iter()
            .filter(|l| (l.spec.kind == PlaneKind::Primary) == primary && !l.composed)
            .filter(|l| self.output_of_layer(l) == Some(output))
            .filter_map(|l| {
                let s = self.surfaces.get(&l.exclusive?)?;
                let b = s.buffers.get(s.front? as usize)?.clone();
                Some((l.plane?, b, l.spec.position))
            })
            .collect()
    }

    /// Layers of output `output` whose plane refused their holder's buffer, composed
    /// instead: rank, buffer and position (on that output).
    pub(crate) fn composed_layers(
        &self,
        output: usize,
    ) -> Vec<(usize, gfx_drivers::Buffer, (i32, i32))> {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.composed && self.output_of_layer(l) == Some(output))
            .filter_map(|(rank, l)| {
                let s = self.surfaces.get(&l.exclusive?)?;
                let b = s.buffers.get(s.front? as usize)?.clone();
                Some((rank, b, l.spec.position))
            })
            .collect()
    }

    /// The driver refused `plane`: compose the layer on it from now on (until released).
    /// `false` if no held layer uses that plane.
    pub(crate) fn compose_refused_plane(&mut self, plane: PlaneId, reason: &str) -> bool {
        let Some(l) = self
            .layers
            .iter_mut()
            .find(|l| l.plane == Some(plane) && l.exclusive.is_some() && !l.composed)
        else {
            return false;
        };
        tracing::warn!(
            layer = l.spec.id,
            ?plane,
            "the display refused the layer's plane ({reason}): composing it instead"
        );
        l.composed = true;
        let id = l.spec.id;
        self.layer_planes_dirty(id);
        self.damage_all();
        true
    }

    /// A holder of a composed layer flipped `surface` with `damage` (buffer coordinates;
    /// empty: all of it): that part of the screen is composed again.
    pub(crate) fn damage_composed_layer(
        &mut self,
        surface: u32,
        damage: &[proto::Rect<proto::Buffer>],
    ) {
        let Some(l) = self
            .layers
            .iter()
            .find(|l| l.composed && l.exclusive == Some(surface))
        else {
            return;
        };
        let Some(b) = self.surfaces.get(&surface).and_then(|s| s.buffers.first()) else {
            return;
        };
        let (ox, oy) = self.outputs[self.output_of_layer(l).unwrap_or(0)].origin;
        let (x, y) = (l.spec.position.0 + ox, l.spec.position.1 + oy);
        let full = [proto::Rect::new(0, 0, b.width(), b.height())];
        let rects = if damage.is_empty() { &full[..] } else { damage };
        let spots: Vec<proto::Rect> = rects
            .iter()
            .map(|r| proto::Rect::new(x + r.x, y + r.y, r.w, r.h))
            .collect();
        for r in spots {
            self.damage(r);
        }
    }

    /// Where a layer stands, bottom (0) to top: windows stack by it, then by age.
    pub(crate) fn layer_rank(&self, id: u32) -> usize {
        self.layers
            .iter()
            .position(|l| l.spec.id == id)
            .unwrap_or(usize::MAX)
    }

    /// Where in the stack a window goes to be the top one of `layer` and `band`.
    pub(crate) fn stack_top(&self, layer: u32, band: Band) -> usize {
        let key = (self.layer_rank(layer), band);
        self.windows
            .iter()
            .position(|o| (self.layer_rank(o.layer), o.band) > key)
            .unwrap_or(self.windows.len())
    }

    /// Where in the stack a window goes to be the bottom one of `layer` and `band`.
    pub(crate) fn stack_bottom(&self, layer: u32, band: Band) -> usize {
        let key = (self.layer_rank(layer), band);
        self.windows
            .iter()
            .position(|o| (self.layer_rank(o.layer), o.band) >= key)
            .unwrap_or(self.windows.len())
    }

    /// What the plane of layer `id` scans out now (`None`: the layer has no plane, or the
    /// plane shows nothing).
    pub fn layer_on_glass(&self, id: u32) -> Option<gfx_drivers::Buffer> {
        let l = self.layers.iter().find(|l| l.spec.id == id)?;
        let out = &self.outputs[self.output_of_layer(l)?];
        self.backend.on_glass(out.id, l.plane?).ok().flatten()
    }
}
