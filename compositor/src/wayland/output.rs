//! The output as Wayland clients see it: one `wl_output` (and its `zxdg_output_v1`), with the
//! master's **logical** size — the upright picture applications draw, whatever the panel's
//! mounting (`[display] transform` turns the composed picture, so clients are told `normal`),
//! at scale 1, at the display's refresh rate.

use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::utils::Transform;

use super::state::WaylandState;

/// Makes the output and its global.
pub fn create(dh: &DisplayHandle, name: &str, size: (u32, u32), refresh_mhz: u32) -> Output {
    let name = if name.is_empty() { "fusionfb" } else { name };
    let output = Output::new(
        name.to_string(),
        PhysicalProperties {
            size: (0, 0).into(),
            subpixel: Subpixel::Unknown,
            make: "fusionfb".into(),
            model: name.to_string(),
        },
    );
    let mode = Mode {
        size: (size.0 as i32, size.1 as i32).into(),
        refresh: refresh_mhz as i32,
    };
    output.change_current_state(
        Some(mode),
        Some(Transform::Normal),
        Some(Scale::Integer(1)),
        Some((0, 0).into()),
    );
    output.set_preferred(mode);
    output.create_global::<WaylandState>(dh);
    output
}
