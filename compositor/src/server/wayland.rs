//! Wayland clients in the scene: what `crate::wayland` recorded, carried into the server's
//! surfaces and windows, and the seat's decisions carried back out to the clients.
//!
//! Each turn of the loop, after the display was dispatched ([`Server::wayland_turn`]):
//!
//! 1. **Commits.** For each committed surface tree (a toplevel's surface and its
//!    subsurfaces; a synchronized subsurface's state arrives with its parent's commit), each
//!    surface's new `wl_shm` buffer is copied (the damaged part) into the scene surface that
//!    shows it — made the first time, remade when the size or format changes — and given
//!    back with the frame that shows the commit, in the same message as its frame callbacks
//!    (at once when no frame is coming: [`Server::wayland_settle`]); a dma-buf is shown as
//!    it is and released later ([`dmabuf`]);
//!    the damage goes to the scene where its window is, as a native flip's does, and the
//!    surface is counted in the next frame (`flipped`), which makes that frame happen.
//!    `wl_surface.frame` callbacks and `wp_presentation` feedback wait for the frame after
//!    the commit to be presented ([`Server::wayland_presented`]): clients are paced by the
//!    display as native ones are.
//! 2. **Placement.** Every placed root's surfaces that have a buffer are windows
//!    (`crate::wayland::placement` says where: the layer, the position, the band —
//!    layer-shell surfaces under or over the windows, fullscreen toplevels over panels,
//!    popups over everything), kept together in the stack in their tree's order
//!    (subsurfaces above or below their parent as placed). A new toplevel comes on top
//!    and takes the keyboard focus. Surfaces that left every tree (destroyed, their client
//!    gone, a popup dismissed) leave the scene. Placement runs when the shell's handlers
//!    say something changed, or when a commit changed what placement reads of its tree
//!    (`TreeShape`: the window geometry, the subsurfaces' offsets, which surfaces are
//!    shown); a commit of new pixels alone, an animation's every frame, does not place.
//!
//! Input: the seat routes to windows; a window showing a Wayland surface gets the event
//! through `wl_touch`/`wl_pointer` on that surface, with the same local coordinates a native
//! window would get, and the keyboard focus of a Wayland window goes to its toplevel's
//! surface.
//!
//! A touch going down or a button pressed anywhere but on the grabbing client's popups
//! dismisses its popups ([`Server::wayland_pressed`]), as a menu closes on a tap beside it.
//!
//! The input side (touch, pointer, keys, virtual keys, cursors, activation) is in
//! [`input`]; what `fusionfb status` shows of the frontend in [`status`].

use std::collections::HashMap;
use std::time::Duration;

use fusion::wire::MASTER_ID;
use fusionfb_protocol::{self as proto, Reply};
use gfx_drivers::backend::{OutputId, PlaneKind};
use gfx_drivers::Buffer;
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::reexports::wayland_server::backend::protocol::{Interface, ProtocolError};
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_callback::WlCallback;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::{Client, DisplayHandle};
use smithay::wayland::compositor::{
    self, BufferAssignment, Damage, SubsurfaceCachedState, SurfaceAttributes, TraversalAction,
};
use smithay::wayland::presentation::{
    PresentationFeedbackCachedState, PresentationFeedbackCallback, Refresh,
};
use tracing::{debug, warn};

use super::{Band, Server, ServerError};
use crate::wayland::shm;
use crate::wayland::{Wayland, WaylandConfig, WaylandReady};
use fusionfb_types::geometry::{Buffer as BufferSpace, Rect};

mod dmabuf;
mod input;
mod status;

/// The most surfaces one Wayland client may show at once (the scene's windows are the
/// master's, so a client flooding it would crowd out the others): past it the client is
/// disconnected with `wl_display`'s `no_memory` error.
pub const MAX_SHOWN_PER_CLIENT: usize = 64;

pub use crate::wayland::MAX_SIDE;

