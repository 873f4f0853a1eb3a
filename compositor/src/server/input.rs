//! Input routing: from the input source to the windows' reactors.
//!
//! The server holds one [`InputSource`] (libinput devices, key repeat, and injection). Its fd is
//! polled in [`Server::dispatch`] next to the master's and the backend's; every event it
//! yields goes through [`Server::route`], and so does every injected one
//! ([`fusionfb_protocol::Request::Inject`], `InjectTouch`): one path for real and synthetic
//! input. Routing itself is split by device kind: `touch.rs` (hit test, implicit grabs,
//! frames, exclusive layers, calibration mode), `pointer.rs` (hit test, implicit grab while a
//! button is held, enter/leave, the cursor) and `keyboard.rs` (keys to the focused window).
//! Focus follows touch and click.
//!
//! Touch the display backend receives itself (the `window` backend's mouse, in glass
//! coordinates) is turned upright first and takes the same path ([`Server::backend_touch`]).

use std::os::fd::{AsFd, BorrowedFd};

use fusion::Error;
use fusionfb_input::{InputEvent, InputSource, OutputMap, Position, Synthetic, TouchPhase};
use fusionfb_protocol::{self as proto, Injected};
use tracing::warn;

use super::{pointer, touch, Server};

/// What the server remembers about input.
#[derive(Debug, Default)]
pub(crate) struct InputState {
    /// The devices and the injection path (`None` when it could not be set up).
    pub source: Option<InputSource>,
    pub touch: touch::Grabs,
    pub pointer: pointer::PointerState,
    /// The window in calibration mode, which gets every touch raw.
    pub calibrating: Option<u32>,
}

/// A place input can be delivered to: a window, or the surface of an exclusively held layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Target {
    /// Window id or surface id (one id space).
    pub id: u32,
    pub reactor: u32,
    /// Where its local origin is, in output coordinates.
    pub origin: (f32, f32),
}

impl Server {
    /// Installs the input source (devices and injection); it maps touch to this output.
    pub fn set_input(&mut self, mut source: InputSource) {
        let (width, height) = self.size();
        source.set_output(OutputMap {
            name: self.output_name.clone(),
            width,
            height,
            transform: touch::panel_transform(self.transform),
        });
        self.input.source = Some(source);
        self.update_cursor_visibility();
    }

    /// The input source, if one is installed.
    pub fn input_source(&mut self) -> Option<&mut InputSource> {
        self.input.source.as_mut()
    }

