//! The `wl_seat`: touch, pointer and keyboard for Wayland clients, fed by the master's seat.
//!
//! Where input goes is decided once, for native and Wayland windows alike, by the pure
//! routing model in [`crate::seat`]; this module only speaks its decisions in Wayland terms,
//! through smithay's seat (which keeps each client's `wl_touch`/`wl_pointer`/`wl_keyboard`
//! objects, serials, enter/leave and the keymap). So smithay's own routing must not decide
//! anything: its default touch grab sends every finger to the surface the first one went
//! down on, which is not the master's rule (each contact keeps the window it went down on).
//! The seat's touch therefore gets [`Routed`] as its default grab: every event goes to the
//! surface given with it.
//!
//! The keyboard compiles the same XKB keymap as the master's input source
//! (`[input.keyboard]`) and sends it to clients with the repeat rate and delay; clients
//! repeat keys themselves, so the master's own repeats are not sent.

use smithay::input::keyboard::{FilterResult, XkbConfig};
use smithay::input::pointer::{AxisFrame, ButtonEvent, MotionEvent as PointerMotion};
use smithay::input::touch::{
    DownEvent, GrabStartData, MotionEvent, OrientationEvent, ShapeEvent, TouchGrab,
    TouchInnerHandle, UpEvent,
};
use smithay::input::{Seat, SeatState};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::utils::{Logical, Point, Serial, SERIAL_COUNTER};

use super::state::WaylandState;
use super::WaylandError;
use fusionfb_types::TouchPhase;

/// Gives the seat's keyboard a new keymap and key repeat (a config reload): clients get the
/// new keymap at once.
pub fn set_keymap(
    state: &mut WaylandState,
    kb: &crate::config::Keyboard,
) -> Result<(), WaylandError> {
    let Some(keyboard) = state.seat.get_keyboard() else {
        return Ok(());
    };
    let xkb = XkbConfig {
        layout: &kb.layout,
        variant: &kb.variant,
        options: (!kb.options.is_empty()).then(|| kb.options.clone()),
        ..XkbConfig::default()
    };
    keyboard
        .set_xkb_config(state, xkb)
        .map_err(|e| WaylandError::Keyboard(format!("{e:?}")))?;
    keyboard.change_repeat_info(kb.repeat_rate as i32, kb.repeat_delay as i32);
    Ok(())
}

/// Makes `seat0` with a keyboard (the config's keymap), a pointer and a touchscreen.
pub fn create(
    dh: &DisplayHandle,
    seats: &mut SeatState<WaylandState>,
    kb: &crate::config::Keyboard,
) -> Result<Seat<WaylandState>, WaylandError> {
    let mut seat = seats.new_wl_seat(dh, "seat0");
    let xkb = XkbConfig {
        layout: &kb.layout,
        variant: &kb.variant,
        options: (!kb.options.is_empty()).then(|| kb.options.clone()),
        ..XkbConfig::default()
    };
    seat.add_keyboard(xkb, kb.repeat_delay as i32, kb.repeat_rate as i32)
        .map_err(|e| WaylandError::Keyboard(format!("{e:?}")))?;
    seat.add_pointer();
    seat.add_touch_with_default_grab(|| Box::new(Routed));
    Ok(seat)
}

/// The touch grab that decides nothing: each event goes to the surface routed with it.
pub struct Routed;

impl TouchGrab<WaylandState> for Routed {
    fn down(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        focus: Option<(WlSurface, Point<f64, Logical>)>,
        event: &DownEvent,
        seq: Serial,
    ) {
        handle.down(data, focus, event, seq);
    }

    fn up(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        event: &UpEvent,
        seq: Serial,
    ) {
        handle.up(data, event, seq);
    }

    fn motion(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        focus: Option<(WlSurface, Point<f64, Logical>)>,
        event: &MotionEvent,
        seq: Serial,
    ) {
        handle.motion(data, focus, event, seq);
    }

    fn frame(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        seq: Serial,
    ) {
        handle.frame(data, seq);
    }

    fn cancel(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        seq: Serial,
    ) {
        handle.cancel(data, seq);
    }

    fn shape(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        event: &ShapeEvent,
        seq: Serial,
    ) {
        handle.shape(data, event, seq);
    }

    fn orientation(
        &mut self,
        data: &mut WaylandState,
        handle: &mut TouchInnerHandle<'_, WaylandState>,
        event: &OrientationEvent,
        seq: Serial,
    ) {
        handle.orientation(data, event, seq);
    }

    fn start_data(&self) -> &GrabStartData<WaylandState> {
        unreachable!("the default grab is never asked for its start")
    }

