//! Blanking and waking the display: `[display] blank-after`, `fusionfb blank on|off`
//! ([`proto::Request::Blank`]), and what keeps the panel on (a fusionfb client's
//! [`proto::Request::InhibitBlanking`], a shown Wayland surface's `zwp_idle_inhibitor_v1`).
//!
//! - **Idle.** Every input event (touch, key, pointer; not a device coming or going) stamps
//!   the time; one timer on the loop fires when `blank-after` has passed since the last
//!   stamp it knows of, and either blanks or re-arms for the newer stamp. So input costs a
//!   clock read, never a timer change.
//! - **Blanked.** The backend turns the panel off ([`gfx_drivers::Backend::set_blank`]:
//!   KMS `ACTIVE = 0` / DPMS, `FBIOBLANK`); the server commits no frames, so clients keep
//!   running but get no `FrameDone` (nor Wayland frame callbacks) until it is back, and
//!   their flips wait. A frame in flight is let land first. A backend that cannot blank
//!   is blanked logically (no frames, the panel shows the last one), with a warning once.
//! - **Wake.** The first input event turns it back on and is swallowed, with the rest of
//!   its gesture: every touch until all fingers are up (and the frame that ends it), the
//!   release of a key or button whose press woke it. Nothing of it reaches an application.
//!   The last frame is shown again at once and everything is redrawn.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use calloop::timer::{TimeoutAction, Timer};
use calloop::RegistrationToken;
use fusion::FusioneeId;
use fusionfb_input::{InputEvent, TouchPhase};
use fusionfb_protocol as proto;
use tracing::{info, warn};

use super::Server;

/// How long to wait before trying again when the timer fires with a frame in flight.
const FRAME_LANDING: Duration = Duration::from_millis(20);

/// The blanking state of the server's output.
#[derive(Debug, Default)]
pub(crate) struct Blanking {
    /// `[display] blank-after`; `None`: only `fusionfb blank on` blanks.
    after: Option<Duration>,
    /// The panel is off.
    pub(crate) blanked: bool,
    /// The last input event.
    last_input: Option<Instant>,
    /// The idle timer, while armed.
    timer: Option<RegistrationToken>,
    /// fusionfb clients keeping the display on.
    inhibitors: BTreeSet<FusioneeId>,
    /// Swallowing the gesture that woke the display: touch slots still down.
    touch_slots: HashSet<u32>,
    /// A touch gesture woke it: swallow touches until its last finger is up, then its frame.
    touch_gesture: bool,
    /// Keys and buttons whose press woke it: their release is swallowed too.
    held: HashSet<u32>,
    /// The backend cannot blank: said once.
    unsupported_told: bool,
    blanks: u64,
    wakes: u64,
    swallowed: u64,
}

impl Server {
    /// Sets `[display] blank-after` (`None`: never blank when idle) and restarts the idle
    /// time from now.
    pub fn set_blank_after(&mut self, after: Option<Duration>) {
        self.blanking.after = after.filter(|d| !d.is_zero());
        self.blanking.last_input = Some(Instant::now());
        self.arm_idle_timer();
    }

    /// Whether the display is blanked.
    pub fn blanked(&self) -> bool {
        self.blanking.blanked
    }

    /// Turns the display off (`on`) or back on, as `fusionfb blank on|off` does.
    pub fn blank(&mut self, on: bool) -> fusion::Result<()> {
        if on {
            self.blank_now()
        } else {
            self.unblank();
            self.blanking.last_input = Some(Instant::now());
            self.arm_idle_timer();
            Ok(())
        }
    }

    /// `who` keeps the display on (`inhibit`) or no longer does.
    pub(crate) fn inhibit_blanking(&mut self, who: FusioneeId, inhibit: bool) {
        if inhibit {
            self.blanking.inhibitors.insert(who);
        } else if self.blanking.inhibitors.remove(&who) {
            // Idle time counts from now for whoever it was holding off.
            self.blanking.last_input = Some(Instant::now());
            self.arm_idle_timer();
        }
    }

    /// `who` left: it inhibits no more.
    pub(crate) fn blanking_forget(&mut self, who: FusioneeId) {
        self.inhibit_blanking(who, false);
    }

    /// Whether some client keeps the display on now.
    fn blank_inhibited(&self) -> bool {
        if !self.blanking.inhibitors.is_empty() {
            return true;
        }
        #[cfg(feature = "wayland")]
        if !self.wayland_idle_inhibitors().is_empty() {
            return true;
        }
        false
    }

    /// Turns the panel off now.
    fn blank_now(&mut self) -> fusion::Result<()> {
        if self.blanking.blanked {
            return Ok(());
        }
        let ids: Vec<_> = self.outputs.iter().map(|o| o.id).collect();
        for id in ids {
            match self.backend.set_blank(id, true) {
                Ok(()) => {}
                Err(gfx_drivers::backend::Error::Unsupported(why)) => {
                    if !std::mem::replace(&mut self.blanking.unsupported_told, true) {
                        warn!(
                            "the display cannot be turned off ({why}): blanking stops frames only"
                        );
                    }
                }
                Err(e) => return Err(super::backend_failure("blanking the display", e)),
            }
        }
        info!(outputs = %self.output_names(), "display blanked");
        self.blanking.blanked = true;
        self.blanking.blanks += 1;
        Ok(())
    }

