//! `zwp_text_input_v1`: the text-input protocol of Weston's clients (`weston-editor` will not
//! start without it).
//!
//! No crate serves it (smithay has version 3 only), so it is answered here, and little is
//! needed: text reaches the focused client as keys — from its keyboard, an on-screen
//! keyboard through `zwp_virtual_keyboard_v1` (`wvkbd`), or `fusionfb input key` — which
//! `weston-editor` types into its active entry. What version 1 adds on top (an input method
//! composing through the text input: preedit, commit_string) waits for an input method
//! speaking `zwp_input_method_v1`, which no Debian program does; its panel requests are
//! taken and ignored.
//!
//! `activate` on a surface of the client's own is answered with `enter`, `deactivate` with
//! `leave`, as Weston does once an input method is bound; a surface of another client gets
//! neither.

use smithay::reexports::wayland_protocols::wp::text_input::zv1::server::zwp_text_input_manager_v1::{
    self, ZwpTextInputManagerV1,
};
use smithay::reexports::wayland_protocols::wp::text_input::zv1::server::zwp_text_input_v1::{
    self, ZwpTextInputV1,
};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};
use std::sync::Mutex;

use super::state::WaylandState;

/// Makes the `zwp_text_input_manager_v1` global.
pub fn create(dh: &DisplayHandle) {
    dh.create_global::<WaylandState, ZwpTextInputManagerV1, ()>(1, ());
}

/// A text input's state: the surface it entered, if any.
#[derive(Debug, Default)]
pub struct TextInput(Mutex<Option<WlSurface>>);

impl GlobalDispatch<ZwpTextInputManagerV1, ()> for WaylandState {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<ZwpTextInputManagerV1>,
        _: &(),
        data_init: &mut DataInit<'_, Self>,
    ) {
        data_init.init(resource, ());
    }
}

impl Dispatch<ZwpTextInputManagerV1, ()> for WaylandState {
    fn request(
        _: &mut Self,
        _: &Client,
        _: &ZwpTextInputManagerV1,
        request: zwp_text_input_manager_v1::Request,
        _: &(),
        _: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let zwp_text_input_manager_v1::Request::CreateTextInput { id } = request {
            data_init.init(id, TextInput::default());
        }
    }
}

impl Dispatch<ZwpTextInputV1, TextInput> for WaylandState {
    fn request(
        _: &mut Self,
        client: &Client,
        text_input: &ZwpTextInputV1,
        request: zwp_text_input_v1::Request,
        data: &TextInput,
        _: &DisplayHandle,
        _: &mut DataInit<'_, Self>,
    ) {
        let mut entered = data.0.lock().unwrap_or_else(|e| e.into_inner());
        match request {
            zwp_text_input_v1::Request::Activate { surface, .. }
                if surface.client().is_some_and(|c| c.id() == client.id())
                    && entered.as_ref() != Some(&surface) =>
            {
                if entered.take().is_some() {
                    text_input.leave();
                }
                text_input.enter(&surface);
                *entered = Some(surface);
            }
            zwp_text_input_v1::Request::Deactivate { .. } if entered.take().is_some() => {
                text_input.leave();
            }
            // Another client's surface, the panel, surrounding text, content type, cursor rectangle, language,
            // commit_state, reset and invoke_action: nothing composes with them (see the
            // module docs).
            _ => {}
        }
    }
}
