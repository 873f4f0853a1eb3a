//! The outputs of the layout and which one a device's positions land on.
//!
//! The compositor lays its outputs out in one global **layout** space (as Weston and wlroots
//! do): each [`OutputMap`] has an origin `(x, y)` there and a logical size (after its
//! transform). A touchscreen or absolute pointer maps onto **one** output, chosen by
//! [`choose_output`]: the device's `WL_OUTPUT` udev property (Weston's convention), else the
//! config's `touch-output`, else the first output. Its normalized position goes through the
//! calibration (see [`crate::calibration`]), then that output's transform and size
//! ([`OutputMap::panel_to_layout`]), and is offset by the output's origin, so the events carry
//! layout coordinates. With one output at `(0, 0)` layout and output coordinates are the same.

use fusionfb_types::Transform;

/// One output of the layout, as touch and absolute pointers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputMap {
    /// Its name (a connector name such as `DSI-1`, or the backend's name for it): what
    /// `WL_OUTPUT` and `touch-output` name.
    pub name: String,
    /// The x of its top-left corner in the layout (logical pixels).
    pub x: i32,
    /// The y of its top-left corner in the layout.
    pub y: i32,
    /// Logical width (after the transform).
    pub width: u32,
    /// Logical height.
    pub height: u32,
    /// How the panel is mounted.
    pub transform: Transform,
}

impl Default for OutputMap {
    fn default() -> Self {
        OutputMap {
            name: String::new(),
            x: 0,
            y: 0,
            width: 1,
            height: 1,
            transform: Transform::Normal,
        }
    }
}

impl OutputMap {
    /// A calibrated position normalized to the panel's own axes (`[0, 1]²` on the glass) →
    /// layout pixels: the transform, the logical size, then the origin.
    pub fn panel_to_layout(&self, u: f64, v: f64) -> (f32, f32) {
        let (lx, ly) = self.transform.normalized_to_logical(u, v);
        (
            (lx * self.width as f64 + self.x as f64) as f32,
            (ly * self.height as f64 + self.y as f64) as f32,
        )
    }

    /// The inverse of [`OutputMap::panel_to_layout`]: layout pixels → the calibrated panel
    /// position, normalized to the panel's own axes (outside `[0, 1]²` off this output).
    pub fn layout_to_panel(&self, x: f64, y: f64) -> (f64, f64) {
        let nx = (x - self.x as f64) / self.width as f64;
        let ny = (y - self.y as f64) / self.height as f64;
        self.transform.normalized_to_physical(nx, ny)
    }

    /// Whether the layout point `(x, y)` is on this output (right and bottom edges excluded).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let (x0, y0) = (self.x as f64, self.y as f64);
        x >= x0 && y >= y0 && x < x0 + self.width as f64 && y < y0 + self.height as f64
    }
}

/// The index in `outputs` of the output a device maps to: the one its `WL_OUTPUT` `hint`
/// names, else the one `touch_output` names, else the first (0, also for an empty list). A
/// name that is in neither list is passed over, as if absent.
pub fn choose_output(
    hint: Option<&str>,
    touch_output: Option<&str>,
    outputs: &[OutputMap],
) -> usize {
    let find = |name: Option<&str>| name.and_then(|n| outputs.iter().position(|o| o.name == n));
    find(hint).or_else(|| find(touch_output)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(name: &str, x: i32, w: u32, h: u32, transform: Transform) -> OutputMap {
        OutputMap {
            name: name.into(),
            x,
            y: 0,
            width: w,
            height: h,
            transform,
        }
    }

    fn two() -> Vec<OutputMap> {
        vec![
            out("HDMI-1", 0, 1024, 768, Transform::Normal),
            out("DSI-1", 1024, 600, 800, Transform::Rotate90),
        ]
    }

    #[test]
    fn the_hint_wins_then_touch_output_then_the_first() {
        let o = two();
        assert_eq!(choose_output(Some("DSI-1"), Some("HDMI-1"), &o), 1);
        assert_eq!(choose_output(Some("HDMI-1"), Some("DSI-1"), &o), 0);
        assert_eq!(choose_output(None, Some("DSI-1"), &o), 1);
        assert_eq!(choose_output(None, None, &o), 0);
    }

    #[test]
    fn a_missing_name_falls_back_to_the_default() {
        let o = two();
        // The hint names nothing: touch-output decides, else the first.
        assert_eq!(choose_output(Some("VGA-9"), Some("DSI-1"), &o), 1);
        assert_eq!(choose_output(Some("VGA-9"), None, &o), 0);
        assert_eq!(choose_output(Some("VGA-9"), Some("VGA-8"), &o), 0);
        assert_eq!(choose_output(Some("DSI-1"), None, &[]), 0);
    }

    #[test]
    fn positions_are_offset_by_the_origin_after_the_transform() {
        let o = two();
        // Rotated 90°, the glass's top-left corner is the logical bottom-left.
        let (x, y) = o[1].panel_to_layout(0.0, 0.0);
        assert!(
            (x - 1024.0).abs() < 1e-3 && (y - 800.0).abs() < 1e-3,
            "{x},{y}"
        );
        // (0.5, 0.25) on the glass is logical (0.25, 0.5) of 600x800, then offset.
        let (x, y) = o[1].panel_to_layout(0.5, 0.25);
        assert!(
            (x - 1174.0).abs() < 1e-3 && (y - 400.0).abs() < 1e-3,
            "{x},{y}"
        );
        assert_eq!(o[0].panel_to_layout(0.5, 0.25), (512.0, 192.0));
        let (u, v) = o[1].layout_to_panel(x as f64, y as f64);
        assert!((u - 0.5).abs() < 1e-6 && (v - 0.25).abs() < 1e-6, "{u},{v}");
        assert!(o[1].contains(1024.0, 0.0) && !o[1].contains(1023.5, 10.0));
        assert!(!o[1].contains(1624.0, 10.0) && !o[0].contains(1024.0, 10.0));
    }
}
