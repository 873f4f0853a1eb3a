//! Plumbing shared by the demo applications (`fusionfb-paint`, `fusionfb-clock`,
//! `fusionfb-gallery`): their common command line, the window they draw in, and the frame
//! loop — draw, flip the damage, wait for the frame, wait for events.
//!
//! The applications talk only to the master, so they run unchanged on every backend (DRM,
//! fbdev, headless, window). Each one:
//!
//! 1. parses [`WindowArgs`] (`--world`, `--x`, `--y`, `--width`, `--height`, `--layer`) and
//!    opens an [`App`]: a connection, a double-buffered XRGB8888 surface and a window on it;
//! 2. draws with [`App::draw`], which hands a [`Canvas`] over the back buffer to a closure
//!    that returns the damage it drew, flips **only those rectangles**, and waits for the
//!    frame that shows them ([`Display::wait_frame`]) — drawing is paced by the display,
//!    never faster;
//! 3. blocks in [`App::wait`] (the master's events, with a time-out) when it has nothing to
//!    draw — never a busy loop;
//! 4. ends with [`AppError::Ended`] when the master asks it to leave or goes away for good,
//!    which [`main`] turns into exit status 0; any other error is printed to stderr, with
//!    status 1. A master that dies and is replaced is rejoined ([`crate::display`]): the
//!    window and its picture come back, and a flip the dead master did not answer is made
//!    again.
//!
//! ## Double buffering: the back buffer is repaired by copying
//!
//! After a flip the next frame is drawn into the *other* buffer, which lacks whatever the
//! frame just flipped changed. There are two ways to catch up: redraw the union of the last
//! two frames' damage, or copy the last frame's damage from the buffer now on the glass
//! into the back buffer before drawing (what EGL calls buffer age 2). **We copy.** The
//! paint application has no model to redraw from — the picture *is* its history of strokes
//! — so redrawing is not an option there, and for the clock and the gallery the copy of a
//! few damaged rows is a `memcpy` that costs less than drawing text or a picture again. So
//! [`App`] keeps the damage of the last flip (`missed`), and [`App::draw`] first copies
//! those rectangles from the front buffer into the back one, then lets the application draw
//! only what changes now. The master only reads the front buffer while it composes, so
//! reading it at the same time is safe. (This is why [`App`] uses exactly two buffers: with
//! three, the back buffer would lack the last *two* frames' damage.)
//!
//! The palette and the geometry the applications draw with are constants here, so tests and
//! `fusionfb demo` can check pixels without guessing: [`PALETTE`], [`PAINT_BACKGROUND`],
//! [`CLEAR_BUTTON`], [`CLOCK_BACKGROUND`], [`SWIPE_MIN_PX`].

use std::process::ExitCode;
use std::time::Duration;

use fusionfb_protocol as proto;
use gfx_drivers::Format;

use crate::display::{ClientError, ClientEvent, Display, Surface, Window};
use crate::draw::{Canvas, Colour, DrawError, Rect};

/// The paint brush colours, one per touch slot (`PALETTE[slot % 10]`): ten distinct,
/// saturated colours, none of them close to [`PAINT_BACKGROUND`] or the Clear button.
pub const PALETTE: [Colour; 10] = [
    Colour::rgb(230, 25, 75),  // red
    Colour::rgb(60, 180, 75),  // green
    Colour::rgb(0, 90, 220),   // blue
    Colour::rgb(245, 130, 48), // orange
    Colour::rgb(145, 30, 180), // purple
    Colour::rgb(0, 190, 210),  // cyan
    Colour::rgb(240, 50, 230), // magenta
    Colour::rgb(140, 90, 20),  // brown
    Colour::rgb(0, 0, 117),    // navy
    Colour::rgb(200, 200, 0),  // olive yellow
];

/// The paint canvas's background (light).
pub const PAINT_BACKGROUND: Colour = Colour::rgb(0xf4, 0xf1, 0xe8);

/// The paint application's Clear button, in window coordinates (top-left).
pub const CLEAR_BUTTON: Rect = Rect::new(8, 8, 96, 48);

/// Radius of a paint dot; strokes are twice as wide.
pub const BRUSH_RADIUS: f32 = 12.0;

