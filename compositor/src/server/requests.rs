//! What the server does with each request. Everything a slave sends is checked here: ids
//! must exist, the caller must own what it changes, sizes and formats must be sane. A bad
//! request gets an error answer and changes nothing.

use std::os::fd::{AsFd, OwnedFd};

use fusion::wire::MASTER_ID;
use fusion::{CallIn, Error, FusioneeId, ObjectId, ReactorId};
use fusionfb_protocol::{self as proto, Reply, Request, WindowChange};
use gfx_drivers::{Buffer, BufferDesc, Format};

use super::{Band, Server, SurfaceState, WindowState, EVENT_SIZE, SURFACE_CLASS, WINDOW_CLASS};

type Answer = (fusion::Result<Vec<u8>>, Vec<OwnedFd>);

fn reply(r: fusion::Result<Reply>) -> fusion::Result<Vec<u8>> {
    fusion::call::encode(&r?)
}

fn format_of(fourcc: u32) -> fusion::Result<Format> {
    Format::from_fourcc(fourcc)
        .ok_or_else(|| Error::Invalid(format!("pixel format {fourcc:#010x} is not supported")))
}

impl Server {
    /// Handles one call to the entry call; returns the answer and its descriptors.
    pub(super) fn handle(&mut self, call: CallIn) -> Answer {
        let who = call.caller;
        let req = match fusion::call::decode::<Request>(&call.payload) {
            Ok(r) => r,
            Err(e) => return (Err(e), Vec::new()),
        };
        match req {
            Request::SurfaceCreate {
                width,
                height,
                format,
                buffers,
            } => match self.surface_create(who, width, height, format, buffers) {
                Ok((info, fds)) => (reply(Ok(Reply::Surface(info))), fds),
                Err(e) => (Err(e), Vec::new()),
            },
            Request::SurfaceFlip {
                surface,
                buffer,
                damage,
            } => (
                reply(
                    self.surface_flip(who, surface, buffer, damage)
                        .map(|()| Reply::Unit),
                ),
                Vec::new(),
            ),
            Request::SurfaceDestroy { surface } => (
                reply(self.owned_surface(who, surface).map(|_| ()).map(|()| {
                    self.remove_surface(surface);
                    Reply::Unit
                })),
                Vec::new(),
            ),
            Request::WindowCreate {
                surface,
                layer,
                x,
                y,
                opacity,
                visible,
            } => (
                reply(self.window_create(who, surface, layer, x, y, opacity, visible)),
                Vec::new(),
            ),
            Request::WindowSet { window, change } => (
                reply(self.window_set(who, window, change).map(|()| Reply::Unit)),
                Vec::new(),
            ),
            Request::WindowDestroy { window } => (
                reply(self.owned_window(who, window).map(|_| {
                    self.remove_window(window);
                    Reply::Unit
                })),
                Vec::new(),
            ),
            Request::InjectTouch(events) => {
                let events = events
                    .into_iter()
                    .map(|t| proto::Injected::Touch {
                        phase: t.phase,
                        slot: t.slot,
                        x: t.x,
                        y: t.y,
                    })
                    .collect();
                let r = self.inject(events, fusionfb_sys::now_ns());
                (reply(r.map(|()| Reply::Unit)), Vec::new())
            }
            Request::Inject(events) => {
                let r = self.inject(events, fusionfb_sys::now_ns());
                (reply(r.map(|()| Reply::Unit)), Vec::new())
            }
            Request::CalibrationMode { window, on } => {
                let r = self
                    .owned_window(who, window)
                    .and_then(|_| self.calibration_mode(window, on));
                (reply(r), Vec::new())
            }
            Request::Describe => (reply(Ok(Reply::Scene(Box::new(self.scene())))), Vec::new()),
            Request::LayerAcquire { layer } => match self.layer_acquire(who, layer) {
                Ok((info, fds)) => (reply(Ok(Reply::Surface(info))), fds),
                Err(e) => (Err(e), Vec::new()),
            },
            Request::LayerRelease { layer } => {
                let held = self
                    .layers
                    .iter()
                    .find(|l| l.spec.id == layer)
                    .and_then(|l| l.exclusive);
                let r = match held {
                    Some(s) => self.owned_surface(who, s).map(|_| s),
                    None => Err(Error::NotFound(format!("exclusive hold of layer {layer}"))),
                };
                (
                    reply(r.map(|s| {
                        self.remove_surface(s);
                        Reply::Unit
                    })),
                    Vec::new(),
                )
            }
            Request::Screenshot => match self.screenshot_fd(None) {
                Ok((r, fd)) => (reply(Ok(r)), vec![fd]),
                Err(e) => (Err(e), Vec::new()),
            },
            Request::ScreenshotOutput { output } => match self.screenshot_fd(Some(&output)) {
                Ok((r, fd)) => (reply(Ok(r)), vec![fd]),
                Err(e) => (Err(e), Vec::new()),
            },
            Request::Blank { on } => (reply(self.blank(on).map(|()| Reply::Unit)), Vec::new()),
            Request::InhibitBlanking { inhibit } => {
                self.inhibit_blanking(who, inhibit);
                (reply(Ok(Reply::Unit)), Vec::new())
            }
            Request::Reload => (
                reply(
                    self.reload()
                        .map(|r| Reply::Reloaded {
                            applied: r.applied,
                            restart: r.restart,
                        })
                        .map_err(Error::Invalid),
                ),
                Vec::new(),
            ),
            Request::SurfaceAdopt {
                id,
                width,
                height,
                format,
                front,
            } => {
                let r = self.surface_adopt(who, id, (width, height, format), front, call.fds);
                (reply(r.map(Reply::Surface)), Vec::new())
            }
            Request::LayerAdopt {
                layer,
                id,
                width,
                height,
                format,
                pitch,
                front,
            } => {
                let r = Format::from_fourcc(format)
                    .ok_or_else(|| Error::Invalid(format!("pixel format {format:#010x}")))
                    .and_then(|f| {
                        let desc = BufferDesc::with_pitch(width, height, f, pitch as usize);
                        self.layer_adopt(who, (layer, id), desc, front, call.fds)
                    });
                (reply(r.map(Reply::Surface)), Vec::new())
            }
            Request::WindowAdopt {
                id,
                surface,
                layer,
                x,
                y,
                opacity,
                visible,
                stacked,
            } => (
                reply(self.window_make(
                    who,
                    surface,
                    layer,
                    (x, y, opacity, visible),
                    Some((id, stacked)),
                )),
                Vec::new(),
            ),
        }
    }

