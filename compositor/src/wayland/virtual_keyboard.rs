//! `zwp_virtual_keyboard_v1`: on-screen keyboards (`wvkbd`) and typing tools (`wtype`) type
//! through the **master's own keyboard**: each key a virtual keyboard sends is turned into
//! the keysym its keymap gives it, then into the key of the master's keymap that types that
//! keysym, and injected where a key from a device would be. So an on-screen keyboard types
//! into whichever window has the keyboard focus, native or Wayland, with the seat's keymap,
//! and repeats, focus and status stay the seat's.
//!
//! # Why not smithay's
//!
//! smithay's `VirtualKeyboardManagerState` switches the focused client to the virtual
//! keyboard's keymap, which it compiles from the client's file with `size - 1` bytes (it
//! expects a NUL counted in the size). `wvkbd` counts none, so the keymap loses its last
//! byte and fails to compile, and the client is disconnected at its first modifier ("sent
//! before keymap"); wlroots reads the keymap up to its NUL and works. This module reads the
//! file up to `size` or its first NUL, and only needs the keymap to find keysyms, which also
//! lets the virtual keys reach native windows (which have no Wayland keymap).
//!
//! Modifiers come as the virtual keyboard's `modifiers` request (wvkbd's Shift, Ctrl, Alt
//! keys): a change presses or releases the master's Shift, Control, Alt or Super key. A
//! keysym the master's keymap types only with Shift (level 2) is wrapped in a Shift press
//! when Shift is not held. A keysym the master's keymap cannot type is dropped (logged at
//! debug): the master's keymap is the one the seat's clients know.
//!
//! Any client may make a virtual keyboard: a kiosk's clients are the ones its config starts.

use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt as _;

use smithay::input::keyboard::xkb;
use smithay::reexports::wayland_protocols_misc::zwp_virtual_keyboard_v1::server::zwp_virtual_keyboard_manager_v1::{
    self, ZwpVirtualKeyboardManagerV1,
};
use smithay::reexports::wayland_protocols_misc::zwp_virtual_keyboard_v1::server::zwp_virtual_keyboard_v1::{
    self, ZwpVirtualKeyboardV1,
};
use smithay::reexports::wayland_server::protocol::wl_keyboard::KeymapFormat;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};
use tracing::debug;

use super::state::WaylandState;

/// The largest keymap file read (wvkbd's is about 60 KiB).
const MAX_KEYMAP: usize = 1 << 20;

/// A key a virtual keyboard typed, for the master's keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualKey {
    /// The keysym it types (or the modifier it presses or releases).
    pub keysym: u32,
    /// Pressed or released.
    pub pressed: bool,
}

/// The modifier keys a `modifiers` request can press, by the keymap's modifier name.
const MODIFIERS: [(&str, &str); 4] = [
    (xkb::MOD_NAME_SHIFT, "Shift_L"),
    (xkb::MOD_NAME_CTRL, "Control_L"),
    (xkb::MOD_NAME_ALT, "Alt_L"),
    (xkb::MOD_NAME_LOGO, "Super_L"),
];

/// One virtual keyboard's keymap, in the state of the modifiers it holds (in
/// [`WaylandState::virtual_keyboards`], by the keyboard's object: libxkbcommon's state is
/// not `Send`, which a protocol object's data must be).
pub struct Compiled {
    state: xkb::State,
    /// Which of [`MODIFIERS`] it holds.
    held: [bool; 4],
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("held", &self.held)
            .finish()
    }
}

/// Makes the `zwp_virtual_keyboard_manager_v1` global.
pub fn create(dh: &DisplayHandle) {
    dh.create_global::<WaylandState, ZwpVirtualKeyboardManagerV1, ()>(1, ());
}

