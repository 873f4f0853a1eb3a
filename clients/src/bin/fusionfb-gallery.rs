//! `fusionfb-gallery`: three pictures, one at a time, changed with a swipe.
//!
//! The pictures are made at start, the size of the window, with the drawing helpers (no
//! asset files): a colour gradient, overlapping translucent circles, and diagonal stripes,
//! each with its caption (`1/3`, `2/3`, `3/3`) at the bottom. A horizontal swipe — a touch
//! that travels more than `fusionfb_client::app::SWIPE_MIN_PX` (60) pixels sideways between
//! down and up, and more sideways than up or down — shows the next picture (a leftward
//! swipe) or the previous one (rightward), wrapping around. A tap, or a vertical swipe, does
//! nothing.
//!
//! ```text
//! fusionfb-gallery [--world NAME] [--x X] [--y Y] [--width W] [--height H] [--layer L]
//! ```

#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fusionfb_client::app::{self, App, AppError, WindowArgs, SWIPE_MIN_PX};
use fusionfb_client::draw::{Canvas, Colour, DrawError, Image, Rect};
use fusionfb_client::protocol::TouchPhase;

/// A picture gallery on a fusionfb display: swipe left or right to change the picture.
#[derive(Debug, Parser)]
#[command(name = "fusionfb-gallery", version)]
struct Cli {
    #[command(flatten)]
    window: WindowArgs,
}

/// How many pictures there are.
const PICTURES: usize = 3;

/// A horizontal gradient from warm to cool, darkening downwards.
fn gradient(w: u32, h: u32) -> Result<Image, DrawError> {
    let mut data = Vec::with_capacity(w as usize * h as usize * 4);
    let (fw, fh) = ((w.max(2) - 1) as f32, (h.max(2) - 1) as f32);
    for y in 0..h {
        let shade = 1.0 - 0.45 * (y as f32 / fh);
        for x in 0..w {
            let t = x as f32 / fw;
            let r = (250.0 - 200.0 * t) * shade;
            let g = (120.0 + 60.0 * (1.0 - (2.0 * t - 1.0).abs())) * shade;
            let b = (60.0 + 180.0 * t) * shade;
            // Opaque ARGB8888, bytes B, G, R, A.
            data.extend_from_slice(&[b as u8, g as u8, r as u8, 255]);
        }
    }
    Image::from_argb8888(w, h, data)
}

/// Overlapping translucent circles on a dark blue ground, placed by a fixed pseudo-random
/// sequence (the same picture every run).
fn circles(w: u32, h: u32) -> Result<Image, DrawError> {
    let mut img = Image::new(w, h)?;
    let mut c = img.canvas();
    c.clear(Colour::rgb(16, 24, 56));
    let mut seed: u32 = 0x2545_f491;
    let mut next = move || {
        // xorshift32
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f32 / u32::MAX as f32
    };
    let side = w.min(h) as f32;
    for _ in 0..40 {
        let (x, y) = (next() * w as f32, next() * h as f32);
        let r = side * (0.04 + 0.16 * next());
        let colour = Colour::rgba(
            (120.0 + 135.0 * next()) as u8,
            (60.0 + 160.0 * next()) as u8,
            (100.0 + 155.0 * next()) as u8,
            150,
        );
        c.fill_circle(x, y, r, colour);
    }
    Ok(img)
}

/// Diagonal stripes in three colours.
fn stripes(w: u32, h: u32) -> Result<Image, DrawError> {
    let mut img = Image::new(w, h)?;
    let mut c = img.canvas();
    c.clear(Colour::rgb(250, 240, 210));
    let colours = [
        Colour::rgb(30, 110, 90),
        Colour::rgb(220, 170, 40),
        Colour::rgb(190, 60, 50),
    ];
    let width = (w.min(h) as f32 / 12.0).max(4.0);
    let span = (w + h) as f32;
    let mut i = 0;
    let mut x = -(h as f32);
    while x < w as f32 + width {
        c.stroke_line(
            x,
            h as f32,
            x + span,
            h as f32 - span,
            width,
            colours[i % 3],
        );
        x += 2.0 * width;
        i += 1;
    }
    Ok(img)
}

