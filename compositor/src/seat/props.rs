//! Property tests over the seat (niri's habit for its layout): an arbitrary sequence of
//! window-stack changes and touch, pointer and key events is applied to a [`Seat`], and the
//! routing invariants are checked after every step by a checker that sees only the stack
//! and the actions the seat answered.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use fusionfb_types::{Affine, Size, Transform};

const SIZE: u32 = 64;
const SLOTS: u32 = 4;

/// A window of the test's stack.
#[derive(Debug, Clone)]
struct Win {
    id: WindowId,
    rect: Rect,
    region: Option<Vec<Rect>>,
    visible: bool,
    focusable: bool,
    /// An exclusive layer's surface, in glass coordinates.
    glass: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        at: usize,
        rect: Rect,
        region: Option<Vec<Rect>>,
        visible: bool,
        focusable: bool,
        glass: bool,
    },
    Destroy(usize),
    /// Destroys a window the seat holds something of (focus, a grab, the pointer's enter).
    DestroyHolder(usize),
    Restack {
        from: usize,
        to: usize,
    },
    Visible(usize, bool),
    Move(usize, i32, i32),
    Focus(usize),
    Down(u32, f32, f32),
    Motion(u32, f32, f32),
    Up(u32),
    Cancel(u32),
    Frame,
    PointerTo(f32, f32),
    PointerBy(f32, f32),
    Button(u32, bool),
    Axis,
    Key,
}

fn rect() -> impl Strategy<Value = Rect> {
    (-8..SIZE as i32, -8..SIZE as i32, 1..48u32, 1..48u32)
        .prop_map(|(x, y, w, h)| Rect::new(x, y, w, h))
}

fn coord() -> impl Strategy<Value = f32> {
    (0..SIZE * 4).prop_map(|v| v as f32 / 4.0)
}

fn op() -> impl Strategy<Value = Op> {
    let region = prop::option::weighted(0.3, prop::collection::vec(rect(), 0..3));
    prop_oneof![
        3 => (any::<usize>(), rect(), region, prop::bool::weighted(0.8), prop::bool::weighted(0.8))
            .prop_map(|(at, rect, region, visible, focusable)| Op::Add {
                at,
                rect,
                region,
                visible,
                focusable,
                glass: false,
            }),
        1 => (rect(), prop::bool::weighted(0.8)).prop_map(|(rect, visible)| Op::Add {
            at: 0,
            rect,
            region: None,
            visible,
            focusable: false,
            glass: true,
        }),
        2 => any::<usize>().prop_map(Op::Destroy),
        2 => any::<usize>().prop_map(Op::DestroyHolder),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Op::Restack { from, to }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, v)| Op::Visible(i, v)),
        1 => (any::<usize>(), -8..SIZE as i32, -8..SIZE as i32)
            .prop_map(|(i, x, y)| Op::Move(i, x, y)),
        1 => any::<usize>().prop_map(Op::Focus),
        4 => (0..SLOTS, coord(), coord()).prop_map(|(s, x, y)| Op::Down(s, x, y)),
        4 => (0..SLOTS, coord(), coord()).prop_map(|(s, x, y)| Op::Motion(s, x, y)),
        3 => (0..SLOTS).prop_map(Op::Up),
        1 => (0..SLOTS).prop_map(Op::Cancel),
        2 => Just(Op::Frame),
        3 => (coord(), coord()).prop_map(|(x, y)| Op::PointerTo(x, y)),
        2 => (-20.0f32..20.0, -20.0f32..20.0).prop_map(|(x, y)| Op::PointerBy(x, y)),
        3 => (0..3u32, any::<bool>()).prop_map(|(b, p)| Op::Button(b, p)),
        1 => Just(Op::Axis),
        1 => Just(Op::Key),
    ]
}

/// The eight ways a square panel can be mounted: output to glass.
fn mounting(i: usize) -> Affine {
    let t = Transform::ALL[i % Transform::ALL.len()];
    t.to_physical(Size::new(SIZE, SIZE))
}

