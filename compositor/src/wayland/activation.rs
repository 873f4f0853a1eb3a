//! `xdg_activation_v1`: a client hands another the right to come to the front (a launcher
//! starting an app, a notification opening its window). The master issues a token only to
//! a client whose surface has the keyboard focus (the one the user is using), and honours a
//! token for 10 s, once: the activated toplevel is raised to the top of its band and takes
//! the keyboard focus (`server/wayland.rs` carries it out). Any other request is ignored,
//! so a background client cannot steal the focus from a kiosk's UI.

use std::time::Duration;

use smithay::delegate_xdg_activation;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::wayland::xdg_activation::{
    XdgActivationHandler, XdgActivationState, XdgActivationToken, XdgActivationTokenData,
};
use tracing::debug;

use super::state::WaylandState;

/// How long a token is good for.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(10);

impl XdgActivationHandler for WaylandState {
    fn activation_state(&mut self) -> &mut XdgActivationState {
        &mut self.activation
    }

    fn token_created(&mut self, _token: XdgActivationToken, data: XdgActivationTokenData) -> bool {
        let focused = self.seat.get_keyboard().and_then(|k| k.current_focus());
        let from_focus = focused.is_some_and(|f| {
            data.surface.as_ref() == Some(&f)
                || (data.client_id.is_some() && f.client().map(|c| c.id()) == data.client_id)
        });
        if !from_focus {
            debug!("wayland: an activation token asked for by a client without the focus: refused");
        }
        from_focus
    }

    fn request_activation(
        &mut self,
        token: XdgActivationToken,
        token_data: XdgActivationTokenData,
        surface: WlSurface,
    ) {
        if token_data.timestamp.elapsed() < TOKEN_LIFETIME {
            self.activations.push(surface);
        } else {
            debug!("wayland: an expired activation token: ignored");
        }
        self.activation.remove_token(&token);
    }
}

delegate_xdg_activation!(WaylandState);
