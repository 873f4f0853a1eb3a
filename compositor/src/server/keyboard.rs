//! Keyboard routing: keys go to the window with the keyboard focus.
//!
//! The keymap, modifiers and key repeat are the input source's (`fusionfb-input`, xkbcommon);
//! here a key only finds its window (the seat's decision, [`crate::seat`]). The focus follows
//! touch and click (see `touch.rs` and `pointer.rs`) or a window's own request
//! ([`fusionfb_protocol::WindowChange::Focus`]); with no focused window keys are dropped.

use fusionfb_input::KeyEvent;
use fusionfb_protocol::{Event, Key};

use super::Server;
use crate::seat::Action;

impl Server {
    /// Sends a key to the focused window.
    pub(crate) fn route_key(&mut self, k: KeyEvent) {
        let to = match self.input.seat.key(&self.input_stack()) {
            Some(Action::Key { to }) => to,
            _ => return,
        };
        #[cfg(feature = "wayland")]
        if self.wayland_key(to, &k) {
            return;
        }
        let Some(reactor) = self.target(to) else {
            return;
        };
        self.announce(
            reactor,
            &Event::Key(Key {
                keycode: k.keycode,
                pressed: k.pressed,
                repeat: k.repeat,
                keysym: k.keysym,
                text: k.text,
                modifiers: k.modifiers,
                time_ns: k.time_ns,
            }),
        );
    }
}
