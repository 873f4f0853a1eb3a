//! Placement: where each Wayland **root** surface goes on the output, and the configures
//! that tell clients their size.
//!
//! A root is a surface a shell gave a role that puts it on the glass: an `xdg_toplevel`, an
//! `xdg_popup` or a `zwlr_layer_surface_v1` (its subsurfaces go with it). The policy:
//!
//! - **Layer surfaces** sit where [`super::arrange`] puts them, in the band of their layer
//!   (background and bottom under the windows, top and overlay over them). Their exclusive
//!   zones shrink the **usable area**.
//! - **Toplevels** go by the first `[[wayland.rule]]` that matches their app_id: a rectangle
//!   of their own, a layer, fullscreen; else (kiosk) maximized to the usable area. A
//!   toplevel that asks for fullscreen gets the whole output, above panels. When the usable
//!   area changes (a panel or keyboard comes or goes) every maximized toplevel is configured
//!   to the new one.
//! - **Popups** (menus, combo boxes) go where their `xdg_positioner` says relative to their
//!   parent, slid or flipped by smithay's constraint solver so that they stay on the output,
//!   above everything else on their parent's layer.
//!
//! [`WaylandState::placement`] lists the roots bottom to top with their positions; the server
//! moves and stacks the windows showing them (`server/wayland.rs`). Positions are those of
//! the root surface's own origin on the output (its window geometry's corner is where the
//! policy put the window).

use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode as DecorationMode;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Rectangle};
use smithay::wayland::compositor;
use smithay::wayland::shell::wlr_layer::{KeyboardInteractivity, Layer, LayerSurfaceCachedState};
use smithay::wayland::shell::xdg::{
    PopupSurface, SurfaceCachedState, ToplevelSurface, XdgToplevelSurfaceData,
};

use super::state::WaylandState;
use crate::server::Band;

/// Where a root surface goes.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The root surface.
    pub root: WlSurface,
    /// Where its origin is on the output.
    pub at: (i32, i32),
    /// The `[[layer]]` it goes on (`None`: the primary layer).
    pub layer: Option<u32>,
    /// Its band in the stack.
    pub band: Band,
    /// Whether touching or clicking it gives it the keyboard focus.
    pub focusable: bool,
    /// Whether it takes the keyboard focus as it is shown (a new toplevel; a layer surface
    /// asking for exclusive keyboard interactivity).
    pub takes_focus: bool,
}

/// A toplevel's place by the policy.
struct ToplevelPlace {
    rect: Rectangle<i32, Logical>,
    layer: Option<u32>,
    fullscreen: bool,
    maximized: bool,
}

impl WaylandState {
    /// Whether `s` has a role that places it on the glass (toplevel, popup, layer surface).
    pub fn has_role(&self, s: &WlSurface) -> bool {
        self.toplevels.iter().any(|t| t.wl_surface() == s)
            || self.popups.iter().any(|p| p.wl_surface() == s)
            || self.is_layer_surface(s)
    }

    /// Every placed root, bottom to top (by band, then in the order they came). A popup
    /// whose parent is not placed is not either.
    pub fn placement(&self) -> Vec<Placed> {
        let mut out: Vec<Placed> = Vec::new();
        for (l, rect) in &self.layer_surfaces {
            if !l.alive() {
                continue;
            }
            let (layer, interactivity) = compositor::with_states(l.wl_surface(), |st| {
                let mut c = st.cached_state.get::<LayerSurfaceCachedState>();
                let c = c.current();
                (c.layer, c.keyboard_interactivity)
            });
            out.push(Placed {
                root: l.wl_surface().clone(),
                at: (rect.loc.x, rect.loc.y),
                layer: None,
                band: match layer {
                    Layer::Background => Band::Background,
                    Layer::Bottom => Band::Bottom,
                    Layer::Top => Band::Top,
                    Layer::Overlay => Band::Overlay,
                },
                focusable: interactivity != KeyboardInteractivity::None,
                takes_focus: interactivity == KeyboardInteractivity::Exclusive,
            });
        }
        for t in &self.toplevels {
            if !t.alive() {
                continue;
            }
            let p = self.toplevel_place(t);
            let g = geometry_of(t.wl_surface());
            out.push(Placed {
                root: t.wl_surface().clone(),
                at: (p.rect.loc.x - g.x, p.rect.loc.y - g.y),
                layer: p.layer,
                band: if p.fullscreen {
                    Band::Fullscreen
                } else {
                    Band::Normal
                },
                focusable: true,
                takes_focus: true,
            });
        }
        for p in &self.popups {
            if !p.alive() {
                continue;
            }
            let Some(parent) = p.get_parent_surface() else {
                continue;
            };
            let Some(of) = out.iter().find(|x| x.root == parent).cloned() else {
                continue;
            };
            let at = popup_origin(&of, p);
            out.push(Placed {
                root: p.wl_surface().clone(),
                at,
                layer: of.layer,
                band: Band::Popup,
                focusable: true,
                takes_focus: false,
            });
        }
        out.sort_by_key(|p| p.band);
        out
    }

