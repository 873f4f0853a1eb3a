//! The seat: where input goes, as a pure model — no Fusion, no display backend, no I/O.
//!
//! The master's [`crate::server::Server`] feeds every touch, pointer and key event through a
//! [`Seat`] together with a [`Stack`], a view of what is on the output at that moment, and
//! carries out the [`Action`]s it answers (publishing to the windows' reactors). The Wayland
//! frontend will route through the same model, so it speaks only plain ids and geometry.
//!
//! # The concepts
//!
//! - A **window** here is anything input can be delivered to, named by a [`WindowId`]: a
//!   window of the window stack, or the surface of an exclusively held layer (one id space).
//!   The [`Stack`] lists them top first; each has a rectangle, an optional input region,
//!   whether it takes input now (visible, not fully transparent, with a buffer), and whether
//!   it is a window proper (it can take the keyboard focus) or an exclusive layer's surface.
//! - A **hit test** ([`Stack::hit`]) finds the topmost entry taking input under a point:
//!   exclusive layers first (they are listed above the windows), hit in *glass* coordinates
//!   (the physical panel, [`Space::Glass`]: an exclusive layer sees the glass as it is), then
//!   the windows in output coordinates; a window's point must also be inside its input
//!   region if it set one. The hit gives a [`Target`]: the id and the output point that is
//!   the target's local origin, fixed at the time of the hit.
//! - An **implicit grab per contact**: a touch-down hit-tests once, and that slot's motion,
//!   up and cancel go to the same target whatever the finger slides over, until up or
//!   cancel. Several fingers on several windows at once each keep their own target, across
//!   the whole multi-touch frame; a frame event goes to every target that got an event since
//!   the last frame. A down that hits nothing leaves the slot unrouted until it lifts.
//! - The **pointer** has one position, clamped to the output. The entry under it gets
//!   `Enter`, `Motion` and `Leave`. The first button pressed **grabs** the pointer for the
//!   entry under it until the last button is released: motion, buttons and scrolling keep
//!   reaching it (no enter/leave meanwhile), even off the window. When the last button is
//!   released, the hit test is done again and enter/leave catch up.
//! - **Focus** (the keyboard's) is a window or none. It follows a touch-down and a first
//!   button press onto a window (not onto an exclusive layer's surface), and a window's own
//!   request ([`Seat::focus`]). Keys go to the focused window; with none they are dropped.
//! - A window **going away** ([`Seat::forget`]) takes its grabs, its pointer enter and the
//!   focus with it, silently: the contacts it held deliver nothing more (their up is
//!   dropped), a pointer grab it held ends (the buttons still held then route like no grab),
//!   and the focus becomes none. Nothing is ever routed to an id the stack no longer lists.
//!
//! The model keeps some quirks of the master it came from, on purpose (behaviour unchanged):
//! a target's local origin is the one of its hit (a window that moves during a grab gets
//! coordinates relative to where it was), and a second down on a slot that did not lift
//! re-targets the slot (the kernel never sends that).

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

/// What input is delivered to: a window or an exclusive layer's surface (one id space).
pub type WindowId = u32;

use fusionfb_types::Affine;
/// A rectangle in pixels, in the coordinates of its [`Space`] (logical for windows,
/// physical for an exclusive layer's surface: the space is a value here, since one stack holds
/// both).
pub use fusionfb_types::Rect;

/// Which coordinates an entry of the stack lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// The (upright, logical) output: windows. Local coordinates are output coordinates
    /// minus the window's position.
    Output,
    /// The glass as it is (physical, before the output transform): an exclusive layer's
    /// surface. Local coordinates at the hit are the glass pixel's, relative to the rectangle.
    Glass,
}

/// One entry of the [`Stack`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputWindow<'a> {
    pub id: WindowId,
    /// A window proper, which can take the keyboard focus (else an exclusive layer's surface).
    pub focusable: bool,
    /// Where it is, in the coordinates of `space`.
    pub rect: Rect,
    pub space: Space,
    /// Where it takes input, relative to `rect`'s corner (`None`: all of `rect`).
    pub region: Option<&'a [Rect]>,
    /// Whether it takes input at all now (visible, not fully transparent, with a buffer). An
    /// entry that does not is still live: it may keep its focus and grabs.
    pub takes_input: bool,
}