/// The keymap in `fd`: at most `size` bytes from its start (whatever the file's offset: a
/// client may hand over the file it just wrote), up to the first NUL.
fn read_keymap(fd: OwnedFd, size: usize) -> Option<String> {
    if size > MAX_KEYMAP {
        return None;
    }
    let file = std::fs::File::from(fd);
    let mut bytes = vec![0u8; size];
    let mut got = 0;
    while got < size {
        match file.read_at(&mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    bytes.truncate(got);
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    String::from_utf8(bytes).ok()
}

impl GlobalDispatch<ZwpVirtualKeyboardManagerV1, ()> for WaylandState {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<ZwpVirtualKeyboardManagerV1>,
        _: &(),
        data_init: &mut DataInit<'_, Self>,
    ) {
        data_init.init(resource, ());
    }
}

impl Dispatch<ZwpVirtualKeyboardManagerV1, ()> for WaylandState {
    fn request(
        _: &mut Self,
        _: &Client,
        _: &ZwpVirtualKeyboardManagerV1,
        request: zwp_virtual_keyboard_manager_v1::Request,
        _: &(),
        _: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let zwp_virtual_keyboard_manager_v1::Request::CreateVirtualKeyboard { id, .. } = request
        {
            data_init.init(id, ());
        }
    }
}

impl Dispatch<ZwpVirtualKeyboardV1, ()> for WaylandState {
    fn request(
        state: &mut Self,
        _: &Client,
        resource: &ZwpVirtualKeyboardV1,
        request: zwp_virtual_keyboard_v1::Request,
        _: &(),
        _: &DisplayHandle,
        _: &mut DataInit<'_, Self>,
    ) {
        let id = resource.id();
        match request {
            zwp_virtual_keyboard_v1::Request::Keymap { format, fd, size } => {
                if format != KeymapFormat::XkbV1 as u32 {
                    debug!(
                        format,
                        "wayland: a virtual keyboard's keymap format is not XKB v1"
                    );
                    return;
                }
                let keymap = read_keymap(fd, size as usize).and_then(|text| {
                    let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
                    xkb::Keymap::new_from_string(
                        &context,
                        text,
                        xkb::KEYMAP_FORMAT_TEXT_V1,
                        xkb::KEYMAP_COMPILE_NO_FLAGS,
                    )
                });
                match keymap {
                    Some(k) => {
                        let c = Compiled {
                            state: xkb::State::new(&k),
                            held: [false; 4],
                        };
                        // A new keymap replaces the old; what the old held is let go.
                        if let Some(old) = state.virtual_keyboards.insert(id, c) {
                            release_held(&old, &mut state.virtual_keys);
                        }
                    }
                    None => debug!("wayland: a virtual keyboard's keymap does not compile"),
                }
            }
            zwp_virtual_keyboard_v1::Request::Key {
                key,
                state: pressed,
                ..
            } => {
                let Some(c) = state.virtual_keyboards.get(&id) else {
                    resource.post_error(
                        zwp_virtual_keyboard_v1::Error::NoKeymap,
                        "`key` sent before keymap",
                    );
                    return;
                };
                let keysym = c.state.key_get_one_sym(xkb::Keycode::new(key + 8)).raw();
                if keysym != 0 {
                    state.virtual_keys.push(VirtualKey {
                        keysym,
                        pressed: pressed == 1,
                    });
                }
            }
            zwp_virtual_keyboard_v1::Request::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
            } => {
                let Some(c) = state.virtual_keyboards.get_mut(&id) else {
                    resource.post_error(
                        zwp_virtual_keyboard_v1::Error::NoKeymap,
                        "`modifiers` sent before keymap",
                    );
                    return;
                };
                c.state
                    .update_mask(mods_depressed, mods_latched, mods_locked, 0, 0, group);
                for (i, (name, key)) in MODIFIERS.iter().enumerate() {
                    let on = c.state.mod_name_is_active(name, xkb::STATE_MODS_EFFECTIVE);
                    if on != c.held[i] {
                        c.held[i] = on;
                        state.virtual_keys.push(VirtualKey {
                            keysym: xkb::keysym_from_name(key, xkb::KEYSYM_NO_FLAGS).raw(),
                            pressed: on,
                        });
                    }
                }
            }
            zwp_virtual_keyboard_v1::Request::Destroy => {
                if let Some(c) = state.virtual_keyboards.remove(&id) {
                    release_held(&c, &mut state.virtual_keys);
                }
            }
            _ => {}
        }
    }
}

/// Releases the modifiers `c` holds.
fn release_held(c: &Compiled, keys: &mut Vec<VirtualKey>) {
    for (i, (_, key)) in MODIFIERS.iter().enumerate() {
        if c.held[i] {
            keys.push(VirtualKey {
                keysym: xkb::keysym_from_name(key, xkb::KEYSYM_NO_FLAGS).raw(),
                pressed: false,
            });
        }
    }
}

impl WaylandState {
    /// Forgets the virtual keyboards of clients that are gone, releasing what they held.
    pub(crate) fn prune_virtual_keyboards(&mut self) {
        let gone: Vec<_> = self
            .virtual_keyboards
            .keys()
            .filter(|id| self.dh.backend_handle().object_info((*id).clone()).is_err())
            .cloned()
            .collect();
        for id in gone {
            if let Some(c) = self.virtual_keyboards.remove(&id) {
                release_held(&c, &mut self.virtual_keys);
            }
        }
    }
}