/// The clock's background (dark); its text is light.
pub const CLOCK_BACKGROUND: Colour = Colour::rgb(0x1c, 0x24, 0x30);

/// A gallery swipe: the finger travels more than this horizontally (and more horizontally
/// than vertically) between down and up.
pub const SWIPE_MIN_PX: f32 = 60.0;

/// How long [`App::draw`] waits for the frame that shows a flip before drawing on anyway
/// (a master that stopped presenting must not freeze the application).
const FRAME_TIMEOUT: Duration = Duration::from_secs(1);

/// Where an application's window goes: the common command line of the demo applications.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WindowArgs {
    /// The world (master) to join [default: $FUSIONFB_WORLD, else `default`].
    #[arg(long)]
    pub world: Option<String>,
    /// Left edge of the window on the output.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub x: i32,
    /// Top edge of the window on the output.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub y: i32,
    /// Width of the window [default: the output's width from --x on].
    #[arg(long)]
    pub width: Option<u32>,
    /// Height of the window [default: the output's height from --y on].
    #[arg(long)]
    pub height: Option<u32>,
    /// The layer to show the window on.
    #[arg(long, default_value_t = 0)]
    pub layer: u32,
    /// The output to show the window on, by name (`fusionfb status` lists them): --x and
    /// --y are on that output, and the size defaults to the rest of it [default:
    /// $FUSIONFB_OUTPUT, else the first output].
    #[arg(long)]
    pub output: Option<String>,
}

impl WindowArgs {
    /// The window's size on an output of `output_w`×`output_h`: as given, else what is left
    /// of the output right of and below the window's corner. An error says what was asked
    /// for and how big the output is.
    pub fn size(&self, output_w: u32, output_h: u32) -> Result<(u32, u32), AppError> {
        let side = |given: Option<u32>, at: i32, out: u32, pos: &str, len: &str| {
            let max = proto::MAX_SIDE;
            match given {
                Some(n) if n == 0 || n > max => Err(format!("--{len} {n}: use 1..={max}")),
                Some(n) => Ok(n),
                None if i64::from(at) >= i64::from(out) => Err(format!(
                    "--{pos} {at} is past the output's {len} ({out}), so no {len} is left \
                     for the window: give --{pos} below {out}, or --{len}"
                )),
                None => Ok((i64::from(out) - i64::from(at.max(0))).min(i64::from(max)) as u32),
            }
        };
        let sizes = (
            side(self.width, self.x, output_w, "x", "width"),
            side(self.height, self.y, output_h, "y", "height"),
        );
        match sizes {
            (Ok(w), Ok(h)) => Ok((w, h)),
            (Err(e), _) | (_, Err(e)) => Err(AppError::Usage(format!(
                "{e} (asked for a window at ({}, {}) of {} on a {output_w}x{output_h} output)",
                self.x,
                self.y,
                match (self.width, self.height) {
                    (Some(w), Some(h)) => format!("{w}x{h}"),
                    (Some(w), None) => format!("width {w}"),
                    (None, Some(h)) => format!("height {h}"),
                    (None, None) => "the rest of the output".to_string(),
                }
            ))),
        }
    }
}

