//! Input routing: from the input source to the windows' reactors.
//!
//! The server holds one [`InputSource`] (libinput devices, key repeat, and injection). Its fd is
//! a source on the server's loop next to the master's and the backend's; every event it
//! yields goes through [`Server::route`], and so does every injected one
//! ([`fusionfb_protocol::Request::Inject`], `InjectTouch`): one path for real and synthetic
//! input. The routing decisions (hit test, implicit grabs per contact, the pointer grab while a
//! button is held, enter/leave, focus following touch and click) are the seat's, a pure model
//! ([`crate::seat`]) that gets a view of the output ([`Server::input_stack`]) with each event
//! and answers what to deliver where. Carrying them out is split by device kind: `touch.rs`
//! (and calibration mode), `pointer.rs` (and the cursor) and `keyboard.rs`.
//!
//! Touch the display backend receives itself (the `window` backend's mouse, in glass
//! coordinates) is turned upright first and takes the same path ([`Server::backend_touch`]).

use fusion::{Error, ReactorId};
use fusionfb_input::{InputEvent, InputSource, OutputMap, Position, Synthetic};
use fusionfb_protocol::{self as proto, Injected};
use tracing::warn;

use super::{pointer, Server};
use crate::compose::Size;
use crate::seat::{self, Action, Seat, Space, Stack};
use calloop::generic::Generic;
use calloop::{Interest, Mode, PostAction};

/// What the server remembers about input.
#[derive(Debug, Default)]
pub(crate) struct InputState {
    /// The devices and the injection path (`None` when it could not be set up).
    pub source: Option<InputSource>,
    /// The routing model: contacts and their targets, the pointer, the keyboard focus.
    pub seat: Seat,
    /// The cursor.
    pub pointer: pointer::PointerState,
    /// The window in calibration mode, which gets every touch raw.
    pub calibrating: Option<u32>,
    /// The seat's actions for the event being routed (kept: routing allocates nothing).
    pub actions: Vec<crate::seat::Action>,
    /// What the input source produced, being routed (kept, like `actions`).
    pub events: Vec<InputEvent>,
    /// The input stack's list of windows, empty between touches (kept, like `actions`).
    pub stack: Vec<seat::InputWindow<'static>>,
}

/// `v`, emptied, as a list of windows borrowing something else: its allocation is reused
/// (collecting a `vec::IntoIter` through `map` into a `Vec` of the same size and
/// alignment happens in place).
fn recycle<'b>(mut v: Vec<seat::InputWindow<'_>>) -> Vec<seat::InputWindow<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("emptied above"))
        .collect()
}

impl Server {
    /// What the input source maps touchscreens and absolute pointers to: every output, at
    /// its place in the layout.
    fn output_maps(&self) -> Vec<OutputMap> {
        self.outputs
            .iter()
            .map(|o| OutputMap {
                name: o.name.clone(),
                x: o.origin.0,
                y: o.origin.1,
                width: o.width,
                height: o.height,
                transform: o.transform,
            })
            .collect()
    }

    /// The outputs changed: each touchscreen maps to its output where it is now.
    pub(crate) fn update_input_outputs(&mut self) {
        let maps = self.output_maps();
        if let Some(src) = self.input.source.as_mut() {
            src.set_outputs(maps);
        }
    }

    /// Installs the input source (devices and injection); it maps each touchscreen to its
    /// output (`WL_OUTPUT`, `touch-output`, else the first).
    pub fn set_input(&mut self, mut source: InputSource) {
        source.set_outputs(self.output_maps());
        for token in self.input_tokens.drain(..) {
            self.handle.remove(token);
        }
        // libinput's fd and the key-repeat timer, each a source on the loop.
        for fd in source.fds() {
            let watched = fd
                .try_clone_to_owned()
                .map_err(|e| e.to_string())
                .and_then(|fd| {
                    let readable = Generic::new(fd, Interest::READ, Mode::Level);
                    self.handle
                        .insert_source(readable, |_, _, s: &mut Server| {
                            s.dispatch_input();
                            Ok(PostAction::Continue)
                        })
                        .map_err(|e| e.error.to_string())
                });
            match watched {
                Ok(token) => self.input_tokens.push(token),
                Err(e) => warn!("input: cannot watch the input source: {e}"),
            }
        }
        self.input.source = Some(source);
        self.update_cursor_visibility();
    }

