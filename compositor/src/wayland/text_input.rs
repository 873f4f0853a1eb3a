//! `zwp_text_input_v3` and `zwp_input_method_v2`: an input method (a predictive on-screen
//! keyboard, a CJK composer) commits text into the text field of the focused client,
//! through smithay's implementation (the text input follows the keyboard focus the seat
//! gives).
//!
//! An input method's popup surfaces (candidate lists) are not shown yet: they are recorded
//! and logged, and the text still reaches the client.

use smithay::delegate_input_method_manager;
use smithay::delegate_text_input_manager;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::input_method::{InputMethodHandler, InputMethodManagerState, PopupSurface};
use smithay::wayland::text_input::TextInputManagerState;
use tracing::debug;

use super::state::WaylandState;

/// Makes the two globals (any client may be an input method: a kiosk's clients are the
/// ones its config starts).
pub fn create(dh: &DisplayHandle) -> (TextInputManagerState, InputMethodManagerState) {
    (
        TextInputManagerState::new::<WaylandState>(dh),
        InputMethodManagerState::new::<WaylandState, _>(dh, |_client| true),
    )
}

impl InputMethodHandler for WaylandState {
    fn new_popup(&mut self, _surface: PopupSurface) {
        debug!("wayland: an input method's popup (not shown yet)");
    }

    fn dismiss_popup(&mut self, _surface: PopupSurface) {}

    fn popup_repositioned(&mut self, _surface: PopupSurface) {}

    fn parent_geometry(&self, parent: &WlSurface) -> Rectangle<i32, Logical> {
        // Where the parent's root is on the output, at its surface size as placed.
        self.placement()
            .into_iter()
            .find(|p| &p.root == parent)
            .map(|p| Rectangle::new(p.at.into(), (0, 0).into()))
            .unwrap_or_default()
    }
}

delegate_text_input_manager!(WaylandState);
delegate_input_method_manager!(WaylandState);