/// What ends an application.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The master asked us to leave, or went away: a normal end (exit status 0).
    #[error("the master ended the session")]
    Ended,
    /// Talking to the master failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// Setting up a drawing failed.
    #[error("drawing: {0}")]
    Draw(#[from] DrawError),
    /// A buffer could not be read or written.
    #[error("buffer: {0}")]
    Buffer(#[from] gfx_drivers::backend::Error),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
}

/// Runs an application's body and turns its end into an exit status: 0 when it returns or
/// ends with [`AppError::Ended`], 1 (with the error on stderr, prefixed by `name`) otherwise.
pub fn main(name: &str, body: impl FnOnce() -> Result<(), AppError>) -> ExitCode {
    match body() {
        Ok(()) | Err(AppError::Ended) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the point (`x`, `y`) lies in `r` (a touch on a button).
pub fn contains(r: Rect, x: f32, y: f32) -> bool {
    let (x0, y0) = (r.x as f32, r.y as f32);
    x >= x0 && y >= y0 && x < x0 + r.w as f32 && y < y0 + r.h as f32
}

/// Most rectangles one flip carries; more are merged into their bounding box.
const MAX_DAMAGE_RECTS: usize = 32;

/// A demo application's connection, surface and window. See the module docs.
#[derive(Debug)]
pub struct App {
    display: Display,
    surface: Surface,
    window: Window,
    /// The damage of the last flip: what the back buffer lacks.
    missed: Vec<Rect>,
    /// Keys for our window since the last [`App::take_keys`].
    keys: Vec<proto::Key>,
    /// The left mouse button is held in our window: the pointer acts as a finger.
    mouse_down: bool,
}

/// The output rectangle (layout coordinates) a window on `layer` goes in: output `wanted`'s,
/// or the output `layer` is bound to (then `true`: the layer's positions start at that
/// output's corner), or the first output's.
fn window_place(
    display: &mut Display,
    wanted: Option<&str>,
    layer: u32,
) -> Result<(proto::Rect, bool), AppError> {
    let first = display.output();
    let first = proto::Rect::new(0, 0, first.width, first.height);
    // Only a master with several outputs or bound layers says more (minor 11).
    let outputs = match wanted {
        Some(_) => display.outputs()?,
        None if layer != 0 => display.outputs().unwrap_or_default(),
        None => return Ok((first, false)),
    };
    let rect = |o: &proto::OutputStatus| proto::Rect::new(o.x, o.y, o.width, o.height);
    let bound = outputs.iter().find(|o| o.layers.contains(&layer));
    match (wanted, bound) {
        (Some(name), Some(b)) if b.name != name => Err(AppError::Usage(format!(
            "layer {layer} is on output {}, not {name}",
            b.name
        ))),
        (_, Some(b)) => Ok((rect(b), true)),
        (Some(name), None) => Ok((display.output_place(name)?, false)),
        (None, None) => Ok((first, false)),
    }
}

/// The touch slot a mouse acts as (one past the ten fingers a panel reports at most).
pub const MOUSE_SLOT: u32 = 10;

/// `BTN_LEFT`.
const BTN_LEFT: u32 = 0x110;

impl App {
    /// Joins the master and opens a double-buffered window as `args` say. Nothing shows
    /// until the first [`App::draw`].
    pub fn open(args: &WindowArgs) -> Result<App, AppError> {
        let mut display = Display::connect(args.world.as_deref())?;
        let wanted = args.output.clone().or_else(|| {
            std::env::var("FUSIONFB_OUTPUT")
                .ok()
                .filter(|s| !s.is_empty())
        });
        let (place, bound) = window_place(&mut display, wanted.as_deref(), args.layer)?;
        let (w, h) = args.size(place.w, place.h)?;
        let surface = display.create_surface(w, h, Format::Xrgb8888, 2)?;
        // On a layer bound to an output, positions already start at that output's corner.
        let (x, y) = if bound {
            (args.x, args.y)
        } else {
            (place.x + args.x, place.y + args.y)
        };
        let window = display.create_window(&surface, args.layer, x, y)?;
        Ok(App {
            display,
            surface,
            window,
            missed: Vec::new(),
            keys: Vec::new(),
            mouse_down: false,
        })
    }

    /// The window's width.
    pub fn width(&self) -> u32 {
        self.surface.width()
    }

    /// The window's height.
    pub fn height(&self) -> u32 {
        self.surface.height()
    }

    /// The connection (for what this module does not wrap).
    pub fn display(&mut self) -> &mut Display {
        &mut self.display
    }

    /// The window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Draws a frame: repairs the back buffer (see the module docs), lets `paint` draw into
    /// it, flips the damage `paint` returns and waits for the frame that shows it. Returns
    /// whether anything was flipped (nothing is when `paint` damaged nothing).
    pub fn draw(
        &mut self,
        paint: impl FnOnce(&mut Canvas<'_>) -> Vec<Rect>,
    ) -> Result<bool, AppError> {
        self.repair()?;
        let (w, h) = (self.width(), self.height());
        let back = self.surface.back();
        let (pitch, format) = (back.pitch(), back.format());
        let drawn = back.with_bytes_mut(|bytes| {
            Canvas::new(bytes, w, h, pitch, format).map(|mut canvas| paint(&mut canvas))
        })??;
        let mut damage: Vec<Rect> = drawn.into_iter().filter_map(|r| r.clip(w, h)).collect();
        if damage.is_empty() {
            // The back buffer was repaired and nothing changed: it equals the front one.
            return Ok(false);
        }
        if damage.len() > MAX_DAMAGE_RECTS {
            let all = damage.iter().fold(Rect::default(), |u, r| u.bounding(r));
            damage = vec![all];
        }
        self.flip(&damage)?;
        self.missed = damage;
        match self.display.wait_frame(&self.surface, FRAME_TIMEOUT) {
            Ok(_) => Ok(true),
            // Draw on; the next flip meets `Busy` if the master is really stuck.
            Err(ClientError::Fusion(fusion::Error::TimedOut)) => Ok(true),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Flips, waiting for a frame once if the master still shows the buffer (`Busy`), and
    /// flipping again on the new master if the master died before it answered.
    fn flip(&mut self, damage: &[Rect]) -> Result<(), AppError> {
        match self.try_flip(damage) {
            Err(e) if e.is_master_death() => {
                self.rejoined()?;
                self.try_flip(damage).map_err(|e| self.classify(e))
            }
            r => r.map_err(|e| self.classify(e)),
        }
    }

    /// Whether the display rejoined a new master after its master died ([`AppError::Ended`]
    /// if there is none).
    fn rejoined(&mut self) -> Result<(), AppError> {
        self.display
            .dispatch(Some(Duration::ZERO))
            .map_err(|_| AppError::Ended)?;
        if self.display.slave().master_gone() {
            return Err(AppError::Ended);
        }
        Ok(())
    }

    fn try_flip(&mut self, damage: &[Rect]) -> Result<(), ClientError> {
        match self.display.flip(&mut self.surface, damage) {
            Err(ClientError::Fusion(fusion::Error::Busy)) => {
                match self.display.wait_frame(&self.surface, FRAME_TIMEOUT) {
                    Ok(_) | Err(ClientError::Fusion(fusion::Error::TimedOut)) => {}
                    Err(e) => return Err(e),
                }
                self.display.flip(&mut self.surface, damage)
            }
            r => r,
        }
    }

    /// Copies what the last flip changed from the front buffer into the back one.
    fn repair(&mut self) -> Result<(), AppError> {
        if self.missed.is_empty() {
            return Ok(());
        }
        let missed = std::mem::take(&mut self.missed);
        let buffers = self.surface.buffers();
        let back_index = self.surface.back_index() as usize;
        // The buffer flipped last, just before the back one (the other one of two).
        let front = &buffers[(back_index + buffers.len() - 1) % buffers.len()];
        let back = &buffers[back_index];
        if front.same_as(back) {
            return Ok(());
        }
        let (pitch, bpp) = (back.pitch(), back.format().bytes_per_pixel());
        front.with_bytes(|src| {
            back.with_bytes_mut(|dst| {
                for r in &missed {
                    let len = r.w as usize * bpp;
                    let (x, y) = r.origin_index();
                    for row in y..y + r.h as usize {
                        let at = row * pitch + x * bpp;
                        dst[at..at + len].copy_from_slice(&src[at..at + len]);
                    }
                }
            })
        })?;
        Ok(())
    }

    /// Waits up to `timeout` (`None`: until something comes) for the master's events and
    /// returns the touches for our window, in order (frame markers included).
    /// [`AppError::Ended`] when the master asked us to leave or is gone.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<proto::Touch>, AppError> {
        let mut touches = self.take_events()?;
        if touches.is_empty() {
            self.display
                .dispatch(timeout)
                .map_err(|e| self.classify(e))?;
            touches = self.take_events()?;
        }
        Ok(touches)
    }

    fn take_events(&mut self) -> Result<Vec<proto::Touch>, AppError> {
        let mut touches = Vec::new();
        while let Some(e) = self.display.next_event() {
            match e {
                ClientEvent::Touch { window, touch } if window == self.window.id() => {
                    touches.push(touch)
                }
                ClientEvent::Key { window, key } if window == self.window.id() => {
                    self.keys.push(key)
                }
                ClientEvent::Pointer { window, pointer } if window == self.window.id() => {
                    touches.extend(self.mouse_as_touch(&pointer));
                }
                ClientEvent::LeaveRequested | ClientEvent::MasterGone => {
                    return Err(AppError::Ended)
                }
                // The window and its picture are back on a new master: carry on.
                ClientEvent::Rejoined { .. } => {}
                _ => {}
            }
        }
        Ok(touches)
    }

    /// A mouse acts as a finger in slot [`MOUSE_SLOT`] (on a board with a mouse and no
    /// touchscreen the apps work the same): the left button down is a touch down, motion
    /// while it is held a touch motion, its release a touch up; each is its own frame.
    fn mouse_as_touch(&mut self, p: &proto::Pointer) -> Vec<proto::Touch> {
        let phase = match p.kind {
            proto::PointerKind::Button {
                button: BTN_LEFT,
                pressed: true,
            } if !self.mouse_down => proto::TouchPhase::Down,
            proto::PointerKind::Button {
                button: BTN_LEFT,
                pressed: false,
            } if self.mouse_down => proto::TouchPhase::Up,
            proto::PointerKind::Motion if self.mouse_down => proto::TouchPhase::Motion,
            _ => return Vec::new(),
        };
        self.mouse_down = phase != proto::TouchPhase::Up;
        let touch = proto::Touch {
            phase,
            slot: MOUSE_SLOT,
            x: p.x,
            y: p.y,
            screen_x: p.screen_x,
            screen_y: p.screen_y,
            time_ns: p.time_ns,
        };
        let frame = proto::Touch {
            phase: proto::TouchPhase::Frame,
            ..touch
        };
        vec![touch, frame]
    }

    /// The keys the window received (it has the keyboard focus) since the last call, in
    /// order; [`App::wait`] collects them.
    pub fn take_keys(&mut self) -> Vec<proto::Key> {
        std::mem::take(&mut self.keys)
    }

    /// A failed call is the end of the session when the master is gone (for good: a
    /// display that rejoined a new master is alive again).
    fn classify(&mut self, e: ClientError) -> AppError {
        if e.is_master_death() || self.display.slave().master_gone() {
            AppError::Ended
        } else {
            e.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_size_defaults_to_the_rest_of_the_output() {
        let a = WindowArgs::default();
        assert_eq!(a.size(1280, 800).unwrap(), (1280, 800));
        let a = WindowArgs {
            x: 1000,
            y: -50,
            ..WindowArgs::default()
        };
        assert_eq!(a.size(1280, 800).unwrap(), (280, 800));
        let a = WindowArgs {
            width: Some(100),
            height: Some(60),
            x: 5000,
            ..WindowArgs::default()
        };
        assert_eq!(a.size(1280, 800).unwrap(), (100, 60));
        let a = WindowArgs {
            x: 5000,
            ..WindowArgs::default()
        };
        let Err(AppError::Usage(e)) = a.size(1280, 800) else {
            panic!("a window right of the output")
        };
        // What was asked for and the output's size, not a window of 0x800.
        assert!(e.contains("--x 5000"), "{e}");
        assert!(e.contains("1280x800 output"), "{e}");
        assert!(!e.contains("window of 0x"), "{e}");
        let a = WindowArgs {
            width: Some(0),
            ..WindowArgs::default()
        };
        let Err(AppError::Usage(e)) = a.size(1280, 800) else {
            panic!("a window of width 0")
        };
        assert!(e.contains("--width 0"), "{e}");
    }

    #[test]
    fn damage_is_clipped_and_empty_damage_dropped() {
        assert!(contains(Rect::new(8, 8, 96, 48), 8.0, 55.9));
        assert!(!contains(Rect::new(8, 8, 96, 48), 104.0, 20.0));
    }

    #[test]
    fn the_palette_has_ten_distinct_opaque_colours_apart_from_the_background() {
        for (i, a) in PALETTE.iter().enumerate() {
            assert!(a.is_opaque());
            assert_ne!(a.to_argb(), PAINT_BACKGROUND.to_argb());
            for b in &PALETTE[i + 1..] {
                assert_ne!(a.to_argb(), b.to_argb());
            }
        }
    }
}