    fn unset(&mut self, _data: &mut WaylandState) {}
}

/// Milliseconds of a `CLOCK_MONOTONIC` nanosecond stamp, as Wayland's events carry them.
pub fn millis(time_ns: u64) -> u32 {
    (time_ns / 1_000_000) as u32
}

/// One touch event for `surface`, whose origin is at output point `origin`; `at` is the
/// output point of the contact.
pub fn touch(
    state: &mut WaylandState,
    surface: &WlSurface,
    origin: (f64, f64),
    phase: TouchPhase,
    slot: u32,
    at: (f64, f64),
    time_ns: u64,
) {
    let Some(t) = state.seat.get_touch() else {
        return;
    };
    let slot = Some(slot).into();
    let time = millis(time_ns);
    let focus = Some((surface.clone(), Point::from(origin)));
    let location = Point::from(at);
    match phase {
        TouchPhase::Down => t.down(
            state,
            focus,
            &DownEvent {
                slot,
                location,
                serial: SERIAL_COUNTER.next_serial(),
                time,
            },
        ),
        TouchPhase::Motion => t.motion(
            state,
            focus,
            &MotionEvent {
                slot,
                location,
                time,
            },
        ),
        TouchPhase::Up => t.up(
            state,
            &UpEvent {
                slot,
                serial: SERIAL_COUNTER.next_serial(),
                time,
            },
        ),
        TouchPhase::Frame => t.frame(state),
        TouchPhase::Cancel => t.cancel(state),
    }
}

/// What the pointer does, for [`pointer()`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointerDo {
    /// Enter or move over the surface.
    Motion,
    /// Leave it.
    Leave,
    /// A button (Linux `BTN_*` code).
    Button {
        /// The code.
        button: u32,
        /// Pressed or released.
        pressed: bool,
    },
    /// Scrolling, in pointer-motion units.
    Axis {
        /// Horizontal.
        horizontal: f64,
        /// Vertical.
        vertical: f64,
    },
}

/// One pointer event for `surface` (origin at output point `origin`), the pointer at output
/// point `at`.
pub fn pointer(
    state: &mut WaylandState,
    surface: &WlSurface,
    origin: (f64, f64),
    what: PointerDo,
    at: (f64, f64),
    time_ns: u64,
) {
    use smithay::backend::input::{Axis, ButtonState};
    let Some(p) = state.seat.get_pointer() else {
        return;
    };
    let time = millis(time_ns);
    match what {
        PointerDo::Motion => p.motion(
            state,
            Some((surface.clone(), Point::from(origin))),
            &PointerMotion {
                location: Point::from(at),
                serial: SERIAL_COUNTER.next_serial(),
                time,
            },
        ),
        PointerDo::Leave => p.motion(
            state,
            None,
            &PointerMotion {
                location: Point::from(at),
                serial: SERIAL_COUNTER.next_serial(),
                time,
            },
        ),
        PointerDo::Button { button, pressed } => p.button(
            state,
            &ButtonEvent {
                serial: SERIAL_COUNTER.next_serial(),
                time,
                button,
                state: if pressed {
                    ButtonState::Pressed
                } else {
                    ButtonState::Released
                },
            },
        ),
        PointerDo::Axis {
            horizontal,
            vertical,
        } => {
            let mut frame = AxisFrame::new(time);
            if horizontal != 0.0 {
                frame = frame.value(Axis::Horizontal, horizontal);
            }
            if vertical != 0.0 {
                frame = frame.value(Axis::Vertical, vertical);
            }
            p.axis(state, frame);
        }
    }
    p.frame(state);
}

/// Moves the keyboard focus to `surface` (or none).
pub fn focus(state: &mut WaylandState, surface: Option<WlSurface>) {
    let Some(k) = state.seat.get_keyboard() else {
        return;
    };
    if k.current_focus() == surface {
        return;
    }
    k.set_focus(state, surface, SERIAL_COUNTER.next_serial());
}

/// A key (Linux evdev code) for the focused surface.
pub fn key(state: &mut WaylandState, keycode: u32, pressed: bool, time_ns: u64) {
    use smithay::backend::input::KeyState;
    let Some(k) = state.seat.get_keyboard() else {
        return;
    };
    let st = if pressed {
        KeyState::Pressed
    } else {
        KeyState::Released
    };
    k.input::<(), _>(
        state,
        (keycode + 8).into(),
        st,
        SERIAL_COUNTER.next_serial(),
        millis(time_ns),
        |_, _, _| FilterResult::Forward,
    );
}
