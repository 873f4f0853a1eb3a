//! Client cursors: `wl_pointer.set_cursor` (a surface of the client's, with a hotspot) and
//! `wp_cursor_shape_v1` (a named shape). What the client asked for is recorded here
//! ([`WaylandState::cursor`]) and carried out by the server (`server/wayland.rs`): a cursor
//! surface's buffer is copied into the master and drawn in place of the master's arrow,
//! hotspot on the pointer, while the pointer is over that client's windows; a null surface
//! hides the cursor there. The master has no cursor theme: every named shape is drawn as its
//! arrow (the `default` shape, which is what most pointers show), which keeps a kiosk's
//! cursor consistent.

use smithay::delegate_cursor_shape;
use smithay::input::pointer::CursorImageStatus;
use smithay::wayland::tablet_manager::TabletSeatHandler;

use super::state::WaylandState;

impl TabletSeatHandler for WaylandState {}

/// What a client asked its cursor to be, for the server to carry out.
#[derive(Debug, Clone)]
pub enum Asked {
    /// The master's arrow (`wp_cursor_shape_v1`, or a named shape).
    Arrow,
    /// No cursor.
    Hidden,
    /// This surface's buffer, with its hotspot (`wl_pointer.set_cursor`).
    Surface(smithay::reexports::wayland_server::protocol::wl_surface::WlSurface),
}

impl From<CursorImageStatus> for Asked {
    fn from(s: CursorImageStatus) -> Asked {
        match s {
            CursorImageStatus::Hidden => Asked::Hidden,
            CursorImageStatus::Named(_) => Asked::Arrow,
            CursorImageStatus::Surface(s) => Asked::Surface(s),
        }
    }
}

delegate_cursor_shape!(WaylandState);
