//! `fusionfb-paint`: finger painting, one colour per finger.
//!
//! A light canvas with a Clear button in the top-left corner. Every touch slot paints in
//! its own colour (`fusionfb_client::app::PALETTE[slot % 10]`): a touch-down puts a dot of
//! radius 12, and each motion strokes a line of the same width from the previous point, so
//! a drag is one continuous line. Several fingers paint at once. A touch that goes down on
//! the Clear button clears the canvas (and paints nothing while it moves).
//!
//! ```text
//! fusionfb-paint [--world NAME] [--x X] [--y Y] [--width W] [--height H] [--layer L]
//!                [--latency] [--keys]
//! ```
//!
//! With `--latency` it prints one line per touch event as it takes it from the master,
//! `latency_ns=N slot=S phase=P`: the `CLOCK_MONOTONIC` time then minus the event's kernel
//! timestamp (what the board test measures touch-to-app latency with). With `--keys` it
//! prints each key it gets while it has the keyboard focus, `key code=C pressed=B
//! repeat=B text="…"` (what the board's keyboard test reads).

#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use fusionfb_client::app::{
    self, App, AppError, WindowArgs, BRUSH_RADIUS, CLEAR_BUTTON, PAINT_BACKGROUND, PALETTE,
};
use fusionfb_client::draw::{Canvas, Colour, Rect};
use fusionfb_client::protocol::TouchPhase;

/// Finger painting on a fusionfb display: one colour per finger, a Clear button.
#[derive(Debug, Parser)]
#[command(name = "fusionfb-paint", version)]
struct Cli {
    #[command(flatten)]
    window: WindowArgs,
    /// Print each touch's latency (now minus its kernel timestamp) on stdout.
    #[arg(long)]
    latency: bool,
    /// Print each key the window receives on stdout (`key code=30 pressed=true text="a"`).
    #[arg(long)]
    keys: bool,
}

const BUTTON_FILL: Colour = Colour::rgb(70, 80, 95);
const BUTTON_TEXT: Colour = Colour::WHITE;

/// What the touches since the last frame ask to draw, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Dot {
        x: f32,
        y: f32,
        colour: Colour,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        colour: Colour,
    },
    Clear,
}

/// What a finger on the glass is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Contact {
    /// Painting; the last point.
    Painting(f32, f32),
    /// Went down on the Clear button: paints nothing.
    OnButton,
}

fn colour(slot: u32) -> Colour {
    PALETTE[slot as usize % PALETTE.len()]
}

fn draw_button(c: &mut Canvas<'_>) -> Rect {
    let r = CLEAR_BUTTON;
    // The rounded corners show the background: repaint it first.
    c.fill_rect(r, PAINT_BACKGROUND);
    let d = c.fill_rounded_rect(r, 8.0, BUTTON_FILL);
    let size = 22.0;
    let m = c.measure_text(size, "Clear");
    let at = r.centred(m.width, m.height);
    c.draw_text(at.x, at.y, size, BUTTON_TEXT, "Clear");
    d
}

fn run() -> Result<(), AppError> {
    let cli = Cli::parse();
    let mut app = App::open(&cli.window)?;
    let mut contacts: BTreeMap<u32, Contact> = BTreeMap::new();
    let mut ops = vec![Op::Clear];
    let button = |x: f32, y: f32| app::contains(CLEAR_BUTTON, x, y);
    loop {
        if !ops.is_empty() {
            let todo = std::mem::take(&mut ops);
            app.draw(|c| paint(c, &todo))?;
        }
        // Idle until a touch (the time-out only bounds each sleep).
        let touches = app.wait(Some(std::time::Duration::from_secs(5)))?;
        if cli.latency {
            let now = fusionfb_sys::now_ns();
            for t in &touches {
                println!(
                    "latency_ns={} slot={} phase={:?}",
                    now.saturating_sub(t.time_ns),
                    t.slot,
                    t.phase
                );
            }
        }
        for k in app.take_keys() {
            if cli.keys {
                println!(
                    "key code={} pressed={} repeat={} text={:?}",
                    k.keycode, k.pressed, k.repeat, k.text
                );
            }
        }
        for t in touches {
            let (x, y) = (t.x, t.y);
            match t.phase {
                TouchPhase::Down if button(x, y) => {
                    contacts.insert(t.slot, Contact::OnButton);
                    ops.push(Op::Clear);
                }
                TouchPhase::Down => {
                    contacts.insert(t.slot, Contact::Painting(x, y));
                    ops.push(Op::Dot {
                        x,
                        y,
                        colour: colour(t.slot),
                    });
                }
                TouchPhase::Motion => {
                    if let Some(Contact::Painting(px, py)) = contacts.get(&t.slot).copied() {
                        contacts.insert(t.slot, Contact::Painting(x, y));
                        ops.push(Op::Line {
                            from: (px, py),
                            to: (x, y),
                            colour: colour(t.slot),
                        });
                    }
                }
                TouchPhase::Up | TouchPhase::Cancel => {
                    contacts.remove(&t.slot);
                }
                TouchPhase::Frame => {}
            }
        }
    }
}

/// Draws `ops` and returns their damage; the Clear button stays on top of the paint.
fn paint(c: &mut Canvas<'_>, ops: &[Op]) -> Vec<Rect> {
    // Everything before the last clear is wiped by it.
    let start = ops.iter().rposition(|o| *o == Op::Clear).unwrap_or(0);
    let mut damage = Vec::new();
    for op in &ops[start..] {
        damage.push(match *op {
            Op::Clear => c.clear(PAINT_BACKGROUND),
            Op::Dot { x, y, colour } => c.fill_circle(x, y, BRUSH_RADIUS, colour),
            Op::Line { from, to, colour } => {
                c.stroke_line(from.0, from.1, to.0, to.1, 2.0 * BRUSH_RADIUS, colour)
            }
        });
    }
    if damage.iter().any(|d| d.intersect(&CLEAR_BUTTON).is_some()) {
        damage.push(draw_button(c));
    }
    damage
}

fn main() -> ExitCode {
    app::main("fusionfb-paint", run)
}
