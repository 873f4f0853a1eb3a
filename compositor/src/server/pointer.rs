//! Pointer routing and the cursor.
//!
//! The pointer has one position on the output (relative motion moves it, clamped to the
//! output; absolute motion sets it). The window under it gets `Enter`, `Motion` and `Leave`;
//! a button press grabs the pointer for the window it went down in until the last button is
//! released (an implicit grab: a drag that leaves the window keeps reaching it), and moves the
//! keyboard focus there. Exclusive layers take the pointer like they take touches.
//!
//! The cursor is a small arrow composed above everything (the cursor plane is not used yet).
//! It shows when `cursor-visible` says so; by default, while a pointing device is present — so
//! a touch-only board never shows one.

use fusionfb_input::InputEvent;
use fusionfb_protocol::{self as proto, Event, Pointer, PointerKind};
use gfx_drivers::{Buffer, Format};

use super::input::Target;
use super::Server;

/// Cursor size in pixels.
const CURSOR: u32 = 12;

/// The pointer's state.
#[derive(Debug, Default)]
pub(crate) struct PointerState {
    pub x: f32,
    pub y: f32,
    buttons: Vec<u32>,
    grab: Option<Target>,
    over: Option<Target>,
    /// `cursor-visible` from the config (`None`: while a pointing device is present).
    pub visible_config: Option<bool>,
    pub visible: bool,
    pub cursor: Option<Buffer>,
}

impl PointerState {
    /// Forgets a target that went away.
    pub fn forget(&mut self, id: u32) {
        if self.grab.is_some_and(|t| t.id == id) {
            self.grab = None;
        }
        if self.over.is_some_and(|t| t.id == id) {
            self.over = None;
        }
    }
}

impl Server {
    /// Where the pointer is (output coordinates).
    pub fn pointer_position(&self) -> (f32, f32) {
        (self.input.pointer.x, self.input.pointer.y)
    }

    /// Whether the cursor is drawn.
    pub fn cursor_visible(&self) -> bool {
        self.input.pointer.visible
    }

    /// Sets `cursor-visible` (`None`: while a pointing device is present).
    pub fn set_cursor_visible(&mut self, visible: Option<bool>) {
        self.input.pointer.visible_config = visible;
        self.update_cursor_visibility();
    }

    pub(crate) fn update_cursor_visibility(&mut self) {
        let has_pointer = self
            .input
            .source
            .as_ref()
            .is_some_and(|s| s.devices().iter().any(|d| d.pointer));
        let visible = self.input.pointer.visible_config.unwrap_or(has_pointer);
        if visible == self.input.pointer.visible {
            return;
        }
        self.input.pointer.visible = visible;
        if visible && self.input.pointer.cursor.is_none() {
            match self.backend.allocate(CURSOR, CURSOR, Format::Argb8888) {
                Ok(b) => {
                    draw_arrow(&b);
                    self.input.pointer.cursor = Some(b);
                }
                Err(e) => tracing::warn!("no cursor: {e}"),
            }
        }
        self.damage_cursor();
    }

    /// The cursor's rectangle, when it is shown.
    pub(crate) fn cursor_rect(&self) -> Option<proto::Rect> {
        let p = &self.input.pointer;
        (p.visible && p.cursor.is_some())
            .then(|| proto::Rect::new(p.x.floor() as i32, p.y.floor() as i32, CURSOR, CURSOR))
    }

    fn damage_cursor(&mut self) {
        let (w, h) = (self.width, self.height);
        let r = proto::Rect::new(
            self.input.pointer.x.floor() as i32,
            self.input.pointer.y.floor() as i32,
            CURSOR,
            CURSOR,
        );
        // Clip to the output: damage outside it means nothing.
        let x2 = (r.x + r.w as i32).min(w as i32);
        let y2 = (r.y + r.h as i32).min(h as i32);
        if x2 > r.x && y2 > r.y {
            self.damage(proto::Rect::new(
                r.x,
                r.y,
                (x2 - r.x) as u32,
                (y2 - r.y) as u32,
            ));
        }
    }