/// A view of the output for one routing decision: what is on it, top first, and how output
/// coordinates map to the glass.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack<'a> {
    /// Top first. Every live window is listed, whether it takes input or not.
    pub windows: Vec<InputWindow<'a>>,
    /// The output's (logical) size: the pointer stays inside it.
    pub size: (u32, u32),
    /// Output to glass coordinates (the output transform's map,
    /// [`Transform::to_physical`](fusionfb_types::Transform::to_physical)).
    pub to_glass: Affine,
}

impl<'a> Stack<'a> {
    /// An output of `size` whose glass is upright.
    pub fn new(size: (u32, u32)) -> Self {
        Stack {
            windows: Vec::new(),
            size,
            to_glass: Affine::IDENTITY,
        }
    }

    /// Whether `id` is live (listed).
    pub fn contains(&self, id: WindowId) -> bool {
        self.windows.iter().any(|w| w.id == id)
    }

    /// Whether `id` is a live window proper (one that can take the focus).
    pub fn is_window(&self, id: WindowId) -> bool {
        self.windows.iter().any(|w| w.id == id && w.focusable)
    }

    /// The glass pixel under output point `(x, y)`.
    fn glass_pixel(&self, x: f32, y: f32) -> (i32, i32) {
        let (gx, gy) = self.to_glass.apply(f64::from(x), f64::from(y));
        (gx.floor() as i32, gy.floor() as i32)
    }

    /// The hit test: the topmost entry taking input at output point `(x, y)`.
    pub fn hit(&self, x: f32, y: f32) -> Option<Target> {
        let (ox, oy) = (x.floor() as i32, y.floor() as i32);
        let glass = if self.windows.iter().any(|w| w.space == Space::Glass) {
            self.glass_pixel(x, y)
        } else {
            (ox, oy)
        };
        self.windows.iter().find_map(|w| {
            if !w.takes_input {
                return None;
            }
            let (px, py) = match w.space {
                Space::Output => (ox, oy),
                Space::Glass => glass,
            };
            if !w.rect.contains(px, py) {
                return None;
            }
            let (lx, ly) = (px - w.rect.x, py - w.rect.y);
            if !w
                .region
                .is_none_or(|reg| reg.iter().any(|r| r.contains(lx, ly)))
            {
                return None;
            }
            let origin = match w.space {
                Space::Output => (w.rect.x as f32, w.rect.y as f32),
                Space::Glass => (x - lx as f32, y - ly as f32),
            };
            Some(Target { id: w.id, origin })
        })
    }
}

/// Where input goes: an id, and the output point that is its local origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub id: WindowId,
    pub origin: (f32, f32),
}

impl Target {
    /// Output point `(x, y)` in the target's local coordinates.
    pub fn local(&self, x: f32, y: f32) -> (f32, f32) {
        (x - self.origin.0, y - self.origin.1)
    }
}

pub use fusionfb_types::TouchPhase;

/// A touch event in output coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touch {
    pub phase: TouchPhase,
    /// The seat-wide multi-touch slot.
    pub slot: u32,
    pub x: f32,
    pub y: f32,
}

/// A pointer event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointerEvent {
    /// Relative motion.
    Motion {
        dx: f32,
        dy: f32,
    },
    /// Absolute motion, in output coordinates.
    MoveTo {
        x: f32,
        y: f32,
    },
    Button {
        button: u32,
        pressed: bool,
    },
    Axis {
        horizontal: f32,
        vertical: f32,
    },
}

/// What a window is told about the pointer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointerKind {
    Enter,
    Leave,
    Motion,
    Button { button: u32, pressed: bool },
    Axis { horizontal: f32, vertical: f32 },
}

/// A routing decision, for the server to carry out in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// The keyboard focus moves (tell `from` it lost it and `to` it got it).
    Focus {
        from: Option<WindowId>,
        to: Option<WindowId>,
    },
    /// Deliver the touch event being routed to `to`, at local `(x, y)`.
    Touch {
        to: WindowId,
        phase: TouchPhase,
        slot: u32,
        x: f32,
        y: f32,
    },
    /// Deliver a pointer event to `to`, at local `(x, y)`; the pointer is at output
    /// `screen`.
    Pointer {
        to: WindowId,
        kind: PointerKind,
        x: f32,
        y: f32,
        screen: (f32, f32),
    },
    /// Deliver the key event being routed to `to`.
    Key { to: WindowId },
}

impl Action {
    /// The window it delivers to (for a focus change, the one that gets it).
    pub fn to(&self) -> Option<WindowId> {
        match *self {
            Action::Focus { to, .. } => to,
            Action::Touch { to, .. } | Action::Pointer { to, .. } | Action::Key { to } => Some(to),
        }
    }
}