    /// The input source, if one is installed.
    pub fn input_source(&mut self) -> Option<&mut InputSource> {
        self.input.source.as_mut()
    }

    /// Reads what the input devices have ready and routes it.
    pub(crate) fn dispatch_input(&mut self) {
        let Some(src) = self.input.source.as_mut() else {
            return;
        };
        let mut events = std::mem::take(&mut self.input.events);
        if let Err(e) = src.dispatch_into(&mut events) {
            warn!("input: {e}");
        }
        for e in events.drain(..) {
            self.route(e);
        }
        self.input.events = events;
    }

    /// Routes what the input source queued without its fd becoming readable (see
    /// [`InputSource::queued`]); done every turn, without a system call.
    pub(crate) fn drain_input(&mut self) {
        let Some(src) = self.input.source.as_mut() else {
            return;
        };
        for e in src.queued() {
            self.route(e);
        }
    }

    /// Routes one input event to the window it belongs to.
    pub fn route(&mut self, e: InputEvent) {
        // The event that wakes a blanked display (and the rest of its gesture) is swallowed.
        if self.blanking_input(&e) {
            return;
        }
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
        for e in &events {
            outside_layout(e, self.outputs.iter().map(|o| o.rect()))?;
        }
        let src = self
            .input
            .source
            .as_mut()
            .ok_or_else(|| Error::Invalid("this master has no input source".into()))?;
        let mut routed = std::mem::take(&mut self.input.events);
        routed.clear();
        for e in events {
            let s = match e {
                Injected::Touch { phase, slot, x, y } => Synthetic::Touch {
                    phase,
                    slot,
                    at: Position::Output(x, y),
                },
                Injected::DeviceTouch { phase, slot, u, v } => Synthetic::Touch {
                    phase,
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
            if let Err(e) = src.inject_into(s, time_ns, &mut routed) {
                self.input.events = routed;
                return Err(Error::Invalid(e.to_string()));
            }
        }
        for e in routed.drain(..) {
            self.route(e);
        }
        self.input.events = routed;
        // What the routing sent Wayland clients goes out now, not at the end of the turn
        // (an injection from outside the loop may be followed by a long wait).
        #[cfg(feature = "wayland")]
        self.wayland_flush();
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
        // The transform of the output the window is on.
        let i = self
            .windows
            .iter()
            .find(|w| w.id == window)
            .and_then(|w| self.window_rect(w))
            .map_or(0, |r| self.output_of_rect(r));
        let transform = self.outputs[i].transform;
        Ok(proto::Reply::Calibration {
            quarter_turns: transform.quarter_turns(),
            flipped: transform.is_flipped(),
        })
    }

    /// The seat's view of the layout: exclusively held layers (top layer first, hit in the
    /// first output's glass coordinates), then every window, top first. The pointer moves
    /// in the layout's bounds.
    pub(crate) fn input_stack(&self) -> Stack<'_> {
        self.input_stack_in(Vec::new())
    }

    /// [`Server::input_stack`], its list of windows in `windows` (emptied first).
    fn input_stack_in<'a>(&'a self, windows: Vec<seat::InputWindow<'a>>) -> Stack<'a> {
        let first = &self.outputs[0];
        let glass = first
            .transform
            .to_physical(Size::new(first.width, first.height));
        let (pw, ph) = self.physical_size();
        let mut stack = Stack::new(self.layout_size());
        stack.windows = recycle(windows);
        stack.to_glass = glass;
        for l in self.layers.iter().rev() {
            let Some(sid) = l.exclusive.filter(|s| self.surfaces.contains_key(s)) else {
                continue;
            };
            let (lx, ly) = l.spec.position;
            // On the first output it is hit in that output's glass coordinates; on another
            // (unrotated, as a layer's plane is) at its place in the layout.
            let (rect, space) = match self.output_of_layer(l) {
                Some(0) => {
                    let (lw, lh) = l.spec.size.unwrap_or((pw, ph));
                    (seat::Rect::new(lx, ly, lw, lh), Space::Glass)
                }
                Some(i) => {
                    let out = &self.outputs[i];
                    let (lw, lh) = l.spec.size.unwrap_or(out.physical_size());
                    let (ox, oy) = out.origin;
                    (seat::Rect::new(lx + ox, ly + oy, lw, lh), Space::Output)
                }
                None => continue,
            };
            stack.windows.push(seat::InputWindow {
                id: sid,
                focusable: false,
                rect,
                space,
                region: None,
                takes_input: true,
            });
        }
        for win in self.windows.iter().rev() {
            let rect = self.window_rect(win);
            stack.windows.push(seat::InputWindow {
                id: win.id,
                focusable: win.focusable,
                rect: rect.map_or(seat::Rect::default(), |r| {
                    seat::Rect::new(r.x, r.y, r.w, r.h)
                }),
                space: Space::Output,
                region: win.input_region.as_deref(),
                takes_input: win.visible && win.opacity != 0 && rect.is_some(),
            });
        }
        stack
    }

    /// Runs the seat over the current stack.
    pub(crate) fn with_seat<R>(&mut self, f: impl FnOnce(&mut Seat, &Stack) -> R) -> R {
        let mut seat = std::mem::take(&mut self.input.seat);
        let kept = std::mem::take(&mut self.input.stack);
        let stack = self.input_stack_in(recycle(kept));
        let r = f(&mut seat, &stack);
        self.input.stack = recycle(stack.windows);
        self.input.seat = seat;
        r
    }

    /// The reactor of a window or a surface (one id space).
    pub(crate) fn reactor_of(&self, id: u32) -> Option<ReactorId> {
        match self.windows.iter().find(|w| w.id == id) {
            Some(w) => Some(w.reactor),
            None => self.surfaces.get(&id).map(|s| s.reactor),
        }
    }

    /// Carries out a focus change the seat decided: tells the window that lost it and the
    /// one that got it.
    pub(crate) fn tell_focus(&mut self, a: Action) {
        let Action::Focus { from, to } = a else {
            return;
        };
        #[cfg(feature = "wayland")]
        self.wayland_focus(to);
        let window_reactor =
            |s: &Server, w: u32| s.windows.iter().find(|x| x.id == w).map(|x| x.reactor);
        if let Some(r) = from.and_then(|w| window_reactor(self, w)) {
            self.announce(r, &proto::Event::Focus(false));
        }
        if let Some(r) = to.and_then(|w| window_reactor(self, w)) {
            self.announce(r, &proto::Event::Focus(true));
        }
    }

    /// The reactor of a window, or of an exclusively held layer's surface.
    pub(crate) fn target(&self, id: u32) -> Option<ReactorId> {
        if let Some(w) = self.windows.iter().find(|w| w.id == id) {
            return Some(w.reactor);
        }
        let held = self.layers.iter().any(|l| l.exclusive == Some(id));
        self.surfaces.get(&id).filter(|_| held).map(|s| s.reactor)
    }

    /// Forgets grabs, pointer focus and calibration mode held by a window (or exclusive
    /// surface) that went away.
    pub(crate) fn drop_grabs_of(&mut self, id: u32) {
        self.input.seat.forget(id);
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
        // The glass pixel's centre, turned into the upright (logical) output, at its place
        // in the layout.
        let out = &self.outputs[self.output_index(t.output).unwrap_or(0)];
        let (x, y) = out.transform.point_to_logical(
            f64::from(t.x.floor()) + 0.5,
            f64::from(t.y.floor()) + 0.5,
            Size::new(out.width, out.height),
        );
        let (x, y) = (
            x as f32 + out.origin.0 as f32,
            y as f32 + out.origin.1 as f32,
        );
        let touch = proto::InjectedTouch {
            phase,
            slot: t.slot,
            x,
            y,
        };
        self.touch(touch, t.time_ns);
    }
}

/// Refuses an injected touch or pointer position that is on none of the outputs of the
/// layout (their rectangles; see [`outside_output`]). The layout is an iterator so that the
/// master checks an injection against its outputs without building a list (touch routing
/// allocates nothing: `tests/tests/input.rs`).
pub fn outside_layout<L>(e: &Injected, layout: L) -> fusion::Result<()>
where
    L: IntoIterator<Item = proto::Rect>,
    L::IntoIter: Clone,
{
    let layout = layout.into_iter();
    // NaN and infinities are nowhere (the protocol fuzzer sends them).
    let numbers = match *e {
        Injected::Touch { x, y, .. } | Injected::PointerTo { x, y } => [x, y],
        Injected::DeviceTouch { u, v, .. } => [u, v],
        Injected::PointerMotion { dx, dy } => [dx, dy],
        Injected::Axis {
            horizontal,
            vertical,
        } => [horizontal, vertical],
        _ => [0.0, 0.0],
    };
    if numbers.iter().any(|v| !v.is_finite()) {
        return Err(Error::Invalid(format!(
            "{numbers:?}: input coordinates must be finite numbers"
        )));
    }
    let (x, y) = match *e {
        Injected::Touch { phase, x, y, .. }
            if !matches!(phase, proto::TouchPhase::Frame | proto::TouchPhase::Cancel) =>
        {
            (x, y)
        }
        Injected::PointerTo { x, y } => (x, y),
        _ => return Ok(()),
    };
    let on = |r: &proto::Rect| {
        let (lx, ly) = (x - r.x as f32, y - r.y as f32);
        lx >= 0.0 && lx < r.w as f32 && ly >= 0.0 && ly < r.h as f32
    };
    if layout.clone().any(|r| on(&r)) {
        return Ok(());
    }
    let rects: Vec<proto::Rect> = layout.collect();
    Err(Error::Invalid(match rects.as_slice() {
        [r] => {
            let (x, y, w, h) = (x - r.x as f32, y - r.y as f32, r.w, r.h);
            format!("({x}, {y}) is outside the {w}x{h} output: x must be in 0..{w} and y in 0..{h}")
        }
        _ => {
            let rects: Vec<String> = rects
                .iter()
                .map(|r| format!("{}x{} at {},{}", r.w, r.h, r.x, r.y))
                .collect();
            format!("{e:?} is on none of the outputs ({})", rects.join("; "))
        }
    }))
}

/// Refuses an injected touch or pointer position outside the `w`×`h` output (a typo such as
/// `fusionfb input tap 5000 5000` must say so, not vanish). Frame and cancel events carry
/// no position.
pub fn outside_output(e: &Injected, w: u32, h: u32) -> fusion::Result<()> {
    outside_layout(e, [proto::Rect::new(0, 0, w, h)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_positions_must_be_finite_and_on_the_output() {
        let touch = |x, y| Injected::Touch {
            phase: proto::TouchPhase::Down,
            slot: 0,
            x,
            y,
        };
        assert!(outside_output(&touch(10.0, 10.0), 100, 100).is_ok());
        assert!(outside_output(&touch(100.0, 10.0), 100, 100).is_err());
        assert!(outside_output(&touch(f32::NAN, 0.0), 100, 100).is_err());
        let motion = Injected::PointerMotion {
            dx: f32::INFINITY,
            dy: 0.0,
        };
        assert!(outside_output(&motion, 100, 100).is_err());
        let device = Injected::DeviceTouch {
            phase: proto::TouchPhase::Down,
            slot: 0,
            u: f32::NAN,
            v: 0.5,
        };
        assert!(outside_output(&device, 100, 100).is_err());
        let axis = Injected::Axis {
            horizontal: 0.0,
            vertical: 2.0,
        };
        assert!(outside_output(&axis, 100, 100).is_ok());
    }
}