    /// Routes a pointer event.
    pub(crate) fn route_pointer(&mut self, e: InputEvent) {
        let (w, h) = (self.width as f32, self.height as f32);
        match e {
            InputEvent::PointerMotion { dx, dy, time_ns } => {
                let (x, y) = (self.input.pointer.x + dx, self.input.pointer.y + dy);
                self.pointer_to(x, y, w, h, time_ns);
            }
            InputEvent::PointerAbsolute { x, y, time_ns } => self.pointer_to(x, y, w, h, time_ns),
            InputEvent::PointerButton {
                button,
                pressed,
                time_ns,
            } => {
                let p = &mut self.input.pointer;
                if pressed {
                    if p.buttons.is_empty() {
                        p.grab = p.over;
                        if let Some(t) = p.grab {
                            if self.windows.iter().any(|w| w.id == t.id) {
                                self.focus(Some(t.id));
                            }
                        }
                    }
                    if !self.input.pointer.buttons.contains(&button) {
                        self.input.pointer.buttons.push(button);
                    }
                } else {
                    p.buttons.retain(|&b| b != button);
                }
                let target = self.input.pointer.grab.or(self.input.pointer.over);
                self.send_pointer(target, PointerKind::Button { button, pressed }, time_ns);
                if !pressed && self.input.pointer.buttons.is_empty() {
                    self.input.pointer.grab = None;
                    self.update_over(time_ns);
                }
            }
            InputEvent::PointerAxis {
                horizontal,
                vertical,
                time_ns,
            } => {
                let target = self.input.pointer.grab.or(self.input.pointer.over);
                self.send_pointer(
                    target,
                    PointerKind::Axis {
                        horizontal,
                        vertical,
                    },
                    time_ns,
                );
            }
            _ => {}
        }
    }

    fn pointer_to(&mut self, x: f32, y: f32, w: f32, h: f32, time_ns: u64) {
        self.damage_cursor();
        self.input.pointer.x = x.clamp(0.0, (w - 1.0).max(0.0));
        self.input.pointer.y = y.clamp(0.0, (h - 1.0).max(0.0));
        self.damage_cursor();
        if let Some(g) = self.input.pointer.grab {
            self.send_pointer(Some(g), PointerKind::Motion, time_ns);
        } else if !self.update_over(time_ns) {
            let over = self.input.pointer.over;
            self.send_pointer(over, PointerKind::Motion, time_ns);
        }
    }

    /// Re-does the hit test; sends `Leave` and `Enter` if the window under the pointer
    /// changed (and returns whether it did).
    fn update_over(&mut self, time_ns: u64) -> bool {
        let (x, y) = self.pointer_position();
        let hit = self.target_at(x, y);
        let old = self.input.pointer.over;
        if hit.map(|t| t.id) == old.map(|t| t.id) {
            self.input.pointer.over = hit;
            return false;
        }
        self.send_pointer(old, PointerKind::Leave, time_ns);
        self.input.pointer.over = hit;
        self.send_pointer(hit, PointerKind::Enter, time_ns);
        true
    }

    fn send_pointer(&mut self, target: Option<Target>, kind: PointerKind, time_ns: u64) {
        let Some(t) = target else { return };
        let (x, y) = self.pointer_position();
        self.announce(
            t.reactor,
            &Event::Pointer(Pointer {
                kind,
                x: x - t.origin.0,
                y: y - t.origin.1,
                screen_x: x,
                screen_y: y,
                time_ns,
            }),
        );
    }
}

/// Draws a white arrow with a black outline into a transparent ARGB8888 buffer.
fn draw_arrow(b: &Buffer) {
    let pitch = b.pitch();
    let _ = b.with_bytes_mut(|bytes| {
        for y in 0..CURSOR as usize {
            for x in 0..CURSOR as usize {
                // A right triangle with its tip at the top-left corner.
                let inside = x <= y && y < CURSOR as usize - 1 && x < CURSOR as usize - 1;
                let edge = inside && (x == 0 || x == y || y == CURSOR as usize - 2);
                let px: u32 = match (inside, edge) {
                    (true, true) => 0xff00_0000,
                    (true, false) => 0xffff_ffff,
                    _ => 0,
                };
                let o = y * pitch + x * 4;
                bytes[o..o + 4].copy_from_slice(&px.to_le_bytes());
            }
        }
    });
}