/// The server's side of the frontend (a field of [`Server`]).
#[derive(Debug)]
pub(crate) struct WaylandScene {
    pub front: Wayland,
    /// Each `wl_surface` shown in the scene.
    shown: HashMap<WlSurface, Shown>,
    /// Frame callbacks and the frame (the server's frame count) whose presentation answers
    /// them.
    callbacks: Vec<(Due, WlCallback)>,
    /// Presentation feedback: the frame that shows the commit, the surface, the feedback.
    feedback: Vec<(Due, WlSurface, PresentationFeedbackCallback)>,
    /// A toplevel mapped in this turn, to take the keyboard focus once the turn is done.
    focus: Option<u32>,
    /// Whether a virtual keyboard holds Shift.
    virtual_shift: bool,
    /// The master's copies of small surfaces no shell placed (cursor pictures), by surface.
    loose: HashMap<WlSurface, Buffer>,
    /// The surface a client asked to be its cursor (`wl_pointer.set_cursor`).
    cursor_surface: Option<WlSurface>,
    /// Clients' dma-bufs imported through the backend, by buffer ([`dmabuf`]).
    dmabufs: HashMap<smithay::backend::allocator::dmabuf::Dmabuf, Buffer>,
    /// Clients' buffers the scene no longer shows, released once nothing reads them.
    releasing: Vec<(WlBuffer, Buffer)>,
    /// Clients' buffers already copied (or refused), given back with the frame that shows
    /// the commit, beside its callbacks: a client then wakes once per frame for both, not
    /// once for the release and again for the frame. When no frame is coming on that output
    /// (blanked, nothing in flight or scheduled) they go back at the end of the turn
    /// ([`Server::wayland_settle`]).
    copied: Vec<(Due, WlBuffer)>,
    /// Each shown root's tree as its last commit left it (what placement reads of it that a
    /// commit can change): a commit that leaves it as it was needs no placement.
    shapes: HashMap<WlSurface, TreeShape>,
}

/// What placement reads of a root's tree that the tree's commits can change: the root's
/// window geometry corner, and each surface of the tree in stacking order with its offset
/// from the root and whether the scene shows it. Everything else placement reads (the
/// toplevels, popups and layer surfaces there are, fullscreen, rules, outputs, the usable
/// area) changes through the shell's handlers, which set `toplevels_changed`.
#[derive(Debug)]
struct TreeShape {
    geometry: (i32, i32),
    surfaces: Vec<(WlSurface, (i32, i32), bool)>,
}

impl WaylandScene {
    /// Gives back the copied buffers whose frame `keep` does not wait for; whether any went.
    ///
    /// No `is_alive` check: it takes the display's lock once more per buffer, and the event
    /// to a buffer the client already destroyed is dropped by the display anyway (the list
    /// is bounded by the frames in flight, so a dead one waits for its frame at no cost).
    fn give_back(&mut self, keep: impl Fn(&Due) -> bool) -> bool {
        let before = self.copied.len();
        self.copied.retain(|(frame, b)| {
            if keep(frame) {
                return true;
            }
            b.release();
            false
        });
        self.copied.len() != before
    }

    /// Scene surface `id` no longer shows a client's wl_shm buffer as it is: that buffer
    /// goes back with `frame`. Whether it did show one.
    fn stop_direct(&mut self, id: u32, frame: Due) -> bool {
        let Some((old, _)) = self.front.state.direct.remove(&id) else {
            return false;
        };
        self.copied.push((frame, old));
        true
    }
}

/// The largest side of a cursor picture the master takes.
const MAX_CURSOR: u32 = 256;

/// A `wl_surface` in the scene.
#[derive(Debug)]
struct Shown {
    /// The scene's surface (its one buffer is the master's copy).
    surface: u32,
    /// The window showing it.
    window: u32,
    /// The toplevel's surface it belongs to (itself for a toplevel).
    root: WlSurface,
    /// The client's buffer the scene shows as it is (a dma-buf, [`dmabuf`]), held until
    /// another replaces it; `None` when the scene shows the master's copy.
    held: Option<(WlBuffer, Buffer)>,
}

/// The frame whose presentation answers a commit's callbacks: the output's, and its frame
/// count then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    output: OutputId,
    frame: u64,
}

/// What a commit left in a surface's current state.
struct Committed {
    buffer: Option<BufferAssignment>,
    damage: Vec<Damage>,
    callbacks: Vec<WlCallback>,
    feedback: Vec<PresentationFeedbackCallback>,
}

impl Server {
    /// Starts the Wayland frontend: binds its socket and puts it on the master's loop.
    pub fn start_wayland(&mut self, cfg: &WaylandConfig) -> Result<(), ServerError> {
        let refresh = self
            .backend
            .output(self.outputs[0].id)
            .map(|o| o.current_mode.refresh_mhz)
            .unwrap_or(60_000);
        let device = self.backend.device_id();
        let name = self.outputs[0].name.clone();
        let (front, source) = Wayland::new(cfg, &name, self.size(), refresh, device)
            .map_err(|e| ServerError::Other(e.to_string()))?;
        self.handle
            .insert_source(source, |ready, _, s: &mut Server| s.wayland_ready(ready))
            .map_err(|e| super::loop_error(e.error))?;
        self.wayland = Some(WaylandScene {
            front,
            shown: HashMap::new(),
            callbacks: Vec::new(),
            feedback: Vec::new(),
            focus: None,
            virtual_shift: false,
            loose: HashMap::new(),
            cursor_surface: None,
            dmabufs: HashMap::new(),
            releasing: Vec::new(),
            copied: Vec::new(),
            shapes: HashMap::new(),
        });
        self.wayland_outputs_changed();
        Ok(())
    }

