//! Input for Wayland windows: the seat's decisions spoken on `wl_touch`, `wl_pointer` and
//! `wl_keyboard`, popups dismissed by a touch outside, what virtual keyboards type, the
//! cursors clients set, and activation requests.

use fusionfb_input::{KeyEvent, TouchEvent};
use fusionfb_protocol::Injected;
use gfx_drivers::Buffer;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::wayland::compositor;
use tracing::debug;

use smithay::input::keyboard::keysyms::KEY_Shift_L;

use super::{root_of, WaylandScene, MAX_CURSOR};
use crate::seat;
use crate::server::{Band, Server};
use crate::wayland::seat::PointerDo;
use crate::wayland::shm;

impl Server {
    /// Types what virtual keyboards sent through the master's keyboard (see
    /// `wayland/virtual_keyboard.rs`): each keysym on the key of the master's keymap that
    /// types it, wrapped in Shift when it needs it and Shift is not held.
    pub(super) fn type_virtual_keys(
        &mut self,
        keys: &[crate::wayland::virtual_keyboard::VirtualKey],
    ) {
        let Some(src) = self.input.source.as_ref() else {
            debug!("wayland: virtual keys dropped: this master has no input source");
            return;
        };
        let shift = src.key_for_keysym(KEY_Shift_L).map(|(k, _)| k);
        let mut shift_held = self.wayland.as_ref().is_some_and(|w| w.virtual_shift);
        let mut events = Vec::new();
        for k in keys {
            let Some((keycode, needs_shift)) = src.key_for_keysym(k.keysym) else {
                debug!(
                    keysym = k.keysym,
                    "wayland: a virtual key the keymap cannot type"
                );
                continue;
            };
            if k.keysym == KEY_Shift_L {
                shift_held = k.pressed;
            }
            let wrap = needs_shift && k.pressed && !shift_held;
            let key = |keycode, pressed| Injected::Key { keycode, pressed };
            match (wrap, shift) {
                (true, Some(s)) => {
                    events.extend([key(s, true), key(keycode, true), key(s, false)]);
                }
                _ => events.push(key(keycode, k.pressed)),
            }
        }
        if let Some(w) = self.wayland.as_mut() {
            w.virtual_shift = shift_held;
        }
        if let Err(e) = self.inject(events, fusionfb_sys::now_ns()) {
            debug!("wayland: virtual keys not typed: {e}");
        }
    }

    /// The `wl_surface` a window shows, when it is a Wayland one.
    pub(super) fn wayland_surface_of(&self, window: u32) -> Option<(WlSurface, WlSurface)> {
        let w = self.wayland.as_ref()?;
        w.shown
            .iter()
            .find(|(_, sh)| sh.window == window)
            .map(|(s, sh)| (s.clone(), sh.root.clone()))
    }

    /// Sends a touch the seat routed to `to` (local `(x, y)`), if `to` is a Wayland window.
    pub(crate) fn wayland_touch(&mut self, to: u32, x: f32, y: f32, t: &TouchEvent) -> bool {
        let Some((surface, _)) = self.wayland_surface_of(to) else {
            return false;
        };
        let Some(w) = self.wayland.as_mut() else {
            return false;
        };
        let at = (f64::from(t.x), f64::from(t.y));
        let origin = (at.0 - f64::from(x), at.1 - f64::from(y));
        crate::wayland::seat::touch(
            &mut w.front.state,
            &surface,
            origin,
            t.phase,
            t.slot,
            at,
            t.time_ns,
        );
        true
    }

    /// Sends a pointer event the seat routed to `to`, if `to` is a Wayland window.
    pub(crate) fn wayland_pointer(
        &mut self,
        to: u32,
        kind: seat::PointerKind,
        (x, y): (f32, f32),
        (sx, sy): (f32, f32),
        time_ns: u64,
    ) -> bool {
        let Some((surface, _)) = self.wayland_surface_of(to) else {
            return false;
        };
        let Some(w) = self.wayland.as_mut() else {
            return false;
        };
        let what = match kind {
            seat::PointerKind::Enter | seat::PointerKind::Motion => PointerDo::Motion,
            seat::PointerKind::Leave => PointerDo::Leave,
            seat::PointerKind::Button { button, pressed } => PointerDo::Button { button, pressed },
            seat::PointerKind::Axis {
                horizontal,
                vertical,
            } => PointerDo::Axis {
                horizontal: f64::from(horizontal),
                vertical: f64::from(vertical),
            },
        };
        let at = (f64::from(sx), f64::from(sy));
        let origin = (at.0 - f64::from(x), at.1 - f64::from(y));
        crate::wayland::seat::pointer(&mut w.front.state, &surface, origin, what, at, time_ns);
        true
    }

