//! Pointer routing and the cursor.
//!
//! The decisions are the seat's ([`crate::seat`]): the pointer has one position on the
//! output (relative motion moves it, clamped to the output; absolute motion sets it). The
//! window under it gets `Enter`, `Motion` and `Leave`; a button press grabs the pointer for
//! the window it went down in until the last button is released (an implicit grab: a drag
//! that leaves the window keeps reaching it), and moves the keyboard focus there. Exclusive
//! layers take the pointer like they take touches. Here they are carried out, on the windows'
//! reactors.
//!
//! The cursor is a small arrow (or the picture a Wayland client set) above everything: on the
//! output's cursor plane where there is one ([`super::cursor_plane`]: a motion then composes
//! nothing), else composed into the primary plane. It shows when `cursor-visible` says so; by
//! default, while a pointing device is present — so a touch-only board never shows one.

use fusionfb_input::InputEvent;
use fusionfb_protocol::{self as proto, Event, Pointer, PointerKind};
use gfx_drivers::{Buffer, Format};

use super::Server;
use crate::seat::{self, Action};

/// Cursor size in pixels.
const CURSOR: u32 = 12;

/// The cursor's state (where the pointer is and who it is over are the seat's).
#[derive(Debug, Default)]
pub(crate) struct PointerState {
    /// `cursor-visible` from the config (`None`: while a pointing device is present).
    pub visible_config: Option<bool>,
    pub visible: bool,
    /// The master's arrow.
    pub cursor: Option<Buffer>,
    /// What the client under the pointer asked the cursor to be (a Wayland client's).
    pub client: ClientCursor,
    /// The cursor plane in use (of the output the cursor is on), when there is one the
    /// cursor can use.
    pub plane: Option<super::cursor_plane::CursorPlane>,
    /// Cursor planes the cursor left for another output's, still showing it: their output
    /// and plane, each turned off in that output's next frame.
    pub retired: Vec<(
        gfx_drivers::backend::OutputId,
        gfx_drivers::backend::PlaneId,
    )>,
    /// What the cursor cost.
    pub counters: super::cursor_plane::CursorCounters,
    /// The pointer moved since the last frame was made: the next one keeps its compose
    /// deadline so that it shows the latest position (`Server::all_drawn`).
    pub moving: bool,
}

/// The cursor a client asked for while the pointer is over its window (Wayland clients set
/// the other kinds).
#[derive(Debug, Default, Clone)]
#[cfg_attr(not(feature = "wayland"), allow(dead_code))]
pub(crate) enum ClientCursor {
    /// None asked: the master's arrow.
    #[default]
    Arrow,
    /// No cursor.
    Hidden,
    /// The client's picture, drawn with `hotspot` on the pointer.
    Image { buffer: Buffer, hotspot: (i32, i32) },
}

impl Server {
    /// Where the pointer is (output coordinates).
    pub fn pointer_position(&self) -> (f32, f32) {
        self.input.seat.pointer_position()
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
        self.cursor_picture_changed();
        self.damage_cursor();
    }

    /// The cursor's picture changed: the cursor plane's buffer is drawn again.
    fn cursor_picture_changed(&mut self) {
        if let Some(cp) = self.input.pointer.plane.as_mut() {
            cp.image_dirty = true;
        }
    }

    /// The cursor's rectangle, when it is shown.
    pub(crate) fn cursor_rect(&self) -> Option<proto::Rect> {
        self.cursor_image().map(|(_, r)| r)
    }

    /// The cursor's picture and where it goes, when it is shown: the client's, or the
    /// master's arrow.
    pub(crate) fn cursor_image(&self) -> Option<(Buffer, proto::Rect)> {
        let p = &self.input.pointer;
        if !p.visible {
            return None;
        }
        let (x, y) = self.pointer_position();
        let (x, y) = (x.floor() as i32, y.floor() as i32);
        match &p.client {
            ClientCursor::Hidden => None,
            ClientCursor::Image { buffer, hotspot } => Some((
                buffer.clone(),
                proto::Rect::new(
                    x - hotspot.0,
                    y - hotspot.1,
                    buffer.width(),
                    buffer.height(),
                ),
            )),
            ClientCursor::Arrow => p
                .cursor
                .clone()
                .map(|b| (b, proto::Rect::new(x, y, CURSOR, CURSOR))),
        }
    }

