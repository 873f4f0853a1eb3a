//! `zwlr_layer_shell_v1`: panels, backgrounds, notifications and on-screen keyboards.
//!
//! A layer surface is configured on its first commit, and again whenever what any of them
//! asked for changes: [`WaylandState::rearrange`] runs [`super::arrange`] over all of them,
//! sends each the size it gets (where it changed), and, when the exclusive zones moved the
//! usable area, configures the toplevels again ([`super::placement`]). A layer surface is on
//! the output its client named when making it (a panel per monitor), else on the first; each
//! output's surfaces are arranged on that output, at its place in the layout. Only the first
//! output's exclusive zones make the usable area toplevels are maximized to (a toplevel a rule
//! puts on another output fills that output). Every layer surface is on the scene's primary
//! layer, in the band of its shell layer.

use smithay::delegate_layer_shell;
use smithay::reexports::wayland_server::protocol::wl_output::WlOutput;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::Rectangle;
use smithay::wayland::compositor;
use smithay::wayland::shell::wlr_layer::{
    Layer, LayerSurface, LayerSurfaceCachedState, LayerSurfaceData, WlrLayerShellHandler,
    WlrLayerShellState,
};
use smithay::wayland::shell::xdg::PopupSurface;
use tracing::debug;

use super::arrange::{arrange, Request};
use super::state::WaylandState;

impl WaylandState {
    /// Whether `s` is a layer surface's.
    pub fn is_layer_surface(&self, s: &WlSurface) -> bool {
        self.layer_surfaces.iter().any(|(l, _)| l.wl_surface() == s)
    }

    /// Places every layer surface again (see the module docs). A surface gets its first
    /// configure on its first commit, `committed`: the others not configured yet are
    /// placed but told nothing.
    pub fn rearrange(&mut self, committed: Option<&WlSurface>) {
        self.layer_surfaces.retain(|(l, _)| l.alive());
        let alive: Vec<WlSurface> = self
            .layer_surfaces
            .iter()
            .map(|(l, _)| l.wl_surface().clone())
            .collect();
        self.layer_outputs.retain(|(s, _)| alive.contains(s));
        let requests: Vec<Request> = self
            .layer_surfaces
            .iter()
            .map(|(l, _)| {
                compositor::with_states(l.wl_surface(), |st| {
                    let mut c = st.cached_state.get::<LayerSurfaceCachedState>();
                    let c = c.current();
                    Request {
                        layer: c.layer,
                        anchor: c.anchor,
                        size: c.size,
                        margin: c.margin,
                        zone: c.exclusive_zone,
                    }
                })
            })
            .collect();
        // Each surface's output: an index into `other_outputs`, or `None` for the first.
        let on: Vec<Option<usize>> = alive
            .iter()
            .map(|s| {
                let (_, name) = self.layer_outputs.iter().find(|(x, _)| x == s)?;
                self.other_outputs
                    .iter()
                    .position(|o| o.place.name == *name)
            })
            .collect();
        // The first output's surfaces, then each other output's, arranged on their output.
        let output = (self.size.0 as i32, self.size.1 as i32).into();
        let group =
            |k: Option<usize>| -> Vec<usize> { (0..on.len()).filter(|&i| on[i] == k).collect() };
        let firsts = group(None);
        let reqs: Vec<Request> = firsts.iter().map(|&i| requests[i]).collect();
        let arranged = arrange(output, &reqs);
        let mut rects = vec![Rectangle::default(); requests.len()];
        for (&i, r) in firsts.iter().zip(&arranged.rects) {
            rects[i] = *r;
        }
        for (k, o) in self.other_outputs.iter().enumerate() {
            let mine = group(Some(k));
            if mine.is_empty() {
                continue;
            }
            let reqs: Vec<Request> = mine.iter().map(|&i| requests[i]).collect();
            let size = (o.place.size.0 as i32, o.place.size.1 as i32).into();
            let (x, y) = o.place.at;
            for (&i, r) in mine.iter().zip(arrange(size, &reqs).rects) {
                rects[i] = Rectangle::new((r.loc.x + x, r.loc.y + y).into(), r.size);
            }
        }
        for ((l, rect), new) in self.layer_surfaces.iter_mut().zip(&rects) {
            *rect = *new;
            if !configured(l) && committed != Some(l.wl_surface()) {
                continue;
            }
            l.with_pending_state(|s| s.size = Some(new.size));
            l.send_pending_configure();
        }
        if arranged.usable != self.usable {
            debug!(usable = ?arranged.usable, "wayland: the usable area changed");
            self.usable = arranged.usable;
            self.reconfigure_toplevels();
        }
        self.toplevels_changed = true;
    }

    /// A layer surface committed: configures it (the first time) and places them all again.
    pub(crate) fn layer_committed(&mut self, s: &WlSurface) {
        self.rearrange(Some(s));
    }
}

/// Whether the layer surface had its first configure (smithay keeps that).
fn configured(l: &LayerSurface) -> bool {
    compositor::with_states(l.wl_surface(), |st| {
        st.data_map
            .get::<LayerSurfaceData>()
            .and_then(|d| d.lock().ok())
            .is_some_and(|d| d.initial_configure_sent)
    })
}

impl WlrLayerShellHandler for WaylandState {
    fn shell_state(&mut self) -> &mut WlrLayerShellState {
        &mut self.layer_shell
    }

    fn new_layer_surface(
        &mut self,
        surface: LayerSurface,
        output: Option<WlOutput>,
        layer: Layer,
        namespace: String,
    ) {
        debug!(?layer, namespace, "wayland: new layer surface");
        // On the output the client named, if it is another than the first.
        let name = output
            .as_ref()
            .and_then(smithay::output::Output::from_resource)
            .map(|o| o.name())
            .filter(|n| self.other_outputs.iter().any(|o| o.place.name == *n));
        if let Some(name) = name {
            self.layer_outputs
                .push((surface.wl_surface().clone(), name));
        }
        self.layer_surfaces.push((surface, Rectangle::default()));
    }

    fn new_popup(&mut self, _parent: LayerSurface, popup: PopupSurface) {
        // The popup is already known (xdg_surface.get_popup with no parent, then
        // get_popup here): place it now that it has a parent.
        self.position_popup(&popup);
        let _ = popup.send_configure();
    }

    fn layer_destroyed(&mut self, surface: LayerSurface) {
        self.layer_surfaces
            .retain(|(l, _)| l.wl_surface() != surface.wl_surface());
        self.rearrange(None);
    }
}

delegate_layer_shell!(WaylandState);