/// The seat's view of the test's windows.
fn stack(wins: &[Win], to_glass: Affine) -> Stack<'_> {
    let mut s = Stack::new((SIZE, SIZE));
    s.to_glass = to_glass;
    s.windows = wins
        .iter()
        .map(|w| InputWindow {
            id: w.id,
            focusable: w.focusable,
            rect: w.rect,
            space: if w.glass { Space::Glass } else { Space::Output },
            region: w.region.as_deref(),
            takes_input: w.visible,
        })
        .collect();
    s
}

/// The test's world: the stack, what was destroyed, and the checker's own account of what
/// the seat promised (from the actions alone).
#[derive(Default)]
struct World {
    /// Top first.
    wins: Vec<Win>,
    /// How the panel is mounted.
    to_glass: Affine,
    next_id: WindowId,
    destroyed: BTreeSet<WindowId>,
    seat: Seat,
    /// Fingers down, as the device sees them.
    fingers: BTreeSet<u32>,
    /// Buttons held, as the device sees them.
    buttons: BTreeSet<u32>,
    /// Contacts whose down was delivered, and to whom.
    open: BTreeMap<u32, WindowId>,
    /// Who got the first press of the buttons held now (the pointer grab).
    grab: Option<WindowId>,
    /// Who got the last `Enter` without a `Leave` since.
    entered: Option<WindowId>,
}