    /// Tells the Wayland frontend the outputs there are now (one `wl_output` each).
    pub(crate) fn wayland_outputs_changed(&mut self) {
        let places: Vec<crate::wayland::output::OutputPlace> = self
            .outputs
            .iter()
            .map(|o| crate::wayland::output::OutputPlace {
                name: o.name.clone(),
                at: o.origin,
                size: (o.width, o.height),
                refresh_mhz: o.refresh_mhz,
            })
            .collect();
        if let Some(w) = self.wayland.as_mut() {
            w.front.set_outputs(&places);
        }
    }

    /// The Wayland socket, when the frontend runs: its path and what clients put in
    /// `WAYLAND_DISPLAY`.
    pub fn wayland_socket(&self) -> Option<crate::wayland::socket::SocketPlace> {
        self.wayland.as_ref().map(|w| w.front.socket.clone())
    }

    /// A reloaded keymap for the Wayland clients.
    pub(crate) fn wayland_set_keyboard(&mut self, kb: &crate::config::Keyboard) {
        if let Some(w) = self.wayland.as_mut() {
            if let Err(e) = crate::wayland::seat::set_keymap(&mut w.front.state, kb) {
                warn!("reload: the Wayland keymap stays: {e}");
            }
        }
    }

    /// Reloaded placement rules, for the toplevels placed from now on.
    pub(crate) fn wayland_set_rules(&mut self, rules: Vec<crate::config::WaylandRule>) {
        if let Some(w) = self.wayland.as_mut() {
            w.front.state.rules = rules;
        }
    }

    fn wayland_ready(&mut self, ready: WaylandReady) {
        let Some(w) = self.wayland.as_mut() else {
            return;
        };
        match ready {
            WaylandReady::Client(stream) => w.front.accept(stream),
            WaylandReady::Display => w.front.dispatch(),
        }
    }