    pub(crate) fn input_fd(&self) -> Option<BorrowedFd<'_>> {
        self.input.source.as_ref().map(|s| s.as_fd())
    }

    /// Reads what the input devices have ready and routes it.
    pub(crate) fn dispatch_input(&mut self) {
        let Some(src) = self.input.source.as_mut() else {
            return;
        };
        match src.dispatch() {
            Ok(events) => {
                for e in events {
                    self.route(e);
                }
            }
            Err(e) => warn!("input: {e}"),
        }
    }

    /// Routes one input event to the window it belongs to.
    pub fn route(&mut self, e: InputEvent) {
        match e {
            InputEvent::Touch(t) => self.route_touch(t),
            InputEvent::PointerMotion { .. }
            | InputEvent::PointerAbsolute { .. }
            | InputEvent::PointerButton { .. }
            | InputEvent::PointerAxis { .. } => self.route_pointer(e),
            InputEvent::Key(k) => self.route_key(k),
            InputEvent::DeviceAdded(_) | InputEvent::DeviceRemoved(_) => {
                self.update_cursor_visibility()
            }
        }
    }

    /// Feeds synthetic events through the input source and routes what they produce (what
    /// [`fusionfb_protocol::Request::Inject`] does), stamped `time_ns`.
    pub fn inject(&mut self, events: Vec<Injected>, time_ns: u64) -> fusion::Result<()> {
        if events.len() > 256 {
            return Err(Error::Invalid("more than 256 input events".into()));
        }
        let (w, h) = self.size();
        for e in &events {
            outside_output(e, w, h)?;
        }
        let src = self
            .input
            .source
            .as_mut()
            .ok_or_else(|| Error::Invalid("this master has no input source".into()))?;
        let mut routed = Vec::new();
        for e in events {
            let s = match e {
                Injected::Touch { phase, slot, x, y } => Synthetic::Touch {
                    phase: touch::phase_in(phase),
                    slot,
                    at: Position::Output(x, y),
                },
                Injected::DeviceTouch { phase, slot, u, v } => Synthetic::Touch {
                    phase: touch::phase_in(phase),
                    slot,
                    at: Position::Device(u, v),
                },
                Injected::PointerMotion { dx, dy } => Synthetic::PointerMotion(dx, dy),
                Injected::PointerTo { x, y } => Synthetic::PointerTo(x, y),
                Injected::Button { button, pressed } => Synthetic::Button { button, pressed },
                Injected::Axis {
                    horizontal,
                    vertical,
                } => Synthetic::Axis(horizontal, vertical),
                Injected::Key { keycode, pressed } => Synthetic::Key { keycode, pressed },
                Injected::KeyName { name, pressed } => Synthetic::Key {
                    keycode: src.keycode_of(&name).ok_or_else(|| {
                        Error::Invalid(format!("no key types {name:?} in the keymap"))
                    })?,
                    pressed,
                },
            };
            routed.extend(
                src.inject_at(s, time_ns)
                    .map_err(|e| Error::Invalid(e.to_string()))?,
            );
        }
        for e in routed {
            self.route(e);
        }
        Ok(())
    }

    /// Routes one touch event given in output coordinates, stamped `time_ns` (tests and the
    /// older `InjectTouch` request; the same path as a device's touches).
    pub fn touch(&mut self, t: proto::InjectedTouch, time_ns: u64) {
        let e = Injected::Touch {
            phase: t.phase,
            slot: t.slot,
            x: t.x,
            y: t.y,
        };
        if let Err(e) = self.inject(vec![e], time_ns) {
            warn!("touch not routed: {e}");
        }
    }

    /// Starts or stops calibration mode for `window` (owned by `who`).
    pub(crate) fn calibration_mode(
        &mut self,
        window: u32,
        on: bool,
    ) -> fusion::Result<proto::Reply> {
        if on {
            if self.input.calibrating.is_some_and(|w| w != window) {
                return Err(Error::Busy);
            }
            self.input.calibrating = Some(window);
        } else if self.input.calibrating == Some(window) {
            self.input.calibrating = None;
        }
        let t = touch::panel_transform(self.transform);
        Ok(proto::Reply::Calibration {
            quarter_turns: t.quarter_turns,
            flipped: t.flipped,
        })
    }

    /// Where input at output `(x, y)` goes: an exclusively held layer's surface under it (top
    /// layer first), else the topmost window taking input there.
    pub(crate) fn target_at(&self, x: f32, y: f32) -> Option<Target> {
        let (w, h) = (self.width as i32, self.height as i32);
        let (px, py) = self.transform.to_physical(w, h).apply(x as f64, y as f64);
        let (px, py) = (px.floor() as i32, py.floor() as i32);
        let (pw, ph) = self.physical_size();
        for l in self.layers.iter().rev() {
            let Some(sid) = l.exclusive else { continue };
            let (lx, ly) = l.spec.position;
            let (lw, lh) = l.spec.size.unwrap_or((pw, ph));
            if proto::Rect::new(lx, ly, lw, lh).contains(px, py) {
                let s = self.surfaces.get(&sid)?;
                // Exclusive layers see the glass as it is: local coordinates are physical.
                return Some(Target {
                    id: sid,
                    reactor: s.reactor,
                    origin: (x - (px - lx) as f32, y - (py - ly) as f32),
                });
            }
        }
        self.window_at(x, y).and_then(|id| self.target(id))
    }

    /// A window's (or an exclusive surface's) delivery details.
    pub(crate) fn target(&self, id: u32) -> Option<Target> {
        if let Some(w) = self.windows.iter().find(|w| w.id == id) {
            return Some(Target {
                id,
                reactor: w.reactor,
                origin: (w.x as f32, w.y as f32),
            });
        }
        let held = self.layers.iter().any(|l| l.exclusive == Some(id));
        let s = self.surfaces.get(&id).filter(|_| held)?;
        Some(Target {
            id,
            reactor: s.reactor,
            origin: (0.0, 0.0),
        })
    }

    /// The topmost window taking input at `(x, y)`: visible, under the point, and with the
    /// point in its input region if it set one.
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

    /// Forgets grabs, pointer focus and calibration mode held by a window (or exclusive
    /// surface) that went away.
    pub(crate) fn drop_grabs_of(&mut self, id: u32) {
        self.input.touch.forget(id);
        self.input.pointer.forget(id);
        if self.input.calibrating == Some(id) {
            self.input.calibrating = None;
        }
    }
}

impl Server {
    /// Routes touch input the display backend received itself (the `window` backend's
    /// mouse). Its coordinates are the glass's, so they go through the output transform
    /// like a touchscreen's would.
    pub(crate) fn backend_touch(&mut self, t: gfx_drivers::TouchInput) {
        use gfx_drivers::TouchPhase as P;
        let phase = match t.phase {
            P::Down => proto::TouchPhase::Down,
            P::Motion => proto::TouchPhase::Motion,
            P::Up => proto::TouchPhase::Up,
            P::Cancel => proto::TouchPhase::Cancel,
            P::Frame => proto::TouchPhase::Frame,
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
        let touch = proto::InjectedTouch {
            phase,
            slot: t.slot,
            x,
            y,
        };
        self.touch(touch, t.time_ns);
    }
}

/// Phases the other way.
pub(crate) fn phase_out(p: TouchPhase) -> proto::TouchPhase {
    match p {
        TouchPhase::Down => proto::TouchPhase::Down,
        TouchPhase::Motion => proto::TouchPhase::Motion,
        TouchPhase::Up => proto::TouchPhase::Up,
        TouchPhase::Cancel => proto::TouchPhase::Cancel,
        TouchPhase::Frame => proto::TouchPhase::Frame,
    }
}

/// Refuses an injected touch or pointer position outside the `w`×`h` output (a typo such as
/// `fusionfb input tap 5000 5000` must say so, not vanish). Frame and cancel events carry
/// no position.
pub fn outside_output(e: &Injected, w: u32, h: u32) -> fusion::Result<()> {
    let (x, y) = match *e {
        Injected::Touch { phase, x, y, .. }
            if !matches!(phase, proto::TouchPhase::Frame | proto::TouchPhase::Cancel) =>
        {
            (x, y)
        }
        Injected::PointerTo { x, y } => (x, y),
        _ => return Ok(()),
    };
    let inside = |v: f32, max: u32| v >= 0.0 && v < max as f32;
    if inside(x, w) && inside(y, h) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "({x}, {y}) is outside the {w}x{h} output: x must be in 0..{w} and y in 0..{h}"
    )))
}