impl World {
    fn stack(&self) -> Stack<'_> {
        stack(&self.wins, self.to_glass)
    }

    fn pick(&self, i: usize) -> Option<usize> {
        (!self.wins.is_empty()).then(|| i % self.wins.len())
    }

    fn destroy(&mut self, id: WindowId) {
        self.wins.retain(|w| w.id != id);
        self.destroyed.insert(id);
        self.seat.forget(id);
        // What the checker no longer expects.
        self.open.retain(|_, w| *w != id);
        if self.grab == Some(id) {
            self.grab = None;
        }
        if self.entered == Some(id) {
            self.entered = None;
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let actions = match op.clone() {
            Op::Add {
                at,
                rect,
                region,
                visible,
                focusable,
                glass,
            } => {
                self.next_id += 1;
                let at = at % (self.wins.len() + 1);
                let w = Win {
                    id: self.next_id,
                    rect,
                    region,
                    visible,
                    focusable,
                    glass,
                };
                self.wins.insert(at, w);
                Vec::new()
            }
            Op::Destroy(i) => {
                if let Some(i) = self.pick(i) {
                    self.destroy(self.wins[i].id);
                }
                Vec::new()
            }
            Op::DestroyHolder(i) => {
                let seat = &self.seat;
                let mut held: Vec<WindowId> =
                    (0..SLOTS).filter_map(|s| seat.touch_grab(s)).collect();
                held.extend(seat.focused());
                held.extend(seat.pointer_grab());
                held.extend(seat.pointer_over());
                if !held.is_empty() {
                    self.destroy(held[i % held.len()]);
                }
                Vec::new()
            }
            Op::Restack { from, to } => {
                if let Some(from) = self.pick(from) {
                    let w = self.wins.remove(from);
                    let to = to % (self.wins.len() + 1);
                    self.wins.insert(to, w);
                }
                Vec::new()
            }
            Op::Visible(i, v) => {
                if let Some(i) = self.pick(i) {
                    self.wins[i].visible = v;
                }
                Vec::new()
            }
            Op::Move(i, x, y) => {
                if let Some(i) = self.pick(i) {
                    self.wins[i].rect.x = x;
                    self.wins[i].rect.y = y;
                }
                Vec::new()
            }
            Op::Focus(i) => match self.pick(i) {
                Some(i) if self.wins[i].focusable => {
                    let id = self.wins[i].id;
                    self.seat.focus(Some(id)).into_iter().collect()
                }
                _ => Vec::new(),
            },
            Op::Down(slot, x, y) => {
                // The kernel's contract: a slot goes down once until it lifts.
                let phase = if self.fingers.insert(slot) {
                    TouchPhase::Down
                } else {
                    TouchPhase::Motion
                };
                self.touch(phase, slot, x, y)?
            }
            Op::Motion(slot, x, y) => self.touch(TouchPhase::Motion, slot, x, y)?,
            Op::Up(slot) => {
                self.fingers.remove(&slot);
                self.touch(TouchPhase::Up, slot, 0.0, 0.0)?
            }
            Op::Cancel(slot) => {
                self.fingers.remove(&slot);
                self.touch(TouchPhase::Cancel, slot, 0.0, 0.0)?
            }
            Op::Frame => self.touch(TouchPhase::Frame, 0, 0.0, 0.0)?,
            Op::PointerTo(x, y) => self.pointer(PointerEvent::MoveTo { x, y })?,
            Op::PointerBy(dx, dy) => self.pointer(PointerEvent::Motion { dx, dy })?,
            Op::Button(button, pressed) => {
                // A device never repeats a press or releases what it did not press.
                if pressed == self.buttons.contains(&button) {
                    return Ok(());
                }
                self.pointer(PointerEvent::Button { button, pressed })?
            }
            Op::Axis => self.pointer(PointerEvent::Axis {
                horizontal: 0.0,
                vertical: 1.0,
            })?,
            Op::Key => {
                let stack = self.stack();
                self.seat.key(&stack).into_iter().collect()
            }
        };
        self.check(&actions)?;
        self.check_state()
    }

    fn touch(
        &mut self,
        phase: TouchPhase,
        slot: u32,
        x: f32,
        y: f32,
    ) -> Result<Vec<Action>, TestCaseError> {
        let stack = stack(&self.wins, self.to_glass);
        let actions = self.seat.touch(&stack, Touch { phase, slot, x, y });
        let delivered: Vec<(WindowId, TouchPhase, u32)> = actions
            .iter()
            .filter_map(|a| match *a {
                Action::Touch {
                    to, phase, slot, ..
                } => Some((to, phase, slot)),
                _ => None,
            })
            .collect();
        match phase {
            TouchPhase::Down => {
                prop_assert!(delivered.len() <= 1);
                if let Some(&(to, p, s)) = delivered.first() {
                    prop_assert_eq!((p, s), (TouchPhase::Down, slot));
                    prop_assert_eq!(Some(to), stack.hit(x, y).map(|t| t.id));
                    prop_assert!(!self.open.contains_key(&slot), "a second down on {slot}");
                    self.open.insert(slot, to);
                }
            }
            TouchPhase::Motion | TouchPhase::Up | TouchPhase::Cancel => {
                // A contact's events go to the window its down went to, or nowhere if that
                // one went away (or the down hit nothing).
                let want: Vec<_> = self
                    .open
                    .get(&slot)
                    .map(|&w| (w, phase, slot))
                    .into_iter()
                    .collect();
                prop_assert_eq!(&delivered, &want, "slot {} {:?}", slot, phase);
                if phase != TouchPhase::Motion {
                    // Exactly one up (or cancel), and the slot is closed.
                    self.open.remove(&slot);
                }
            }
            TouchPhase::Frame => {
                let mut seen = BTreeSet::new();
                for &(to, p, _) in &delivered {
                    prop_assert_eq!(p, TouchPhase::Frame);
                    prop_assert!(seen.insert(to), "two frames to {}", to);
                }
            }
        }
        Ok(actions)
    }

    fn pointer(&mut self, e: PointerEvent) -> Result<Vec<Action>, TestCaseError> {
        let stack = stack(&self.wins, self.to_glass);
        let first_press =
            matches!(e, PointerEvent::Button { pressed: true, .. }) && self.buttons.is_empty();
        let last_release = matches!(e, PointerEvent::Button { button, pressed: false }
            if self.buttons.len() == 1 && self.buttons.contains(&button));
        let actions = self.seat.pointer(&stack, e);
        let mut grab = self.grab;
        for a in &actions {
            let Action::Pointer { to, kind, .. } = *a else {
                continue;
            };
            if let Some(g) = grab {
                // A pointer grab holds while a button is down.
                prop_assert_eq!(to, g, "{:?} escaped the grab", kind);
                if last_release {
                    // The release itself is the grab's; enter and leave catch up after it.
                    let release = matches!(kind, PointerKind::Button { pressed: false, .. });
                    prop_assert!(release, "{:?} before the release", kind);
                    grab = None;
                }
            }
            match kind {
                PointerKind::Enter => {
                    prop_assert_eq!(self.entered, None, "enter without leave");
                    self.entered = Some(to);
                }
                PointerKind::Leave => {
                    prop_assert_eq!(self.entered, Some(to), "leave without enter");
                    self.entered = None;
                }
                PointerKind::Motion | PointerKind::Axis { .. } if grab.is_none() => {
                    prop_assert_eq!(Some(to), self.entered, "motion to a window not entered");
                }
                _ => {}
            }
        }
        if let PointerEvent::Button { button, pressed } = e {
            if pressed {
                self.buttons.insert(button);
                if first_press {
                    self.grab = self.seat.pointer_grab();
                    prop_assert_eq!(self.grab, self.entered);
                }
            } else {
                self.buttons.remove(&button);
                if self.buttons.is_empty() {
                    self.grab = None;
                }
            }
        }
        Ok(actions)
    }

    /// Invariants of every answer.
    fn check(&self, actions: &[Action]) -> Result<(), TestCaseError> {
        let stack = self.stack();
        for a in actions {
            if let Some(to) = a.to() {
                // Never to a destroyed window, always to one the stack lists.
                prop_assert!(!self.destroyed.contains(&to), "{a:?} to a destroyed window");
                prop_assert!(stack.contains(to), "{a:?} to an unlisted window");
            }
            if let Action::Focus { from, to } = *a {
                prop_assert_ne!(from, to);
                prop_assert!(to.is_none_or(|w| stack.is_window(w)));
            }
        }
        Ok(())
    }

    /// Invariants of the state between steps.
    fn check_state(&self) -> Result<(), TestCaseError> {
        let stack = self.stack();
        // Focus is a live window or none.
        prop_assert!(self.seat.focused().is_none_or(|w| stack.is_window(w)));
        // A touch grab never moves to another window.
        for (&slot, &w) in &self.open {
            prop_assert_eq!(self.seat.touch_grab(slot), Some(w));
        }
        for slot in 0..SLOTS {
            if let Some(w) = self.seat.touch_grab(slot) {
                prop_assert!(stack.contains(w));
                prop_assert!(
                    self.fingers.contains(&slot),
                    "slot {slot} held after its up"
                );
            }
        }
        // The pointer grab is held while a button is, by who got the first press.
        if !self.buttons.is_empty() {
            prop_assert_eq!(self.seat.pointer_grab(), self.grab);
        } else {
            prop_assert_eq!(self.seat.pointer_grab(), None);
        }
        for w in [self.seat.pointer_grab(), self.seat.pointer_over()] {
            prop_assert!(w.is_none_or(|w| stack.contains(w)));
        }
        let (x, y) = self.seat.pointer_position();
        prop_assert!((0.0..SIZE as f32).contains(&x) && (0.0..SIZE as f32).contains(&y));
        Ok(())
    }

    /// Lifts every finger and releases every button: every open contact gets its up.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        for slot in self.fingers.clone() {
            self.apply(&Op::Up(slot))?;
        }
        for b in self.buttons.clone() {
            self.apply(&Op::Button(b, false))?;
        }
        prop_assert!(self.open.is_empty(), "downs without an up: {:?}", self.open);
        prop_assert_eq!(self.seat.pointer_grab(), None);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn routing_keeps_its_promises(mount in 0..8usize, ops in prop::collection::vec(op(), 1..80)) {
        let mut w = World {
            to_glass: mounting(mount),
            ..World::default()
        };
        for op in &ops {
            w.apply(op)?;
        }
        w.finish()?;
    }
}
