//! How a panel is mounted, applied to touch: from a position on the glass (normalized to the
//! physical panel) to the logical (upright) output that applications see, and back.
//!
//! The convention is the compositor's output transform (`compositor/src/compose/geometry.rs`,
//! `Transform`): to go from logical to physical the picture is first mirrored left to right
//! (when flipped), then rotated clockwise by the rotation. Touch goes the other way, so a
//! point on the glass is rotated back counter-clockwise and then un-mirrored. The compositor
//! checks both agree in its own tests.

/// A panel's mounting: clockwise rotation in quarter turns and a left-right mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PanelTransform {
    /// Clockwise quarter turns, 0–3.
    pub quarter_turns: u8,
    /// Mirrored left to right (before the rotation).
    pub flipped: bool,
}

impl PanelTransform {
    /// No rotation, no mirror.
    pub const NORMAL: PanelTransform = PanelTransform {
        quarter_turns: 0,
        flipped: false,
    };

    /// A transform of `degrees` (0, 90, 180, 270; others are rounded down to a quarter turn).
    pub const fn new(degrees: u32, flipped: bool) -> Self {
        PanelTransform {
            quarter_turns: ((degrees / 90) % 4) as u8,
            flipped,
        }
    }

    /// Whether the logical output's width is the panel's height.
    pub const fn swaps_axes(self) -> bool {
        self.quarter_turns % 2 == 1
    }

    /// The logical position, normalized to the logical output, of a normalized physical one.
    pub fn to_logical(self, u: f64, v: f64) -> (f64, f64) {
        // Undo the clockwise rotation one quarter at a time: (u, v) → (v, 1 - u).
        let (mut x, mut y) = (u, v);
        for _ in 0..self.quarter_turns % 4 {
            (x, y) = (y, 1.0 - x);
        }
        if self.flipped {
            x = 1.0 - x;
        }
        (x, y)
    }

    /// The normalized physical position of a normalized logical one (the inverse of
    /// [`PanelTransform::to_logical`]).
    pub fn to_physical(self, x: f64, y: f64) -> (f64, f64) {
        let (mut u, mut v) = (if self.flipped { 1.0 - x } else { x }, y);
        for _ in 0..self.quarter_turns % 4 {
            (u, v) = (1.0 - v, u);
        }
        (u, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turn_maps_the_glass_corners() {
        // A panel rotated 90° clockwise: the glass's top-left corner is the logical top-right.
        let t = PanelTransform::new(90, false);
        assert_eq!(t.to_logical(0.0, 0.0), (0.0, 1.0));
        assert_eq!(t.to_logical(1.0, 0.0), (0.0, 0.0));
        assert_eq!(t.to_logical(0.0, 1.0), (1.0, 1.0));
        assert!(t.swaps_axes());
        assert_eq!(PanelTransform::NORMAL.to_logical(0.2, 0.7), (0.2, 0.7));
        assert_eq!(
            PanelTransform::new(0, true).to_logical(0.2, 0.7),
            (0.8, 0.7)
        );
    }

    #[test]
    fn to_physical_undoes_to_logical_for_all_eight() {
        for deg in [0, 90, 180, 270] {
            for flipped in [false, true] {
                let t = PanelTransform::new(deg, flipped);
                let (x, y) = t.to_logical(0.125, 0.625);
                let (u, v) = t.to_physical(x, y);
                assert!(
                    (u - 0.125).abs() < 1e-12 && (v - 0.625).abs() < 1e-12,
                    "{t:?}"
                );
            }
        }
    }
}