    /// Shows `c` as the cursor (see [`ClientCursor`]).
    pub(crate) fn set_client_cursor(&mut self, c: ClientCursor) {
        self.damage_cursor();
        self.input.pointer.client = c;
        self.cursor_picture_changed();
        self.damage_cursor();
    }

    /// Damages the cursor's rectangle where the cursor is composed (on the cursor plane,
    /// the next frame moves the plane instead). This damage alone does not count as
    /// "something else changed" for the cursor's composed-bytes figure.
    pub(crate) fn damage_cursor(&mut self) {
        if self.cursor_on_plane() {
            return;
        }
        self.damage_cursor_anyway();
    }

    /// Damages the cursor's rectangle, on the plane or not.
    pub(crate) fn damage_cursor_anyway(&mut self) {
        let (w, h) = self.layout_size();
        // Clip to the layout: damage outside it means nothing.
        if let Some(r) = self.cursor_rect().and_then(|r| r.clip(w, h)) {
            self.damage_for_cursor(r);
        }
    }

    /// Routes a pointer event.
    pub(crate) fn route_pointer(&mut self, e: InputEvent) {
        let (e, time_ns) = match e {
            InputEvent::PointerMotion { dx, dy, time_ns } => {
                (seat::PointerEvent::Motion { dx, dy }, time_ns)
            }
            InputEvent::PointerAbsolute { x, y, time_ns } => {
                (seat::PointerEvent::MoveTo { x, y }, time_ns)
            }
            InputEvent::PointerButton {
                button,
                pressed,
                time_ns,
            } => (seat::PointerEvent::Button { button, pressed }, time_ns),
            InputEvent::PointerAxis {
                horizontal,
                vertical,
                time_ns,
            } => (
                seat::PointerEvent::Axis {
                    horizontal,
                    vertical,
                },
                time_ns,
            ),
            _ => return,
        };
        let moves = matches!(
            e,
            seat::PointerEvent::Motion { .. } | seat::PointerEvent::MoveTo { .. }
        );
        if moves {
            self.input.pointer.counters.motions += 1;
            self.input.pointer.moving = true;
            self.damage_cursor();
        }
        #[cfg(feature = "wayland")]
        let press = matches!(e, seat::PointerEvent::Button { pressed: true, .. });
        let actions = self.with_seat(|seat, stack| seat.pointer(stack, e));
        if moves {
            self.retarget_cursor_plane();
            self.damage_cursor();
        }
        #[cfg(feature = "wayland")]
        if press {
            let on = actions.iter().find_map(|a| match a {
                Action::Pointer { to, .. } => Some(*to),
                _ => None,
            });
            self.wayland_pressed(on);
        }
        for a in actions {
            match a {
                Action::Pointer {
                    to,
                    kind,
                    x,
                    y,
                    screen,
                } => self.send_pointer(to, kind, (x, y), screen, time_ns),
                a => self.tell_focus(a),
            }
        }
    }

    fn send_pointer(
        &mut self,
        to: u32,
        kind: seat::PointerKind,
        (x, y): (f32, f32),
        (screen_x, screen_y): (f32, f32),
        time_ns: u64,
    ) {
        // A window the pointer enters or leaves has the arrow until its client asks for
        // another.
        if matches!(kind, seat::PointerKind::Enter | seat::PointerKind::Leave)
            && !matches!(self.input.pointer.client, ClientCursor::Arrow)
        {
            self.set_client_cursor(ClientCursor::Arrow);
        }
        #[cfg(feature = "wayland")]
        if self.wayland_pointer(to, kind, (x, y), (screen_x, screen_y), time_ns) {
            return;
        }
        let Some(reactor) = self.reactor_of(to) else {
            return;
        };
        let kind = match kind {
            seat::PointerKind::Enter => PointerKind::Enter,
            seat::PointerKind::Leave => PointerKind::Leave,
            seat::PointerKind::Motion => PointerKind::Motion,
            seat::PointerKind::Button { button, pressed } => {
                PointerKind::Button { button, pressed }
            }
            seat::PointerKind::Axis {
                horizontal,
                vertical,
            } => PointerKind::Axis {
                horizontal,
                vertical,
            },
        };
        self.announce(
            reactor,
            &Event::Pointer(Pointer {
                kind,
                x,
                y,
                screen_x,
                screen_y,
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