    fn owned_surface(&self, who: FusioneeId, id: u32) -> fusion::Result<&SurfaceState> {
        match self.surfaces.get(&id) {
            Some(s) if s.owner == who || who == MASTER_ID => Ok(s),
            Some(_) => Err(Error::Access(format!("surface {id} is not yours"))),
            None => Err(Error::NotFound(format!("surface {id}"))),
        }
    }

    fn owned_window(&self, who: FusioneeId, id: u32) -> fusion::Result<usize> {
        match self.windows.iter().position(|w| w.id == id) {
            Some(i) if self.windows[i].owner == who || who == MASTER_ID => Ok(i),
            Some(_) => Err(Error::Access(format!("window {id} is not yours"))),
            None => Err(Error::NotFound(format!("window {id}"))),
        }
    }

    fn surface_create(
        &mut self,
        who: FusioneeId,
        width: u32,
        height: u32,
        format: u32,
        buffers: u8,
    ) -> fusion::Result<(proto::SurfaceInfo, Vec<OwnedFd>)> {
        if width == 0 || height == 0 || width > proto::MAX_SIDE || height > proto::MAX_SIDE {
            return Err(Error::Invalid(format!("surface size {width}x{height}")));
        }
        if !(1..=proto::MAX_BUFFERS).contains(&buffers) {
            return Err(Error::Invalid(format!("{buffers} buffers (1 to 3)")));
        }
        let fmt = format_of(format)?;
        if self.surfaces.values().filter(|s| s.owner == who).count() >= 256 {
            return Err(Error::Quota("surfaces".into()));
        }
        let bufs = (0..buffers)
            .map(|_| {
                Buffer::new_memfd(width, height, fmt)
                    .map_err(|e| super::backend_failure("allocating a surface buffer", e))
            })
            .collect::<fusion::Result<Vec<_>>>()?;
        self.register_surface(who, bufs)
    }

    /// A live object of `class` owned by `who`, with a zeroed descriptor block of `size`
    /// bytes in the main pool (freed again if the object cannot be made): its id, its
    /// reactor and the block.
    fn described_object(
        &mut self,
        who: FusioneeId,
        class: &str,
        size: usize,
    ) -> fusion::Result<(ObjectId, ReactorId, fusion::pool::ShmHandle)> {
        let master = self.master();
        let descriptor = master
            .pool_mut(fusion::master::MAIN_POOL)
            .ok_or_else(|| Error::NotFound("main pool".into()))?
            .calloc(MASTER_ID, size)?;
        let made = master
            .object_create(class, who, EVENT_SIZE, Some(descriptor))
            .and_then(|o| master.object_activate(o).map(|()| o))
            .and_then(|o| {
                let reactor = master
                    .object_get(o)
                    .map(|obj| obj.reactor)
                    .ok_or_else(|| Error::NotFound(format!("{class} object")))?;
                Ok((o, reactor))
            });
        match made {
            Ok((object, reactor)) => Ok((object, reactor, descriptor)),
            Err(e) => {
                if let Some(p) = master.pool_mut(fusion::master::MAIN_POOL) {
                    let _ = p.free(MASTER_ID, descriptor);
                }
                Err(e)
            }
        }
    }