/// The pointer's routing state.
#[derive(Debug, Default, Clone)]
struct Pointer {
    x: f32,
    y: f32,
    /// Buttons held, in press order.
    buttons: Vec<u32>,
    grab: Option<Target>,
    over: Option<Target>,
}

/// The seat's routing state: contacts and their targets, the pointer, the focus. See the
/// module docs.
#[derive(Debug, Default, Clone)]
pub struct Seat {
    /// Each held contact's target, by slot (a short sorted list, which keeps its
    /// allocation when the last finger lifts where a map frees its node: routing a touch
    /// allocates nothing).
    touch: Vec<(u32, Target)>,
    /// Targets that got touch events since the last frame event.
    in_frame: Vec<Target>,
    pointer: Pointer,
    focus: Option<WindowId>,
}

impl Seat {
    /// A seat with no contact, the pointer at the output's corner and no focus.
    pub fn new() -> Self {
        Seat::default()
    }

    /// The window with the keyboard focus.
    pub fn focused(&self) -> Option<WindowId> {
        self.focus
    }

    /// Where the pointer is (output coordinates).
    pub fn pointer_position(&self) -> (f32, f32) {
        (self.pointer.x, self.pointer.y)
    }

    /// Who holds the pointer grab.
    pub fn pointer_grab(&self) -> Option<WindowId> {
        self.pointer.grab.map(|t| t.id)
    }

    /// The entry the pointer is over (as of the last hit test).
    pub fn pointer_over(&self) -> Option<WindowId> {
        self.pointer.over.map(|t| t.id)
    }

    /// Whether a pointer button is held.
    pub fn buttons_held(&self) -> bool {
        !self.pointer.buttons.is_empty()
    }