    /// The toplevel's place: by the first rule that matches its app_id, or fullscreen if it
    /// asked, else maximized to the usable area.
    fn toplevel_place(&self, t: &ToplevelSurface) -> ToplevelPlace {
        // No rules (the usual kiosk): no app_id to read (a copy of it per placement).
        let rule = if self.rules.is_empty() {
            None
        } else {
            let app_id = app_id_of(t.wl_surface());
            self.rules.iter().find(|r| r.matches(&app_id))
        };
        // A rule may put it on another output: that output's rectangle in the layout is
        // all of its usable area (layer-shell panels are on the first).
        let other = rule
            .and_then(|r| r.output.as_deref())
            .and_then(|name| self.other_outputs.iter().find(|o| o.place.name == name))
            .map(|o| {
                let (x, y) = o.place.at;
                let (w, h) = o.place.size;
                Rectangle::<i32, Logical>::new((x, y).into(), (w as i32, h as i32).into())
            });
        let output = other.unwrap_or_else(|| {
            Rectangle::from_size((self.size.0 as i32, self.size.1 as i32).into())
        });
        let usable = other.unwrap_or(self.usable);
        let asked_fullscreen = self.fullscreen.contains(t.wl_surface());
        let layer = rule.and_then(|r| r.layer);
        if rule.is_some_and(|r| r.fullscreen) || asked_fullscreen {
            return ToplevelPlace {
                rect: output,
                layer,
                fullscreen: true,
                maximized: false,
            };
        }
        if let Some([w, h]) = rule.and_then(|r| r.size) {
            let [x, y] = rule
                .and_then(|r| r.position)
                .map(|[x, y]| [x + output.loc.x, y + output.loc.y])
                .unwrap_or([usable.loc.x, usable.loc.y]);
            let size = (
                i32::try_from(w).unwrap_or(i32::MAX),
                i32::try_from(h).unwrap_or(i32::MAX),
            );
            return ToplevelPlace {
                rect: Rectangle::new((x, y).into(), size.into()),
                layer,
                fullscreen: false,
                maximized: false,
            };
        }
        ToplevelPlace {
            rect: usable,
            layer,
            fullscreen: false,
            maximized: true,
        }
    }

    /// Sets what the toplevel is to be configured to (size, states, server-side
    /// decorations); the caller sends the configure.
    pub fn configure_toplevel(&self, t: &ToplevelSurface) {
        let p = self.toplevel_place(t);
        t.with_pending_state(|s| {
            s.size = Some(p.rect.size);
            let set = |s: &mut smithay::wayland::shell::xdg::ToplevelState, st, on: bool| {
                if on {
                    s.states.set(st);
                } else {
                    s.states.unset(st);
                }
            };
            set(s, xdg_toplevel::State::Fullscreen, p.fullscreen);
            set(s, xdg_toplevel::State::Maximized, p.maximized);
            s.states.set(xdg_toplevel::State::Activated);
            s.decoration_mode = Some(DecorationMode::ServerSide);
        });
    }

    /// Configures every toplevel that was configured before again, for what changed (the
    /// usable area, a rule's match): a configure goes out only where something differs.
    pub fn reconfigure_toplevels(&self) {
        for t in self.toplevels.iter().filter(|t| t.alive()) {
            if t.is_initial_configure_sent() {
                self.configure_toplevel(t);
                t.send_pending_configure();
            }
        }
    }

    /// Places a new or repositioned popup: where its positioner says relative to its
    /// parent, constrained to the output. The caller sends the configure.
    pub fn position_popup(&self, p: &PopupSurface) {
        let parent = p.get_parent_surface();
        let of = parent.and_then(|parent| {
            // The parent's place: computed without the popup (which is not placed yet).
            self.placement().into_iter().find(|x| x.root == parent)
        });
        let origin: Point<i32, Logical> = of.map_or(Point::from((0, 0)), |of| {
            let g = geometry_of(&of.root);
            Point::from((of.at.0 + g.x, of.at.1 + g.y))
        });
        // The output, in the coordinates of the parent's window geometry.
        let target = Rectangle::new(
            (-origin.x, -origin.y).into(),
            (self.size.0 as i32, self.size.1 as i32).into(),
        );
        p.with_pending_state(|s| {
            s.geometry = s.positioner.get_unconstrained_geometry(target);
        });
    }
}

/// A popup's origin on the output: its parent's window geometry's corner, plus where the
/// popup's window geometry goes relative to it, less the popup's own geometry offset.
fn popup_origin(parent: &Placed, p: &PopupSurface) -> (i32, i32) {
    let pg = geometry_of(&parent.root);
    let at = p.with_pending_state(|s| s.geometry.loc);
    let own = geometry_of(p.wl_surface());
    (
        parent.at.0 + pg.x + at.x - own.x,
        parent.at.1 + pg.y + at.y - own.y,
    )
}

/// The corner of a surface's window geometry, relative to its origin ((0, 0) if it set
/// none).
pub(crate) fn geometry_of(s: &WlSurface) -> Point<i32, Logical> {
    compositor::with_states(s, |st| {
        st.cached_state
            .get::<SurfaceCachedState>()
            .current()
            .geometry
            .map(|g| g.loc)
    })
    .unwrap_or_default()
}

/// A toplevel's app_id (empty if it set none).
pub fn app_id_of(s: &WlSurface) -> String {
    compositor::with_states(s, |st| {
        st.data_map
            .get::<XdgToplevelSurfaceData>()
            .and_then(|d| d.lock().ok())
            .and_then(|d| d.app_id.clone())
            .unwrap_or_default()
    })
}