    /// Sends a key for window `to`, if it is a Wayland window (the client repeats keys
    /// itself: the master's repeats are not sent).
    pub(crate) fn wayland_key(&mut self, to: u32, k: &KeyEvent) -> bool {
        if self.wayland_surface_of(to).is_none() {
            return false;
        }
        let Some(w) = self.wayland.as_mut() else {
            return false;
        };
        if !k.repeat {
            crate::wayland::seat::key(&mut w.front.state, k.keycode, k.pressed, k.time_ns);
        }
        true
    }

    /// The keyboard focus moved from window `from` to `to`: the Wayland keyboard follows
    /// (to the toplevel of a Wayland window; away from Wayland for a native one).
    pub(crate) fn wayland_focus(&mut self, to: Option<u32>) {
        let root = to.and_then(|t| self.wayland_surface_of(t)).map(|(_, r)| r);
        if let Some(w) = self.wayland.as_mut() {
            crate::wayland::seat::focus(&mut w.front.state, root);
        }
    }

    /// A touch went down or a button was pressed on window `on` (`None`: on no window):
    /// if popups hold a grab and `on` is not one of that client's popups, they are
    /// dismissed (the event itself still goes where the seat routed it).
    pub(crate) fn wayland_pressed(&mut self, on: Option<u32>) {
        let root = on.and_then(|t| self.wayland_surface_of(t)).map(|(_, r)| r);
        let Some(w) = self.wayland.as_mut() else {
            return;
        };
        let Some(grab) = w.front.state.grabs.last() else {
            return;
        };
        let inside = root.as_ref().is_some_and(|r| {
            w.front.state.popups.iter().any(|p| p.wl_surface() == r)
                && r.client().map(|c| c.id()) == grab.wl_surface().client().map(|c| c.id())
        });
        if !inside && w.front.state.dismiss_popups() {
            w.front.flush();
        }
    }

    /// Keeps the master's copy of a small buffer committed to a surface no shell placed
    /// (a cursor picture); shows it if that surface is the cursor.
    pub(super) fn wayland_loose_buffer(
        &mut self,
        w: &mut WaylandScene,
        s: &WlSurface,
        buffer: &smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer,
    ) {
        let Ok((width, height, format)) = shm::describe(buffer) else {
            return;
        };
        if width > MAX_CURSOR || height > MAX_CURSOR {
            w.loose.remove(s);
            return;
        }
        let Ok(copy) = Buffer::new_memfd(width, height, format) else {
            return;
        };
        if shm::copy(buffer, &copy, &[], true).is_err() {
            return;
        }
        w.loose.insert(s.clone(), copy);
        if w.cursor_surface.as_ref() == Some(s) {
            self.wayland_cursor(w, crate::wayland::cursor::Asked::Surface(s.clone()));
        }
    }

    /// Carries out what a client asked the cursor to be (see `wayland/cursor.rs`).
    pub(super) fn wayland_cursor(
        &mut self,
        w: &mut WaylandScene,
        asked: crate::wayland::cursor::Asked,
    ) {
        use crate::server::pointer::ClientCursor;
        use crate::wayland::cursor::Asked;
        let c = match asked {
            Asked::Arrow => {
                w.cursor_surface = None;
                ClientCursor::Arrow
            }
            Asked::Hidden => {
                w.cursor_surface = None;
                ClientCursor::Hidden
            }
            Asked::Surface(s) => {
                let hotspot = compositor::with_states(&s, |st| {
                    st.data_map
                        .get::<smithay::input::pointer::CursorImageSurfaceData>()
                        .and_then(|d| d.lock().ok().map(|d| (d.hotspot.x, d.hotspot.y)))
                })
                .unwrap_or((0, 0));
                let c = match w.loose.get(&s) {
                    Some(buffer) => ClientCursor::Image {
                        buffer: buffer.clone(),
                        hotspot,
                    },
                    // No picture yet: nothing until one comes.
                    None => ClientCursor::Hidden,
                };
                w.cursor_surface = Some(s);
                c
            }
        };
        self.set_client_cursor(c);
    }

    /// Raises the toplevels whose activation was granted (see `wayland/activation.rs`) to
    /// the top of their band, and gives the last one the keyboard focus.
    pub(super) fn wayland_activate(&mut self, w: &mut WaylandScene, surfaces: Vec<WlSurface>) {
        for s in surfaces {
            let root = root_of(&s);
            let mut order: Vec<(u32, Band)> = Vec::new();
            for win in &self.windows {
                if w.shown
                    .iter()
                    .any(|(_, sh)| sh.window == win.id && sh.root == root)
                {
                    order.push((win.id, win.band));
                }
            }
            // Bottom to top, each to the top: the tree keeps its order.
            for (id, band) in &order {
                if let Some(i) = self.windows.iter().position(|x| x.id == *id) {
                    let win = self.windows.remove(i);
                    if let Some(r) = self.window_rect(&win) {
                        self.damage(r);
                    }
                    let at = self.stack_top(win.layer, *band);
                    self.windows.insert(at, win);
                }
            }
            if let Some(sh) = w.shown.get(&root) {
                w.focus = Some(sh.window);
            }
        }
    }
}
