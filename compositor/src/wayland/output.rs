//! The outputs as Wayland clients see them: one `wl_output` (and its `zxdg_output_v1`) per
//! output the master drives, at its place in the layout, each with its **logical** size — the upright picture applications draw, whatever the panel's
//! mounting (`[display] transform` turns the composed picture, so clients are told `normal`),
//! at scale 1, at the display's refresh rate.

use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::wayland_server::backend::GlobalId;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::utils::Transform;

use super::state::WaylandState;

/// Makes an output and its global, at `at` in the layout.
pub fn create_at(
    dh: &DisplayHandle,
    name: &str,
    size: (u32, u32),
    refresh_mhz: u32,
    at: (i32, i32),
) -> (Output, GlobalId) {
    let output = create_unannounced(name, size, refresh_mhz, at);
    let global = output.create_global::<WaylandState>(dh);
    (output, global)
}

/// Makes the first output and its global, at the layout's origin.
pub fn create(dh: &DisplayHandle, name: &str, size: (u32, u32), refresh_mhz: u32) -> Output {
    let output = create_unannounced(name, size, refresh_mhz, (0, 0));
    output.create_global::<WaylandState>(dh);
    output
}

/// One output the master drives, as the Wayland frontend is told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPlace {
    /// Its name.
    pub name: String,
    /// Its top-left corner in the layout.
    pub at: (i32, i32),
    /// Its logical size.
    pub size: (u32, u32),
    /// Its refresh rate, mHz.
    pub refresh_mhz: u32,
}

/// An output after the first: its `wl_output` and where it is.
#[derive(Debug)]
pub struct OtherOutput {
    /// Its `wl_output`.
    pub output: Output,
    /// Its global, removed when the output goes.
    pub global: GlobalId,
    /// What it is.
    pub place: OutputPlace,
}

fn create_unannounced(name: &str, size: (u32, u32), refresh_mhz: u32, at: (i32, i32)) -> Output {
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
        Some(at.into()),
    );
    output.set_preferred(mode);
    output
}