    /// Turns the panel back on and shows everything again.
    fn unblank(&mut self) {
        if !self.blanking.blanked {
            return;
        }
        let ids: Vec<_> = self.outputs.iter().map(|o| o.id).collect();
        for id in ids {
            if let Err(e) = self.backend.set_blank(id, false) {
                if !matches!(e, gfx_drivers::backend::Error::Unsupported(_)) {
                    warn!("turning the display back on: {e}");
                }
            }
        }
        info!(outputs = %self.output_names(), "display woken");
        self.blanking.blanked = false;
        self.blanking.wakes += 1;
        for out in &mut self.outputs {
            out.planes_dirty = true;
        }
        self.damage_all();
    }

    /// An input event arrived: stamps the idle time; wakes a blanked display. Returns
    /// whether the event is swallowed (it woke the display, or belongs to the gesture that
    /// did).
    pub(crate) fn blanking_input(&mut self, e: &InputEvent) -> bool {
        if matches!(e, InputEvent::DeviceAdded(_) | InputEvent::DeviceRemoved(_)) {
            return false;
        }
        self.blanking.last_input = Some(Instant::now());
        let woke = self.blanking.blanked;
        if woke {
            self.unblank();
            self.arm_idle_timer();
            let b = &mut self.blanking;
            b.touch_slots.clear();
            b.held.clear();
            b.touch_gesture = matches!(e, InputEvent::Touch(_));
            self.note_waking_press(e);
        }
        let swallow = woke || self.in_waking_gesture(e);
        if swallow {
            self.blanking.swallowed += 1;
        }
        swallow
    }

    /// Whether `e` belongs to the gesture that woke the display (and notes what it holds).
    fn in_waking_gesture(&mut self, e: &InputEvent) -> bool {
        let b = &mut self.blanking;
        match e {
            InputEvent::Touch(t) if b.touch_gesture => {
                match t.phase {
                    TouchPhase::Down | TouchPhase::Motion => {
                        b.touch_slots.insert(t.slot);
                    }
                    TouchPhase::Up | TouchPhase::Cancel => {
                        b.touch_slots.remove(&t.slot);
                    }
                    TouchPhase::Frame => {
                        // The frame after the last finger left ends the gesture.
                        if b.touch_slots.is_empty() {
                            b.touch_gesture = false;
                        }
                    }
                }
                true
            }
            // Its repeats and its release.
            InputEvent::Key(k) if k.pressed => b.held.contains(&k.keycode),
            InputEvent::Key(k) => b.held.remove(&k.keycode),
            InputEvent::PointerButton {
                button, pressed, ..
            } => !pressed && b.held.remove(&(button | 1 << 31)),
            _ => false,
        }
    }

    /// Notes the key or button press that woke the display, so its release is swallowed.
    fn note_waking_press(&mut self, e: &InputEvent) {
        match e {
            InputEvent::Key(k) if k.pressed => {
                self.blanking.held.insert(k.keycode);
            }
            InputEvent::PointerButton {
                button,
                pressed: true,
                ..
            } => {
                self.blanking.held.insert(button | 1 << 31);
            }
            _ => {}
        }
    }

    /// Arms the idle timer for `blank-after` past the last input (replacing one armed).
    fn arm_idle_timer(&mut self) {
        if let Some(t) = self.blanking.timer.take() {
            self.handle.remove(t);
        }
        let Some(after) = self.blanking.after else {
            return;
        };
        if self.blanking.blanked {
            return;
        }
        let last = self.blanking.last_input.unwrap_or_else(Instant::now);
        self.arm_idle_timer_at(last + after);
    }

    fn arm_idle_timer_at(&mut self, at: Instant) {
        let timer = Timer::from_deadline(at);
        match self
            .handle
            .insert_source(timer, |_, _, s: &mut Server| s.idle_timer_fired())
        {
            Ok(token) => self.blanking.timer = Some(token),
            Err(e) => warn!("no idle timer, the display will not blank: {}", e.error),
        }
    }

    /// The idle timer: blanks if the display was idle long enough and nothing inhibits,
    /// else comes back when it might be.
    fn idle_timer_fired(&mut self) -> TimeoutAction {
        let action = self.idle_check();
        if matches!(action, TimeoutAction::Drop) {
            self.blanking.timer = None;
        }
        action
    }

    fn idle_check(&mut self) -> TimeoutAction {
        let Some(after) = self.blanking.after else {
            return TimeoutAction::Drop;
        };
        if self.blanking.blanked {
            return TimeoutAction::Drop;
        }
        let now = Instant::now();
        let last = self.blanking.last_input.unwrap_or(now);
        let due = last + after;
        if due > now {
            // Input came since the timer was armed.
            return TimeoutAction::ToInstant(due);
        }
        if self.blank_inhibited() {
            // Check again a period later (the inhibitor may go away).
            return TimeoutAction::ToInstant(now + after);
        }
        if self.outputs.iter().any(|o| o.in_flight) {
            return TimeoutAction::ToInstant(now + FRAME_LANDING);
        }
        if let Err(e) = self.blank_now() {
            warn!("the display did not blank: {e}");
            return TimeoutAction::ToInstant(now + after);
        }
        TimeoutAction::Drop
    }

    /// Blanking as `fusionfb status` shows it.
    pub(crate) fn blank_status(&self) -> proto::BlankStatus {
        let b = &self.blanking;
        let idle = b.last_input.map(|t| t.elapsed()).unwrap_or_default();
        proto::BlankStatus {
            blanked: b.blanked,
            after_ms: b.after.map(|d| d.as_millis() as u64),
            idle_ms: idle.as_millis() as u64,
            inhibited_by: b
                .inhibitors
                .iter()
                .filter_map(|&f| self.master.pid_of(f))
                .collect(),
            blanks: b.blanks,
            wakes: b.wakes,
            swallowed: b.swallowed,
        }
    }
}
