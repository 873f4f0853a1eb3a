//! Touch routing: which window a contact belongs to.
//!
//! A touch-down hit-tests the window stack from the top: the first visible window whose
//! rectangle — and input region, if it set one — holds the point gets the contact, and keeps
//! it until the finger lifts (an implicit grab), whatever window the finger then slides over.
//! Every event reaches the window's reactor with window-local and output coordinates, the
//! slot and the timestamp; a frame event closes each multi-touch frame for the windows that
//! got events in it. The keyboard focus follows the touch.
//!
//! Synthetic events ([`fusionfb_protocol::Request::InjectTouch`]) take this same path, and so
//! does touch the display backend receives itself (the `window` backend's mouse, in glass
//! coordinates, turned upright first); libinput devices will too.

use std::collections::BTreeMap;

use fusionfb_protocol::{Event, InjectedTouch, Touch, TouchPhase};

use super::Server;

/// Contacts and the windows that grabbed them.
#[derive(Debug, Default)]
pub(crate) struct Grabs {
    by_slot: BTreeMap<u32, u32>,
    /// Windows that got events since the last frame event.
    in_frame: Vec<u32>,
}

impl Server {
    /// The topmost window taking input at `(x, y)`.
    fn window_at(&self, x: f32, y: f32) -> Option<u32> {
        let (px, py) = (x.floor() as i32, y.floor() as i32);
        self.windows.iter().rev().find_map(|w| {
            if !w.visible || w.opacity == 0 {
                return None;
            }
            let r = self.window_rect(w)?;
            if !r.contains(px, py) {
                return None;
            }
            let inside_region = w
                .input_region
                .as_ref()
                .is_none_or(|reg| reg.iter().any(|r| r.contains(px - w.x, py - w.y)));
            inside_region.then_some(w.id)
        })
    }

    /// Routes one touch event (output coordinates) to its window.
    pub fn touch(&mut self, t: InjectedTouch, time_ns: u64) {
        let target = match t.phase {
            TouchPhase::Down => {
                let hit = self.window_at(t.x, t.y);
                match hit {
                    Some(w) => {
                        self.grabs.by_slot.insert(t.slot, w);
                        self.focus(Some(w));
                    }
                    None => {
                        self.grabs.by_slot.remove(&t.slot);
                    }
                }
                hit
            }
            TouchPhase::Motion => self.grabs.by_slot.get(&t.slot).copied(),
            TouchPhase::Up | TouchPhase::Cancel => self.grabs.by_slot.remove(&t.slot),
            TouchPhase::Frame => {
                for w in std::mem::take(&mut self.grabs.in_frame) {
                    self.send_touch(w, t, time_ns);
                }
                return;
            }
        };
        if let Some(w) = target {
            if !self.grabs.in_frame.contains(&w) {
                self.grabs.in_frame.push(w);
            }
            self.send_touch(w, t, time_ns);
        }
    }

    /// Routes touch input the display backend received itself (the `window` backend's
    /// mouse). Its coordinates are the glass's, so they go through the output transform
    /// like a touchscreen's would.
    pub(crate) fn backend_touch(&mut self, t: gfx_drivers::TouchInput) {
        use gfx_drivers::TouchPhase as P;
        let phase = match t.phase {
            P::Down => TouchPhase::Down,
            P::Motion => TouchPhase::Motion,
            P::Up => TouchPhase::Up,
            P::Cancel => TouchPhase::Cancel,
            P::Frame => TouchPhase::Frame,
        };
        // The glass pixel's centre, turned into the upright (logical) output.
        let (w, h) = (self.width as i32, self.height as i32);
        let (x, y) = self.transform.point_to_logical(
            f64::from(t.x.floor()) + 0.5,
            f64::from(t.y.floor()) + 0.5,
            w,
            h,
        );
        let (x, y) = (x as f32, y as f32);
        let touch = InjectedTouch {
            phase,
            slot: t.slot,
            x,
            y,
        };
        self.touch(touch, t.time_ns);
    }

    fn send_touch(&mut self, window: u32, t: InjectedTouch, time_ns: u64) {
        let Some(w) = self.windows.iter().find(|w| w.id == window) else {
            return;
        };
        let (reactor, wx, wy) = (w.reactor, w.x as f32, w.y as f32);
        self.announce(
            reactor,
            &Event::Touch(Touch {
                phase: t.phase,
                slot: t.slot,
                x: t.x - wx,
                y: t.y - wy,
                screen_x: t.x,
                screen_y: t.y,
                time_ns,
            }),
        );
    }

    /// Forgets grabs held by a window that went away.
    pub(crate) fn drop_grabs_of(&mut self, window: u32) {
        self.grabs.by_slot.retain(|_, w| *w != window);
        self.grabs.in_frame.retain(|w| *w != window);
    }
}