/// Writes "n/N" at the bottom centre, on a dark translucent pill.
fn caption(c: &mut Canvas<'_>, n: usize) {
    let text = format!("{n}/{PICTURES}");
    let size = (c.height() as f32 / 14.0).clamp(10.0, 48.0);
    let m = c.measure_text(size, &text);
    let pad = (size / 2.0) as u32;
    let pill = Rect::new(
        (c.width() as i32 - (m.width + 2 * pad) as i32) / 2,
        c.height() as i32 - (m.height + pad) as i32 - pad as i32,
        m.width + 2 * pad,
        m.height + pad,
    );
    c.fill_rounded_rect(pill, pill.h as f32 / 2.0, Colour::rgba(0, 0, 0, 150));
    c.draw_text(
        pill.x + pad as i32,
        pill.y + pad as i32 / 2,
        size,
        Colour::WHITE,
        &text,
    );
}

fn pictures(w: u32, h: u32) -> Result<Vec<Image>, DrawError> {
    let mut all = vec![gradient(w, h)?, circles(w, h)?, stripes(w, h)?];
    for (i, img) in all.iter_mut().enumerate() {
        caption(&mut img.canvas(), i + 1);
    }
    Ok(all)
}

/// Which way a finger went from `down` to `up`: +1 next (leftward), -1 previous, 0 none.
fn swipe(down: (f32, f32), up: (f32, f32)) -> i32 {
    let (dx, dy) = (up.0 - down.0, up.1 - down.1);
    if dx.abs() > SWIPE_MIN_PX && dx.abs() > dy.abs() {
        if dx < 0.0 {
            1
        } else {
            -1
        }
    } else {
        0
    }
}

fn run() -> Result<(), AppError> {
    let cli = Cli::parse();
    let mut app = App::open(&cli.window)?;
    let pictures = pictures(app.width(), app.height())?;
    // Where each finger on the glass went down (the up event says where it lifted).
    let mut fingers: BTreeMap<u32, (f32, f32)> = BTreeMap::new();
    let mut current = 0usize;
    let mut shown = None;
    loop {
        if shown != Some(current) {
            let picture = &pictures[current];
            app.draw(|c| vec![c.blit(picture, 0, 0)])?;
            shown = Some(current);
        }
        for t in app.wait(Some(Duration::from_secs(5)))? {
            let at = (t.x, t.y);
            match t.phase {
                TouchPhase::Down => {
                    fingers.insert(t.slot, at);
                }
                TouchPhase::Up => {
                    if let Some(down) = fingers.remove(&t.slot) {
                        let step = swipe(down, at);
                        current = (current as i32 + step).rem_euclid(PICTURES as i32) as usize;
                    }
                }
                TouchPhase::Cancel => {
                    fingers.remove(&t.slot);
                }
                TouchPhase::Motion | TouchPhase::Frame => {}
            }
        }
    }
}

fn main() -> ExitCode {
    app::main("fusionfb-gallery", run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swipes_are_long_and_mostly_horizontal() {
        assert_eq!(swipe((300.0, 100.0), (200.0, 120.0)), 1, "leftward: next");
        assert_eq!(
            swipe((100.0, 100.0), (200.0, 90.0)),
            -1,
            "rightward: previous"
        );
        assert_eq!(swipe((100.0, 100.0), (105.0, 100.0)), 0, "a tap");
        assert_eq!(swipe((100.0, 100.0), (150.0, 100.0)), 0, "too short");
        assert_eq!(swipe((100.0, 100.0), (180.0, 200.0)), 0, "mostly vertical");
    }

    #[test]
    fn the_pictures_differ_and_cover_the_window() {
        let p = pictures(64, 48).unwrap();
        assert_eq!(p.len(), PICTURES);
        assert!(p.iter().all(|i| (i.width(), i.height()) == (64, 48)));
        assert!(p[0] != p[1] && p[1] != p[2] && p[0] != p[2]);
        // Opaque everywhere: nothing of the previous picture shows through.
        assert!(p.iter().all(|i| i.data().chunks(4).all(|px| px[3] == 255)));
    }
}