    /// Makes `bufs` a surface of `who`: its object and reactor, its id, and the buffers' fds
    /// to hand over.
    pub(super) fn register_surface(
        &mut self,
        who: FusioneeId,
        bufs: Vec<Buffer>,
    ) -> fusion::Result<(proto::SurfaceInfo, Vec<OwnedFd>)> {
        self.register_surface_as(who, bufs, None)
    }

    /// [`Server::register_surface`], with the id `wanted` when it is free (a surface taken
    /// back after a master's death).
    pub(super) fn register_surface_as(
        &mut self,
        who: FusioneeId,
        bufs: Vec<Buffer>,
        wanted: Option<u32>,
    ) -> fusion::Result<(proto::SurfaceInfo, Vec<OwnedFd>)> {
        let fds = if wanted.is_some() {
            // The client has the buffers already.
            Vec::new()
        } else {
            bufs.iter()
                .map(|b| {
                    b.export()
                        .map_err(|e| super::backend_failure("exporting a buffer", e))
                })
                .collect::<fusion::Result<Vec<_>>>()?
        };
        let (object, reactor, descriptor) =
            self.described_object(who, SURFACE_CLASS, proto::SURFACE_DESCRIPTOR_SIZE)?;
        let id = self.id_for(wanted);
        let info = proto::SurfaceInfo {
            id,
            width: bufs[0].width(),
            height: bufs[0].height(),
            format: bufs[0].format().fourcc(),
            reactor,
            pitch: bufs[0].pitch() as u32,
            size: bufs[0].size() as u64,
            descriptor,
        };
        self.surfaces.insert(
            id,
            SurfaceState {
                owner: who,
                object,
                reactor,
                buffers: bufs,
                front: None,
                in_flight: false,
                released_explicitly: false,
                flips: 0,
                presented: 0,
                descriptor,
                published: None,
            },
        );
        Ok((info, fds))
    }

