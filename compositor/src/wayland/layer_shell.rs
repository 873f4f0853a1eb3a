//! `zwlr_layer_shell_v1`: panels, backgrounds, notifications and on-screen keyboards.
//!
//! A layer surface is configured on its first commit, and again whenever what any of them
//! asked for changes: [`WaylandState::rearrange`] runs [`super::arrange`] over all of them,
//! sends each the size it gets (where it changed), and, when the exclusive zones moved the
//! usable area, configures the toplevels again ([`super::placement`]). Every layer surface
//! is on the one output and on the scene's primary layer, in the band of its shell layer.

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
        let output = (self.size.0 as i32, self.size.1 as i32).into();
        let arranged = arrange(output, &requests);
        for ((l, rect), new) in self.layer_surfaces.iter_mut().zip(&arranged.rects) {
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
        _output: Option<WlOutput>,
        layer: Layer,
        namespace: String,
    ) {
        debug!(?layer, namespace, "wayland: new layer surface");
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
