//! `zwp_idle_inhibit_manager_v1`: a video player or a slideshow keeps the screen from
//! going idle while its surface is on the glass. The master records which surfaces inhibit;
//! an inhibitor counts while its surface is shown in the scene, and `fusionfb status` lists
//! the clients that inhibit (`idle inhibited by`), which is what screen blanking
//! (`[display]` idle timeouts, a later issue) consults.

use smithay::delegate_idle_inhibit;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::idle_inhibit::IdleInhibitHandler;

use super::state::WaylandState;

impl IdleInhibitHandler for WaylandState {
    fn inhibit(&mut self, surface: WlSurface) {
        if !self.inhibitors.contains(&surface) {
            self.inhibitors.push(surface);
        }
    }

    fn uninhibit(&mut self, surface: WlSurface) {
        self.inhibitors.retain(|s| s != &surface);
    }
}

delegate_idle_inhibit!(WaylandState);