    /// Every contact down and who holds it: `(slot, target)`, by slot.
    pub fn touch_grabs(&self) -> impl Iterator<Item = (u32, WindowId)> + '_ {
        self.touch.iter().map(|&(slot, t)| (slot, t.id))
    }

    /// Who holds contact `slot`.
    pub fn touch_grab(&self, slot: u32) -> Option<WindowId> {
        self.contact(slot).map(|t| t.id)
    }

    /// The target of contact `slot`.
    fn contact(&self, slot: u32) -> Option<Target> {
        let i = self.touch.binary_search_by_key(&slot, |&(s, _)| s).ok()?;
        Some(self.touch[i].1)
    }

    /// Contact `slot` now belongs to `target`.
    fn hold(&mut self, slot: u32, target: Target) {
        match self.touch.binary_search_by_key(&slot, |&(s, _)| s) {
            Ok(i) => self.touch[i].1 = target,
            Err(i) => self.touch.insert(i, (slot, target)),
        }
    }

    /// Contact `slot` is gone; whose it was.
    fn release(&mut self, slot: u32) -> Option<Target> {
        let i = self.touch.binary_search_by_key(&slot, |&(s, _)| s).ok()?;
        Some(self.touch.remove(i).1)
    }

    /// Moves the focus to `to` (a window's own request). The caller checks it is a window.
    pub fn focus(&mut self, to: Option<WindowId>) -> Option<Action> {
        if self.focus == to {
            return None;
        }
        let from = std::mem::replace(&mut self.focus, to);
        Some(Action::Focus { from, to })
    }

    /// Forgets everything `id` held (it went away): its contacts, the pointer's grab and
    /// enter, the focus. Nothing is sent.
    pub fn forget(&mut self, id: WindowId) {
        self.touch.retain(|(_, t)| t.id != id);
        self.in_frame.retain(|t| t.id != id);
        let p = &mut self.pointer;
        if p.grab.is_some_and(|t| t.id == id) {
            p.grab = None;
        }
        if p.over.is_some_and(|t| t.id == id) {
            p.over = None;
        }
        if self.focus == Some(id) {
            self.focus = None;
        }
    }

    /// Routes a touch event.
    pub fn touch(&mut self, stack: &Stack, t: Touch) -> Vec<Action> {
        let mut out = Vec::new();
        self.touch_into(stack, t, &mut out);
        out
    }

    /// [`touch`](Self::touch), appending the actions to `out` (a buffer the caller keeps:
    /// routing a touch allocates nothing once it has grown).
    pub fn touch_into(&mut self, stack: &Stack, t: Touch, out: &mut Vec<Action>) {
        let deliver = |target: Target, out: &mut Vec<Action>| {
            let (x, y) = target.local(t.x, t.y);
            out.push(Action::Touch {
                to: target.id,
                phase: t.phase,
                slot: t.slot,
                x,
                y,
            });
        };
        let target = match t.phase {
            TouchPhase::Down => {
                let hit = stack.hit(t.x, t.y);
                match hit {
                    Some(target) => {
                        self.hold(t.slot, target);
                        if stack.is_window(target.id) {
                            out.extend(self.focus(Some(target.id)));
                        }
                    }
                    None => {
                        self.release(t.slot);
                    }
                }
                hit
            }
            TouchPhase::Motion => self.contact(t.slot),
            TouchPhase::Up | TouchPhase::Cancel => self.release(t.slot),
            TouchPhase::Frame => {
                for target in self.in_frame.drain(..) {
                    deliver(target, out);
                }
                return;
            }
        };
        if let Some(target) = target {
            if !self.in_frame.iter().any(|x| x.id == target.id) {
                self.in_frame.push(target);
            }
            deliver(target, out);
        }
    }

    /// Routes a pointer event.
    pub fn pointer(&mut self, stack: &Stack, e: PointerEvent) -> Vec<Action> {
        let mut out = Vec::new();
        match e {
            PointerEvent::Motion { dx, dy } => {
                let (x, y) = (self.pointer.x + dx, self.pointer.y + dy);
                self.pointer_to(stack, x, y, &mut out);
            }
            PointerEvent::MoveTo { x, y } => self.pointer_to(stack, x, y, &mut out),
            PointerEvent::Button { button, pressed } => {
                let p = &mut self.pointer;
                if pressed {
                    if p.buttons.is_empty() {
                        p.grab = p.over;
                        if let Some(t) = p.grab.filter(|t| stack.is_window(t.id)) {
                            out.extend(self.focus(Some(t.id)));
                        }
                    }
                    if !self.pointer.buttons.contains(&button) {
                        self.pointer.buttons.push(button);
                    }
                } else {
                    p.buttons.retain(|&b| b != button);
                }
                let target = self.pointer.grab.or(self.pointer.over);
                self.send(target, PointerKind::Button { button, pressed }, &mut out);
                if !pressed && self.pointer.buttons.is_empty() {
                    self.pointer.grab = None;
                    self.update_over(stack, &mut out);
                }
            }
            PointerEvent::Axis {
                horizontal,
                vertical,
            } => {
                let target = self.pointer.grab.or(self.pointer.over);
                let kind = PointerKind::Axis {
                    horizontal,
                    vertical,
                };
                self.send(target, kind, &mut out);
            }
        }
        out
    }

    /// Routes a key event: to the focused window, if any.
    pub fn key(&self, stack: &Stack) -> Option<Action> {
        let to = self.focus.filter(|&w| stack.contains(w))?;
        Some(Action::Key { to })
    }

    fn pointer_to(&mut self, stack: &Stack, x: f32, y: f32, out: &mut Vec<Action>) {
        let (w, h) = (stack.size.0 as f32, stack.size.1 as f32);
        self.pointer.x = x.clamp(0.0, (w - 1.0).max(0.0));
        self.pointer.y = y.clamp(0.0, (h - 1.0).max(0.0));
        if let Some(g) = self.pointer.grab {
            self.send(Some(g), PointerKind::Motion, out);
        } else if !self.update_over(stack, out) {
            self.send(self.pointer.over, PointerKind::Motion, out);
        }
    }

    /// Re-does the hit test; sends `Leave` and `Enter` if the entry under the pointer
    /// changed (and returns whether it did).
    fn update_over(&mut self, stack: &Stack, out: &mut Vec<Action>) -> bool {
        let (x, y) = self.pointer_position();
        let hit = stack.hit(x, y);
        let old = self.pointer.over;
        self.pointer.over = hit;
        if hit.map(|t| t.id) == old.map(|t| t.id) {
            return false;
        }
        self.send(old, PointerKind::Leave, out);
        self.send(hit, PointerKind::Enter, out);
        true
    }

    fn send(&self, target: Option<Target>, kind: PointerKind, out: &mut Vec<Action>) {
        let Some(t) = target else { return };
        let screen = self.pointer_position();
        let (x, y) = t.local(screen.0, screen.1);
        out.push(Action::Pointer {
            to: t.id,
            kind,
            x,
            y,
            screen,
        });
    }
}
