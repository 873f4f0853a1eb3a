//! The events this crate produces ([`InputEvent`]) and the synthetic ones it takes
//! ([`Synthetic`]). They know nothing about windows.

pub use fusionfb_types::TouchPhase;

/// One touch event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TouchEvent {
    /// What happened.
    pub phase: TouchPhase,
    /// The seat-wide multi-touch slot (0 for a frame).
    pub slot: u32,
    /// Layout x in logical pixels: after calibration and the transform of the device's
    /// output, offset by that output's origin (output pixels when it is at `(0, 0)`).
    pub x: f32,
    /// Layout y in logical pixels.
    pub y: f32,
    /// The uncalibrated position, normalized to the panel's own axes (`[0, 1]²`, before the
    /// output transform): what a calibration client needs.
    pub raw: (f32, f32),
    /// Kernel timestamp (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
}

/// A key event, after the keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// Linux evdev key code (`KEY_A` = 30); the XKB keycode is this plus 8.
    pub keycode: u32,
    /// Pressed (`true`) or released.
    pub pressed: bool,
    /// Made by key repeat, not by the key.
    pub repeat: bool,
    /// The keysym (`XKB_KEY_*`), 0 without a keymap.
    pub keysym: u32,
    /// The text the key types (empty for most non-printing keys and for releases).
    pub text: String,
    /// The effective modifier mask (XKB's serialized `depressed | latched | locked`).
    pub modifiers: u32,
    /// Kernel timestamp (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
}

/// An input device that came or went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its name as the kernel reports it.
    pub name: String,
    /// Its node name (`event3`), or `synthetic`.
    pub sysname: String,
    /// It reports touch.
    pub touch: bool,
    /// It moves a pointer (mouse, touchpad, tablet in pointer mode).
    pub pointer: bool,
    /// It has keys.
    pub keyboard: bool,
    /// The output its udev `WL_OUTPUT` property names (Weston's convention: set by a udev
    /// rule such as `ENV{WL_OUTPUT}="DSI-1"`), where its touches and absolute positions go
    /// when that output exists; `None` without one (then the config's `touch-output`, else
    /// the first output, is used).
    pub output: Option<String>,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let caps: Vec<&str> = [
            (self.touch, "touch"),
            (self.pointer, "pointer"),
            (self.keyboard, "keyboard"),
        ]
        .iter()
        .filter_map(|&(on, name)| on.then_some(name))
        .collect();
        let caps = if caps.is_empty() {
            "nothing fusionfb uses".to_string()
        } else {
            caps.join(", ")
        };
        write!(f, "{} ({:?}): {caps}", self.sysname, self.name)?;
        match &self.output {
            Some(o) => write!(f, "; WL_OUTPUT {o:?}"),
            None => Ok(()),
        }
    }
}

/// What the input source produced.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    /// A touch contact.
    Touch(TouchEvent),
    /// The pointer moved by `(dx, dy)` logical pixels (a mouse, a touchpad).
    PointerMotion {
        /// Horizontal motion.
        dx: f32,
        /// Vertical motion.
        dy: f32,
        /// Kernel timestamp (ns).
        time_ns: u64,
    },
    /// The pointer moved to a layout position (a tablet, a virtual pointer): the device's
    /// output (chosen like a touchscreen's), offset by its origin.
    PointerAbsolute {
        /// Layout x.
        x: f32,
        /// Layout y.
        y: f32,
        /// Kernel timestamp (ns).
        time_ns: u64,
    },
    /// A pointer button (Linux code: `BTN_LEFT` = 0x110).
    PointerButton {
        /// Button code.
        button: u32,
        /// Pressed or released.
        pressed: bool,
        /// Kernel timestamp (ns).
        time_ns: u64,
    },
    /// Scrolling, in libinput's units (about 15 per wheel click).
    PointerAxis {
        /// Horizontal.
        horizontal: f32,
        /// Vertical.
        vertical: f32,
        /// Kernel timestamp (ns).
        time_ns: u64,
    },
    /// A key.
    Key(KeyEvent),
    /// A device was added.
    DeviceAdded(DeviceInfo),
    /// A device went away.
    DeviceRemoved(DeviceInfo),
}

/// Where a synthetic touch lands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Position {
    /// Layout pixels (logical; output pixels with one output at `(0, 0)`), as if from a
    /// perfectly calibrated panel: `fusionfb input tap`. The event carries them as they are.
    Output(f32, f32),
    /// A position on the panel, normalized to its own axes, before calibration: exactly what
    /// a touchscreen reports, so it goes through the calibration matrix and the transform of
    /// the default output (the `touch-output` one, else the first).
    Device(f32, f32),
}

/// A synthetic input event, fed through [`crate::InputSource::inject`].
#[derive(Debug, Clone, PartialEq)]
pub enum Synthetic {
    /// A touch event (the position is ignored for up, cancel and frame).
    Touch {
        /// What happens.
        phase: TouchPhase,
        /// Slot.
        slot: u32,
        /// Where.
        at: Position,
    },
    /// Relative pointer motion.
    PointerMotion(f32, f32),
    /// Absolute pointer motion (layout pixels, passed through).
    PointerTo(f32, f32),
    /// A pointer button.
    Button {
        /// Linux button code.
        button: u32,
        /// Pressed or released.
        pressed: bool,
    },
    /// Scrolling.
    Axis(f32, f32),
    /// A key by evdev code.
    Key {
        /// Evdev key code.
        keycode: u32,
        /// Pressed or released.
        pressed: bool,
    },
}