    /// After the loop's sources ran: carries the clients' commits into the scene, places
    /// the toplevels, and sends what was queued for the clients (see the module docs).
    pub(crate) fn wayland_turn(&mut self) {
        let Some(mut w) = self.wayland.take() else {
            return;
        };
        let gone = w.front.reap();
        let commits = std::mem::take(&mut w.front.state.commits);
        let changed = std::mem::take(&mut w.front.state.toplevels_changed);
        let mut roots: Vec<WlSurface> = Vec::new();
        for s in commits {
            if !s.is_alive() {
                continue;
            }
            let root = root_of(&s);
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        let mut reshaped = false;
        for root in &roots {
            reshaped |= self.wayland_commit_tree(&mut w, root);
        }
        // A commit that only brought new pixels (an animation's every frame) leaves the
        // placement as it was.
        if gone || changed || reshaped {
            self.wayland_place(&mut w);
        }
        if w.front.reap() {
            self.wayland_place(&mut w);
        }
        if let Some(asked) = w.front.state.cursor.take() {
            self.wayland_cursor(&mut w, asked);
        }
        w.loose.retain(|s, _| s.is_alive());
        // Buffers of scene surfaces that are gone go back at once.
        let surfaces = &self.surfaces;
        w.front.state.direct.retain(|id, (b, _)| {
            let kept = surfaces.contains_key(id);
            if !kept && b.is_alive() {
                b.release();
            }
            kept
        });
        Self::wayland_release_buffers(&mut w);
        let activations = std::mem::take(&mut w.front.state.activations);
        if !activations.is_empty() {
            self.wayland_activate(&mut w, activations);
        }
        let keys = std::mem::take(&mut w.front.state.virtual_keys);
        let copies = std::mem::take(&mut w.front.state.screencopies);
        if !copies.is_empty() {
            self.wayland_screencopies(copies);
        }
        let focus = w.focus.take();
        self.wayland = Some(w);
        if focus.is_some() {
            self.focus(focus);
        }
        if !keys.is_empty() {
            self.type_virtual_keys(&keys);
        }
        if let Some(w) = self.wayland.as_mut() {
            w.front.flush();
        }
    }

    /// The end of a turn, once frames are scheduled: the copied buffers go back now when no
    /// presentation is coming to carry them (the display is blanked, or nothing changed on
    /// any output), and what that queued is sent.
    pub(crate) fn wayland_settle(&mut self) {
        let Some(w) = self.wayland.as_mut() else {
            return;
        };
        if w.copied.is_empty() {
            return;
        }
        let blanked = self.blanking.blanked;
        let outputs = &self.outputs;
        let coming = |d: &Due| {
            !blanked
                && outputs
                    .iter()
                    .any(|o| o.id == d.output && (o.in_flight || o.compose_at.is_some()))
        };
        if w.give_back(coming) {
            w.front.flush();
        }
    }

    /// Sends Wayland clients what was queued for them.
    pub(crate) fn wayland_flush(&mut self) {
        if let Some(w) = self.wayland.as_mut() {
            w.front.flush();
        }
    }

    /// Answers screencopies: each buffer gets the region of the glass it asked for (the
    /// picture `fusionfb screenshot` takes), then `flags` and `ready`; a buffer that does
    /// not fit gets `failed`.
    fn wayland_screencopies(&mut self, copies: Vec<crate::wayland::screencopy::PendingCopy>) {
        let glass = self.screenshot();
        let now = fusionfb_sys::now_ns();
        for c in copies {
            if !c.frame.is_alive() {
                continue;
            }
            let written = match &glass {
                Ok(g) => {
                    let r = c.region;
                    let part = g.crop(r.x, r.y, r.w, r.h);
                    crate::wayland::shm::write(&c.buffer, &part).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match written {
                Ok(()) => {
                    use smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::zwlr_screencopy_frame_v1::Flags;
                    c.frame.flags(Flags::empty());
                    let secs = now / 1_000_000_000;
                    c.frame.ready(
                        (secs >> 32) as u32,
                        (secs & 0xffff_ffff) as u32,
                        (now % 1_000_000_000) as u32,
                    );
                }
                Err(e) => {
                    debug!("wayland: screencopy failed: {e}");
                    c.frame.failed();
                }
            }
        }
    }

    /// Carries the commits of `root`'s tree into the scene; whether the tree's shape
    /// ([`TreeShape`]) changed, so that the windows must be placed again.
    fn wayland_commit_tree(&mut self, w: &mut WaylandScene, root: &WlSurface) -> bool {
        // Only the trees of surfaces a shell placed (toplevels, popups, layer surfaces)
        // are shown.
        let toplevel = w.front.state.has_role(root);
        let mut tree: Vec<(WlSurface, (i32, i32))> = Vec::new();
        compositor::with_surface_tree_upward(
            root,
            (0, 0),
            |_, st, &at| TraversalAction::DoChildren(own_location(st, at)),
            |s, st, &at| tree.push((s.clone(), own_location(st, at))),
            |_, _, _| true,
        );
        for (s, _) in &tree {
            let s = s.clone();
            let c = take_committed(&s);
            // Frame callbacks are answered with the frame after this commit, on the output
            // the tree is shown on (the first while it is shown nowhere yet).
            let i = w
                .shown
                .get(root)
                .map_or(0, |sh| self.output_of_surface(sh.surface));
            let frame = Due {
                output: self.outputs[i].id,
                frame: self.outputs[i].frames + 1,
            };
            w.callbacks
                .extend(c.callbacks.into_iter().map(|cb| (frame, cb)));
            if !c.feedback.is_empty() {
                // An earlier commit of the same surface for the same frame is never seen.
                let (replaced, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut w.feedback)
                    .into_iter()
                    .partition(|(f, surface, _)| *f == frame && surface == &s);
                w.feedback = kept;
                for (_, _, fb) in replaced {
                    fb.discarded();
                }
                let shown = toplevel && !matches!(c.buffer, Some(BufferAssignment::Removed));
                for fb in c.feedback {
                    if shown {
                        w.feedback.push((frame, s.clone(), fb));
                    } else {
                        fb.discarded();
                    }
                }
            }
            match c.buffer {
                Some(BufferAssignment::NewBuffer(buffer)) => {
                    let held = if toplevel {
                        self.wayland_new_buffer(w, &s, root, &buffer, &c.damage, frame)
                    } else {
                        if &s == root {
                            self.wayland_loose_buffer(w, &s, &buffer);
                        }
                        false
                    };
                    if !held {
                        w.copied.push((frame, buffer));
                    }
                }
                Some(BufferAssignment::Removed) => self.wayland_unshow(w, &s),
                None => {}
            }
            // The next frame happens (and answers the callbacks) even without damage.
            if let Some(shown) = w.shown.get(&s) {
                self.mark_flipped(shown.surface);
            }
        }
        if !toplevel {
            return false;
        }
        let geometry = crate::wayland::placement::geometry_of(root).into();
        let shown = &w.shown;
        let same = w.shapes.get(root).is_some_and(|old| {
            old.geometry == geometry
                && old.surfaces.len() == tree.len()
                && old
                    .surfaces
                    .iter()
                    .zip(&tree)
                    .all(|((s0, at0, shown0), (s, at))| {
                        s0 == s && at0 == at && *shown0 == shown.contains_key(s)
                    })
        });
        if same {
            return false;
        }
        let surfaces = tree
            .into_iter()
            .map(|(s, at)| {
                let shown = w.shown.contains_key(&s);
                (s, at, shown)
            })
            .collect();
        w.shapes
            .insert(root.clone(), TreeShape { geometry, surfaces });
        true
    }

    /// Carries a newly attached buffer of `s` into the scene: a wl_shm buffer as it is
    /// (composed straight from the client's pool, `WaylandState::direct`), a copy of a
    /// viewport's crop, or a dma-buf as it is. Returns whether the scene holds the client's
    /// buffer (then it is released once replaced: with the frame `frame` that shows its
    /// successor, or later for a dma-buf, [`WaylandScene::releasing`]).
    fn wayland_new_buffer(
        &mut self,
        w: &mut WaylandScene,
        s: &WlSurface,
        root: &WlSurface,
        buffer: &WlBuffer,
        damage: &[Damage],
        frame: Due,
    ) -> bool {
        let dma = match smithay::wayland::dmabuf::get_dmabuf(buffer) {
            Ok(d) => match self.wayland_import(w, d) {
                Ok(b) => Some(b),
                Err(e) => {
                    debug!("wayland: dma-buf not shown: {e}");
                    return false;
                }
            },
            Err(_) => None,
        };
        let described = match &dma {
            Some(b) => Ok((b.width(), b.height(), b.format())),
            None => shm::describe(buffer),
        };
        let (buffer_w, buffer_h, format) = match described {
            Ok(d) => d,
            Err(e) => {
                debug!("wayland: buffer not shown: {e}");
                return false;
            }
        };
        // wp_viewporter: a crop of the buffer, shown at another size (the copy has that
        // size; see `wayland/viewport.rs`).
        let Ok(viewport) = crate::wayland::viewport::of(s, (buffer_w, buffer_h)) else {
            return false;
        };
        let (width, height) = viewport.map_or((buffer_w, buffer_h), |(_, shown)| shown);
        if let Some(limit) = [(buffer_w, buffer_h), (width, height)]
            .into_iter()
            .find_map(|size| self.wayland_too_big(size))
        {
            if let Some(client) = s.client() {
                warn!("wayland: a client's surface is too large ({limit}): disconnected");
                display_error(&w.front.state.dh, &client, &limit);
            }
            return false;
        }
        if let (Some(b), None) = (&dma, viewport) {
            if let Some(id) = w.shown.get(s).map(|sh| sh.surface) {
                w.stop_direct(id, frame);
            }
            return self.wayland_show_held(w, s, root, buffer, b.clone(), damage);
        }
        // The master's copy: the one it has if it still fits, else a new one.
        if let Some(held) = w.shown.get_mut(s).and_then(|sh| sh.held.take()) {
            w.releasing.push(held);
        }
        let existing = w.shown.get(s).and_then(|sh| {
            let b = self.surfaces.get(&sh.surface)?.buffers.first()?;
            (b.width() == width && b.height() == height && b.format() == format)
                .then(|| (sh.surface, b.clone()))
        });
        let (id, copy, mut whole) = match existing {
            Some((id, b)) => (id, b, false),
            None => {
                let b = match Buffer::new_memfd(width, height, format) {
                    Ok(b) => b,
                    Err(e) => {
                        warn!("wayland: no copy of a {width}x{height} buffer: {e}");
                        return false;
                    }
                };
                match w.shown.get(s).map(|sh| sh.surface) {
                    Some(id) => {
                        // Resized: the window shows the new copy; both sizes are damaged.
                        self.damage_surface_windows(id, None);
                        if let Some(st) = self.surfaces.get_mut(&id) {
                            st.buffers = vec![b.clone()];
                        }
                        (id, b, true)
                    }
                    None => match self.wayland_show(w, s, root, b.clone()) {
                        Some(id) => (id, b, true),
                        None => return false,
                    },
                }
            }
        };
        let areas = damage_areas(damage);
        let direct = viewport.is_none() && dma.is_none();
        if direct {
            // Shown as it is: the frames read the client's pool. The buffer it replaces goes
            // back with the frame that shows this one.
            let before = w
                .front
                .state
                .direct
                .insert(id, (buffer.clone(), copy.clone()));
            if let Some((old, _)) = before.filter(|(old, _)| old != buffer) {
                w.copied.push((frame, old));
            }
        } else if w.stop_direct(id, frame) {
            // The copy is as old as the last copied commit: all of it is written now.
            whole = true;
        }
        let copied = match (viewport, &dma) {
            (Some((crop, _)), Some(b)) => {
                whole = true;
                scaled_copy(&b.snapshot(), crop, &copy)
            }
            (Some((crop, _)), None) => {
                whole = true;
                shm::read(buffer, crop)
                    .map_err(|e| e.to_string())
                    .and_then(|part| {
                        let all = Rect::new(0, 0, part.width, part.height);
                        scaled_copy(&part, all, &copy)
                    })
            }
            // A wl_shm buffer is shown as it is (above); a dma-buf without a viewport is
            // held as it is (further above).
            (None, _) => Ok(()),
        };
        if let Err(e) = copied {
            debug!("wayland: buffer not copied: {e}");
            return false;
        }
        let Some(st) = self.surfaces.get_mut(&id) else {
            return false;
        };
        st.front = Some(0);
        st.flips = st.flips.wrapping_add(1);
        let rects = scene_damage(whole, &areas, (width, height));
        self.damage_surface_windows(id, Some(&rects));
        direct
    }

    /// The client's wl_shm buffer that scene surface `id` shows as it is, if it does.
    pub(crate) fn wayland_direct(&self, id: u32) -> Option<WlBuffer> {
        let w = self.wayland.as_ref()?;
        w.front.state.direct.get(&id).map(|(b, _)| b.clone())
    }

    /// Damages where the windows of scene surface `id` show `rects` of it (all of it for
    /// `None`).
    fn damage_surface_windows(&mut self, id: u32, rects: Option<&[proto::Rect]>) {
        let Some(b) = self.surfaces.get(&id).and_then(|s| s.buffers.first()) else {
            return;
        };
        let full = [proto::Rect::new(0, 0, b.width(), b.height())];
        let rects = rects.unwrap_or(&full);
        for r in self.surface_spots(id, rects) {
            self.damage(r);
        }
    }

    /// Makes `s` a surface and window of the scene showing `copy`; the scene surface's id.
    fn wayland_show(
        &mut self,
        w: &mut WaylandScene,
        s: &WlSurface,
        root: &WlSurface,
        copy: Buffer,
    ) -> Option<u32> {
        let client = s.client()?;
        if !client
            .get_data::<crate::wayland::state::ClientState>()
            .is_some_and(|c| c.alive())
        {
            return None;
        }
        let theirs = w
            .shown
            .keys()
            .filter(|x| x.client().is_some_and(|c| c.id() == client.id()))
            .count();
        if theirs >= MAX_SHOWN_PER_CLIENT {
            warn!(
                "wayland: a client shows more than {MAX_SHOWN_PER_CLIENT} surfaces: disconnected"
            );
            display_error(
                &w.front.state.dh,
                &client,
                &format!("more than {MAX_SHOWN_PER_CLIENT} surfaces shown"),
            );
            return None;
        }
        let (info, _fds) = match self.register_surface(MASTER_ID, vec![copy]) {
            Ok(r) => r,
            Err(e) => {
                warn!("wayland: surface not shown: {e}");
                return None;
            }
        };
        let placed = w
            .front
            .state
            .placement()
            .into_iter()
            .find(|p| &p.root == root);
        let primary = self
            .layers
            .iter()
            .find(|l| l.spec.kind == PlaneKind::Primary)
            .map(|l| l.spec.id)
            .unwrap_or(0);
        let layer = placed
            .as_ref()
            .and_then(|p| p.layer)
            .filter(|l| self.layers.iter().any(|x| x.spec.id == *l))
            .unwrap_or(primary);
        let window = match self.window_create(MASTER_ID, info.id, layer, 0, 0, 255, true) {
            Ok(Reply::Window(win)) => win.id,
            Ok(_) => return None,
            Err(e) => {
                warn!("wayland: window not made: {e}");
                self.remove_surface(info.id);
                return None;
            }
        };
        w.shown.insert(
            s.clone(),
            Shown {
                surface: info.id,
                window,
                root: root.clone(),
                held: None,
            },
        );
        if let Some(p) = &placed {
            self.set_band(window, p.band, p.focusable);
            if s == root && p.takes_focus {
                // A new toplevel on the glass: it takes the keyboard focus (kiosk), once
                // the frontend is back in place for the focus to reach it.
                w.focus = Some(window);
            }
        }
        Some(info.id)
    }

    /// Places every root's windows (see the module docs) and drops what left the trees.
    fn wayland_place(&mut self, w: &mut WaylandScene) {
        let mut kept: Vec<WlSurface> = Vec::new();
        for placed in w.front.state.placement() {
            let mut tree: Vec<(WlSurface, (i32, i32))> = Vec::new();
            compositor::with_surface_tree_upward(
                &placed.root,
                placed.at,
                |_, st, &(x, y)| {
                    let at = own_location(st, (x, y));
                    TraversalAction::DoChildren(at)
                },
                |s, st, &(x, y)| tree.push((s.clone(), own_location(st, (x, y)))),
                |_, _, _| true,
            );
            let mut order = Vec::new();
            for (s, (x, y)) in tree {
                let Some(shown) = w.shown.get(&s) else {
                    continue;
                };
                kept.push(s.clone());
                order.push(shown.window);
                self.wayland_move(shown.window, x, y);
                self.set_band(shown.window, placed.band, placed.focusable);
            }
            self.stack_together(&order);
        }
        let gone: Vec<WlSurface> = w
            .shown
            .keys()
            .filter(|s| !kept.contains(s))
            .cloned()
            .collect();
        for s in gone {
            self.wayland_unshow(w, &s);
        }
        w.shapes.retain(|root, _| w.shown.contains_key(root));
    }

    /// Puts window `id` in `band` (on top of it, if it moves), and sets whether it takes the
    /// keyboard focus.
    fn set_band(&mut self, id: u32, band: Band, focusable: bool) {
        let Some(i) = self.windows.iter().position(|w| w.id == id) else {
            return;
        };
        self.windows[i].focusable = focusable;
        if self.windows[i].band == band {
            return;
        }
        let mut win = self.windows.remove(i);
        win.band = band;
        if let Some(r) = self.window_rect(&win) {
            self.damage(r);
        }
        let at = self.stack_top(win.layer, band);
        self.windows.insert(at, win);
    }

    /// Moves window `id` to `(x, y)`, damaging where it was and where it goes.
    fn wayland_move(&mut self, id: u32, x: i32, y: i32) {
        let Some(i) = self.windows.iter().position(|w| w.id == id) else {
            return;
        };
        // Placement is in layout coordinates; a window's position is on its layer.
        let (ox, oy) = self.layer_origin(self.windows[i].layer);
        let (x, y) = (x - ox, y - oy);
        if (self.windows[i].x, self.windows[i].y) == (x, y) {
            return;
        }
        let before = self.window_rect(&self.windows[i]);
        self.windows[i].x = x;
        self.windows[i].y = y;
        let after = self.window_rect(&self.windows[i]);
        for r in [before, after].into_iter().flatten() {
            self.damage(r);
        }
    }

    /// Makes `order` (window ids, bottom to top, all on one layer) contiguous in the stack,
    /// in that order, where the lowest of them is.
    fn stack_together(&mut self, order: &[u32]) {
        let at: Vec<usize> = order
            .iter()
            .filter_map(|id| self.windows.iter().position(|w| w.id == *id))
            .collect();
        let Some(&first) = at.iter().min() else {
            return;
        };
        if at.iter().enumerate().all(|(k, &i)| i == first + k) {
            return;
        }
        let mut moved = Vec::new();
        for id in order {
            if let Some(i) = self.windows.iter().position(|w| w.id == *id) {
                moved.push(self.windows.remove(i));
            }
        }
        let first = first.min(self.windows.len());
        for (k, win) in moved.into_iter().enumerate() {
            if let Some(r) = self.window_rect(&win) {
                self.damage(r);
            }
            self.windows.insert(first + k, win);
        }
    }

    /// The frame the server committed last was presented at `time_ns` (vblank `sequence`,
    /// refresh interval `refresh_ns`): answers the frame callbacks and presentation feedback
    /// of the commits it shows.
    pub(crate) fn wayland_presented(
        &mut self,
        i: usize,
        time_ns: u64,
        sequence: u64,
        refresh_ns: u64,
    ) {
        let Some(w) = self.wayland.as_mut() else {
            return;
        };
        let (output, shown) = (self.outputs[i].id, self.outputs[i].frames);
        let outputs = &self.outputs;
        // What waited for this output's frame, and what waited for an output that is gone.
        let is_due = |d: &Due| {
            (d.output == output && d.frame <= shown) || !outputs.iter().any(|o| o.id == d.output)
        };
        let ms = crate::wayland::seat::millis(time_ns);
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut w.feedback)
            .into_iter()
            .partition(|(f, _, _)| is_due(f));
        w.feedback = waiting;
        let refresh = if refresh_ns > 0 {
            Refresh::Fixed(Duration::from_nanos(refresh_ns))
        } else {
            Refresh::Unknown
        };
        // A client's buffer scanned out as it is: zero-copy, as `wp_presentation` says.
        let kind = if self.outputs[i].last_direct {
            wp_presentation_feedback::Kind::Vsync | wp_presentation_feedback::Kind::ZeroCopy
        } else {
            wp_presentation_feedback::Kind::Vsync
        };
        let wl_output = w.front.state.wl_output_named(&self.outputs[i].name);
        for (_, _, fb) in due {
            fb.presented(
                wl_output,
                Duration::from_nanos(time_ns),
                refresh,
                sequence,
                kind,
            );
        }
        Self::wayland_release_buffers(w);
        w.give_back(|frame| !is_due(frame));
        // As in `give_back`: `done` to a callback already gone is dropped by the display.
        w.callbacks.retain(|(frame, cb)| {
            if !is_due(frame) {
                return true;
            }
            cb.done(ms);
            false
        });
    }

    /// Why a surface of `size` is more than a Wayland client may show (`None`: it is
    /// not): a side past [`MAX_SIDE`], or more pixels than four outputs' worth.
    fn wayland_too_big(&self, (w, h): (u32, u32)) -> Option<String> {
        let (ow, oh) = self.size();
        let max_area = 4 * u64::from(ow) * u64::from(oh);
        (w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > max_area).then(|| {
            format!(
                "a {w}x{h} surface is larger than the limit \
                 ({MAX_SIDE} pixels a side, {max_area} pixels in all)"
            )
        })
    }
}

/// The client's `wl_display` as the backend names interfaces (by name: the backend's own
/// description of it is private).
static WL_DISPLAY: Interface = Interface {
    name: "wl_display",
    version: 1,
    requests: &[],
    events: &[],
    c_ptr: None,
};

/// Disconnects `client` with `wl_display.error.no_memory` and `message` (the error event is
/// sent, then the connection closed at the end of the turn).
fn display_error(dh: &DisplayHandle, client: &Client, message: &str) {
    let handle = dh.backend_handle();
    let text = std::ffi::CString::new(message).unwrap_or_default();
    match handle.object_for_protocol_id(client.id(), &WL_DISPLAY, 1) {
        // wl_display.error.no_memory
        Ok(display) => handle.post_error(display, 2, text),
        Err(_) => client.kill(
            dh,
            ProtocolError {
                code: 2,
                object_id: 1,
                object_interface: "wl_display".into(),
                message: message.to_string(),
            },
        ),
    }
}

/// A commit's damage in buffer pixels. Surface damage is buffer damage at scale 1 and no
/// buffer transform (all this frontend offers); a negative size is no damage.
fn damage_areas(damage: &[Damage]) -> Vec<Rect<BufferSpace>> {
    damage
        .iter()
        .map(|d| {
            let (loc, size) = match d {
                Damage::Buffer(r) => (r.loc, (r.size.w, r.size.h)),
                Damage::Surface(r) => ((r.loc.x, r.loc.y).into(), (r.size.w, r.size.h)),
            };
            let side = |v: i32| u32::try_from(v).unwrap_or(0);
            Rect::new(loc.x, loc.y, side(size.0), side(size.1))
        })
        .collect()
}

/// What a commit damaged of a scene surface of `size`: all of it when `whole`, else the
/// `areas` inside it.
fn scene_damage(whole: bool, areas: &[Rect<BufferSpace>], size: (u32, u32)) -> Vec<proto::Rect> {
    let (width, height) = size;
    if whole {
        return vec![proto::Rect::new(0, 0, width, height)];
    }
    areas
        .iter()
        .filter_map(|a| a.clip(width, height))
        .map(|a| a.to_space())
        .collect()
}

/// Copies the `crop` of `image` into `copy`, scaled to its size (a viewport).
fn scaled_copy(
    image: &gfx_drivers::Image,
    crop: Rect<BufferSpace>,
    copy: &Buffer,
) -> Result<(), String> {
    let (w, h, pitch, format) = (copy.width(), copy.height(), copy.pitch(), copy.format());
    copy.with_bytes_mut(|bytes| {
        let mut out = crate::compose::PixelsMut::new(bytes, w, h, pitch, format)
            .map_err(|e| e.to_string())?;
        let crop = (
            f64::from(crop.x),
            f64::from(crop.y),
            f64::from(crop.w),
            f64::from(crop.h),
        );
        crate::compose::scale_into(&image.view(), crop, &mut out).map_err(|e| e.to_string())
    })
    .map_err(|e| e.to_string())?
}

/// The surface at the bottom of `s`'s subsurface chain.
fn root_of(s: &WlSurface) -> WlSurface {
    let mut root = s.clone();
    while let Some(parent) = compositor::get_parent(&root) {
        root = parent;
    }
    root
}

/// A surface's location: its parent's, plus its own offset if it is a subsurface.
fn own_location(st: &compositor::SurfaceData, (x, y): (i32, i32)) -> (i32, i32) {
    if st.role == Some("subsurface") {
        let loc = st
            .cached_state
            .get::<SubsurfaceCachedState>()
            .current()
            .location;
        (x + loc.x, y + loc.y)
    } else {
        (x, y)
    }
}

/// Takes the new buffer, damage and frame callbacks out of what `s` committed.
fn take_committed(s: &WlSurface) -> Committed {
    compositor::with_states(s, |st| {
        let mut attrs = st.cached_state.get::<SurfaceAttributes>();
        let current = attrs.current();
        let buffer = current.buffer.take();
        let damage = std::mem::take(&mut current.damage);
        let callbacks = std::mem::take(&mut current.frame_callbacks);
        drop(attrs);
        let feedback = std::mem::take(
            &mut st
                .cached_state
                .get::<PresentationFeedbackCachedState>()
                .current()
                .callbacks,
        );
        Committed {
            buffer,
            damage,
            callbacks,
            feedback,
        }
    })
}
