//! Touch routing: which window (or exclusive layer) a contact belongs to.
//!
//! A touch-down hit-tests from the top ([`Server::target_at`]): an exclusively held layer under
//! the finger takes it, else the first visible window whose rectangle — and input region, if
//! it set one — holds the point. The contact stays with that target until the finger lifts (an
//! implicit grab), whatever it then slides over; several fingers on several windows at once
//! each keep their own. Every event reaches the target's reactor with local and output
//! coordinates, the slot and the kernel timestamp; a frame event closes each multi-touch frame
//! for the targets that got events in it. The keyboard focus follows the touch.
//!
//! In calibration mode ([`fusionfb_protocol::Request::CalibrationMode`]) every touch goes to
//! the calibrating window as a [`fusionfb_protocol::RawTouch`] instead, and nowhere else.

use std::collections::BTreeMap;

use fusionfb_input::{PanelTransform, TouchEvent, TouchPhase};
use fusionfb_protocol::{self as proto, Event, RawTouch, Touch};

use super::input::{phase_out, Target};
use super::Server;
use crate::compose::Transform;

/// Contacts and the targets that grabbed them.
#[derive(Debug, Default)]
pub(crate) struct Grabs {
    by_slot: BTreeMap<u32, Target>,
    /// Targets that got events since the last frame event.
    in_frame: Vec<Target>,
}

impl Grabs {
    /// Forgets what a target that went away held.
    pub fn forget(&mut self, id: u32) {
        self.by_slot.retain(|_, t| t.id != id);
        self.in_frame.retain(|t| t.id != id);
    }
}

/// The input crate's view of the output transform.
pub(crate) fn panel_transform(t: Transform) -> PanelTransform {
    let (deg, flipped) = match t {
        Transform::Normal => (0, false),
        Transform::Rot90 => (90, false),
        Transform::Rot180 => (180, false),
        Transform::Rot270 => (270, false),
        Transform::Flipped => (0, true),
        Transform::Flipped90 => (90, true),
        Transform::Flipped180 => (180, true),
        Transform::Flipped270 => (270, true),
    };
    PanelTransform::new(deg, flipped)
}

/// Protocol phases to the input crate's.
pub(crate) fn phase_in(p: proto::TouchPhase) -> TouchPhase {
    match p {
        proto::TouchPhase::Down => TouchPhase::Down,
        proto::TouchPhase::Motion => TouchPhase::Motion,
        proto::TouchPhase::Up => TouchPhase::Up,
        proto::TouchPhase::Cancel => TouchPhase::Cancel,
        proto::TouchPhase::Frame => TouchPhase::Frame,
    }
}

impl Server {
    /// Routes one touch event (output coordinates) to its target.
    pub(crate) fn route_touch(&mut self, t: TouchEvent) {
        if let Some(w) = self.input.calibrating {
            if let Some(target) = self.target(w) {
                let raw = RawTouch {
                    phase: phase_out(t.phase),
                    slot: t.slot,
                    u: t.raw.0,
                    v: t.raw.1,
                    time_ns: t.time_ns,
                };
                self.announce(target.reactor, &Event::RawTouch(raw));
                return;
            }
        }
        let target = match t.phase {
            TouchPhase::Down => {
                let hit = self.target_at(t.x, t.y);
                match hit {
                    Some(target) => {
                        self.input.touch.by_slot.insert(t.slot, target);
                        if self.windows.iter().any(|w| w.id == target.id) {
                            self.focus(Some(target.id));
                        }
                    }
                    None => {
                        self.input.touch.by_slot.remove(&t.slot);
                    }
                }
                hit
            }
            TouchPhase::Motion => self.input.touch.by_slot.get(&t.slot).copied(),
            TouchPhase::Up | TouchPhase::Cancel => self.input.touch.by_slot.remove(&t.slot),
            TouchPhase::Frame => {
                for target in std::mem::take(&mut self.input.touch.in_frame) {
                    self.send_touch(target, t);
                }
                return;
            }
        };
        if let Some(target) = target {
            if !self.input.touch.in_frame.iter().any(|x| x.id == target.id) {
                self.input.touch.in_frame.push(target);
            }
            self.send_touch(target, t);
        }
    }

    fn send_touch(&mut self, target: Target, t: TouchEvent) {
        let (ox, oy) = target.origin;
        self.announce(
            target.reactor,
            &Event::Touch(Touch {
                phase: phase_out(t.phase),
                slot: t.slot,
                x: t.x - ox,
                y: t.y - oy,
                screen_x: t.x,
                screen_y: t.y,
                time_ns: t.time_ns,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input crate's touch mapping and the compositor's picture transform must agree:
    /// the centre of every physical pixel maps to the same logical point.
    #[test]
    fn touch_mapping_agrees_with_the_output_transform() {
        let (lw, lh) = (40, 30);
        for t in Transform::ALL {
            let (pw, ph) = t.transform_size(lw, lh);
            let pt = panel_transform(t);
            for (px, py) in [(0.5, 0.5), (pw as f64 - 0.5, 3.5), (7.5, ph as f64 - 0.5)] {
                let want = t.point_to_logical(px, py, lw, lh);
                let (nx, ny) = pt.to_logical(px / pw as f64, py / ph as f64);
                let got = (nx * lw as f64, ny * lh as f64);
                assert!(
                    (got.0 - want.0).abs() < 1e-9 && (got.1 - want.1).abs() < 1e-9,
                    "{t:?} ({px}, {py}): {got:?} vs {want:?}"
                );
            }
        }
    }
}
