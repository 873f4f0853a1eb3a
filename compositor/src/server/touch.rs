//! Touch routing: which window (or exclusive layer) a contact belongs to.
//!
//! The decisions are the seat's ([`crate::seat`]): a touch-down hit-tests from the top (an
//! exclusively held layer under the finger takes it, else the first visible window whose
//! rectangle — and input region, if it set one — holds the point), the contact stays with
//! that target until the finger lifts (an implicit grab), several fingers on several windows
//! at once each keep their own, a frame event closes each multi-touch frame for the targets
//! that got events in it, and the keyboard focus follows the touch. Here they are carried
//! out: every event reaches the target's reactor with local and output coordinates, the slot
//! and the kernel timestamp.
//!
//! In calibration mode ([`fusionfb_protocol::Request::CalibrationMode`]) every touch goes to
//! the calibrating window as a [`fusionfb_protocol::RawTouch`] instead, and nowhere else.

use fusionfb_input::TouchEvent;
use fusionfb_protocol::{Event, RawTouch, Touch};

use super::Server;
use crate::seat::{self, Action};

impl Server {
    /// Routes one touch event (output coordinates) to its target.
    pub(crate) fn route_touch(&mut self, t: TouchEvent) {
        if let Some(w) = self.input.calibrating {
            if let Some(reactor) = self.target(w) {
                let raw = RawTouch {
                    phase: t.phase,
                    slot: t.slot,
                    u: t.raw.0,
                    v: t.raw.1,
                    time_ns: t.time_ns,
                };
                self.announce(reactor, &Event::RawTouch(raw));
                return;
            }
        }
        let touch = seat::Touch {
            phase: t.phase,
            slot: t.slot,
            x: t.x,
            y: t.y,
        };
        // Only a touch-down hit-tests: the other phases go to the contact's grab, which
        // keeps where its window was (no stack to build for them).
        let mut actions = std::mem::take(&mut self.input.actions);
        actions.clear();
        if t.phase == fusionfb_types::TouchPhase::Down {
            self.with_seat(|seat, stack| seat.touch_into(stack, touch, &mut actions));
        } else {
            let stack = seat::Stack::new(self.layout_size());
            self.input.seat.touch_into(&stack, touch, &mut actions);
        }
        #[cfg(feature = "wayland")]
        if t.phase == fusionfb_types::TouchPhase::Down {
            let on = actions.iter().find_map(|a| match a {
                Action::Touch { to, .. } => Some(*to),
                _ => None,
            });
            self.wayland_pressed(on);
        }
        for a in actions.drain(..) {
            match a {
                Action::Touch { to, x, y, .. } => self.send_touch(to, x, y, t),
                a => self.tell_focus(a),
            }
        }
        self.input.actions = actions;
    }

    /// Sends `t` to `to`, at its local `(x, y)`.
    fn send_touch(&mut self, to: u32, x: f32, y: f32, t: TouchEvent) {
        #[cfg(feature = "wayland")]
        if self.wayland_touch(to, x, y, &t) {
            return;
        }
        let Some(reactor) = self.reactor_of(to) else {
            return;
        };
        self.announce(
            reactor,
            &Event::Touch(Touch {
                phase: t.phase,
                slot: t.slot,
                x,
                y,
                screen_x: t.x,
                screen_y: t.y,
                time_ns: t.time_ns,
            }),
        );
    }
}