    fn surface_flip(
        &mut self,
        who: FusioneeId,
        id: u32,
        buffer: u8,
        damage: Vec<proto::Rect<proto::Buffer>>,
    ) -> fusion::Result<()> {
        let s = self.owned_surface(who, id)?;
        let Some(b) = s.buffers.get(buffer as usize) else {
            return Err(Error::Invalid(format!(
                "surface {id} has no buffer {buffer}"
            )));
        };
        if s.in_flight {
            // The previous flip has not reached the glass: no tearing, no queueing.
            return Err(Error::Busy);
        }
        let (bw, bh) = (b.width(), b.height());
        if damage.len() > 64 {
            return Err(Error::Invalid("more than 64 damage rectangles".into()));
        }
        let s = self.surfaces.get_mut(&id).expect("checked");
        s.front = Some(buffer);
        s.in_flight = true;
        s.flips = s.flips.wrapping_add(1);
        self.mark_flipped(id);
        // The surface's damage, where its windows show it.
        let full = [proto::Rect::from_size(bw, bh)];
        let rects: &[proto::Rect<proto::Buffer>] = if damage.is_empty() { &full } else { &damage };
        for r in self.surface_spots(id, rects) {
            self.damage(r);
        }
        self.damage_composed_layer(id, &damage);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn window_create(
        &mut self,
        who: FusioneeId,
        surface: u32,
        layer: u32,
        x: i32,
        y: i32,
        opacity: u8,
        visible: bool,
    ) -> fusion::Result<Reply> {
        self.window_make(who, surface, layer, (x, y, opacity, visible), None)
    }

    /// A new window of `who` showing `surface` on `layer` at `(x, y)` with `opacity`,
    /// shown or not; on top of its layer, or, when `adopt` gives the id it had on a master
    /// that died and when it was stacked, with that id if free and below the windows taken
    /// back that were stacked later.
    pub(super) fn window_make(
        &mut self,
        who: FusioneeId,
        surface: u32,
        layer: u32,
        (x, y, opacity, visible): (i32, i32, u8, bool),
        adopt: Option<(u32, u64)>,
    ) -> fusion::Result<Reply> {
        self.owned_surface(who, surface)?;
        if !self.layers.iter().any(|l| l.spec.id == layer) {
            return Err(Error::NotFound(format!(
                "layer {layer}: the layers are {}",
                self.layer_list()
            )));
        }
        if self.windows.iter().filter(|w| w.owner == who).count() >= 256 {
            return Err(Error::Quota("windows".into()));
        }
        let (object, reactor, descriptor) =
            self.described_object(who, WINDOW_CLASS, proto::WINDOW_DESCRIPTOR_SIZE)?;
        let id = self.id_for(adopt.map(|(id, _)| id));
        let w = WindowState {
            id,
            owner: who,
            object,
            reactor,
            surface,
            layer,
            x,
            y,
            opacity,
            visible,
            input_region: None,
            band: Band::Normal,
            focusable: true,
            descriptor,
            published: None,
        };
        if visible {
            if let Some(r) = self.window_rect(&w) {
                self.damage(r);
            }
        }
        // On top of its layer and band (a window taken back: under those taken back that were
        // stacked later).
        let mut at = self.stack_top(layer, Band::Normal);
        let stacked = match adopt {
            Some((_, stacked)) => {
                while at > 0 {
                    let below = &self.windows[at - 1];
                    let later = below.layer == layer
                        && below.band == Band::Normal
                        && self.stacked.get(&below.id).is_some_and(|&s| s > stacked);
                    if !later {
                        break;
                    }
                    at -= 1;
                }
                stacked
            }
            None => fusionfb_sys::now_ns(),
        };
        self.stacked.insert(id, stacked);
        self.windows.insert(at, w);
        self.publish();
        Ok(Reply::Window(proto::WindowInfo {
            id,
            reactor,
            descriptor,
        }))
    }

    fn window_set(&mut self, who: FusioneeId, id: u32, change: WindowChange) -> fusion::Result<()> {
        let i = self.owned_window(who, id)?;
        let before = self.window_rect(&self.windows[i]);
        let was_visible = self.windows[i].visible;
        match change {
            WindowChange::Move { x, y } => {
                self.windows[i].x = x;
                self.windows[i].y = y;
            }
            WindowChange::Surface(s) => {
                self.owned_surface(who, s)?;
                self.windows[i].surface = s;
            }
            WindowChange::Opacity(o) => self.windows[i].opacity = o,
            WindowChange::Visible(v) => self.windows[i].visible = v,
            WindowChange::Raise => {
                let w = self.windows.remove(i);
                let at = self.stack_top(w.layer, w.band);
                self.stacked.insert(w.id, fusionfb_sys::now_ns());
                self.windows.insert(at, w);
            }
            WindowChange::Lower => {
                let w = self.windows.remove(i);
                let at = self.stack_bottom(w.layer, w.band);
                self.stacked.insert(w.id, 0);
                self.windows.insert(at, w);
            }
            WindowChange::InputRegion(r) => {
                if r.as_ref().is_some_and(|r| r.len() > 64) {
                    return Err(Error::Invalid("more than 64 input rectangles".into()));
                }
                self.windows[i].input_region = r.map(|r| {
                    r.iter()
                        .map(|r| crate::seat::Rect::new(r.x, r.y, r.w, r.h))
                        .collect()
                });
                return Ok(());
            }
            WindowChange::Focus => {
                self.focus(Some(id));
                return Ok(());
            }
        }
        let i = self.owned_window(who, id)?;
        let after = self.window_rect(&self.windows[i]);
        let now_visible = self.windows[i].visible;
        for (r, shown) in [(before, was_visible), (after, now_visible)] {
            if let (Some(r), true) = (r, shown) {
                self.damage(r);
            }
        }
        Ok(())
    }

    /// The glass of output `output` (`None`: the first) in a memfd.
    fn screenshot_fd(&self, output: Option<&str>) -> fusion::Result<(Reply, OwnedFd)> {
        let i = match output {
            None => 0,
            Some(name) => self.output_named(name).ok_or_else(|| {
                Error::NotFound(format!(
                    "output {name:?} (the outputs are {})",
                    self.output_names()
                ))
            })?,
        };
        let img = self.screenshot_output(i).map_err(|e| match e {
            super::ServerError::Fusion(e) => e,
            super::ServerError::Backend(e) => super::backend_failure("taking a screenshot", e),
            other => fusion::Error::io(
                "taking a screenshot",
                &std::io::Error::other(other.to_string()),
            ),
        })?;
        let fd = fusionfb_sys::memfd_create("fusionfb/screenshot", img.data.len().max(1))?;
        let map = fusionfb_sys::Mapping::new(fd.as_fd(), img.data.len().max(1), true)?;
        map.write(0, &img.data);
        Ok((
            Reply::Screenshot {
                width: img.width,
                height: img.height,
                pitch: img.pitch as u32,
                format: proto::FORMAT_XRGB8888,
            },
            fd,
        ))
    }
}
