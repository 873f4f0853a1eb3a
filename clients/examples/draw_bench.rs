//! What the drawing helpers cost: `cargo run --release -p fusionfb-client --example draw_bench`.
//!
//! Each line is the best of 5 runs of the mean over many repetitions, in microseconds per
//! operation, on a 1280×800 and an 800×480 canvas. "in place" is tiny-skia drawing straight
//! into a 32-bit buffer (red and blue swapped in the colours); "scratch" is the same buffer
//! with 64 bytes of padding per row, which sends every operation through an ARGB scratch of
//! the damaged rectangle and back — the cost the in-place path avoids.

use std::hint::black_box;
use std::time::Instant;

use fusionfb_client::draw::{Canvas, Colour, Font, Image, Rect};
use gfx_drivers::Format;

fn time(reps: u32, mut op: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            op();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(reps));
    }
    best
}

fn buffer(w: u32, h: u32, format: Format, pad: usize) -> (Vec<u8>, usize) {
    let pitch = format.pitch(w) + pad;
    (vec![0; pitch * h as usize], pitch)
}

fn main() {
    let text = "The quick brown fox jumps over the lazy dog";
    let mut icon = Image::new(64, 64).unwrap();
    icon.canvas()
        .fill_circle(32.0, 32.0, 30.0, Colour::rgba(200, 60, 20, 200));
    for (w, h) in [(1280u32, 800u32), (800, 480)] {
        println!("{w}x{h}");
        for (format, pad, path) in [
            (Format::Xrgb8888, 0, "in place"),
            (Format::Xrgb8888, 64, "scratch"),
            (Format::Argb8888, 0, "in place"),
            (Format::Rgb565, 0, "scratch"),
        ] {
            let (mut data, pitch) = buffer(w, h, format, pad);
            let mut c = Canvas::new(&mut data, w, h, pitch, format).unwrap();
            c.clear(Colour::WHITE);
            let name = format!("{format} ({path})");
            let clear = time(50, || {
                black_box(c.clear(black_box(Colour::rgb(10, 20, 30))));
            });
            let dot = time(2000, || {
                black_box(c.fill_circle(300.5, 200.5, 12.0, Colour::rgb(200, 0, 0)));
            });
            let big = time(50, || {
                let r = h as f32 / 2.0;
                black_box(c.fill_circle(w as f32 / 2.0, r, r, Colour::rgba(0, 0, 200, 128)));
            });
            let line = time(2000, || {
                black_box(c.stroke_line(10.0, 10.0, 400.0, 300.0, 4.0, Colour::BLACK));
            });
            let rrect = time(500, || {
                black_box(c.fill_rounded_rect(
                    Rect::new(20, 20, 200, 60),
                    12.0,
                    Colour::rgb(40, 140, 200),
                ));
            });
            let blit = time(2000, || {
                black_box(c.blit(&icon, 100, 100));
            });
            c.draw_text(0, 0, 20.0, Colour::BLACK, text); // warm the cache
            let label = time(2000, || {
                black_box(c.draw_text(20, 400, 20.0, Colour::BLACK, text));
            });
            println!(
                "  {name:<22} clear {clear:8.1}  dot r12 {dot:6.1}  circle r{} {big:7.1}  \
                 line w4 {line:6.1}  rrect 200x60 {rrect:6.1}  blit 64² {blit:6.1}  \
                 text 20px {label:6.1}",
                h / 2
            );
        }
    }
    // Text from a cold cache: a fresh font, first draw of the line, then measure alone.
    let (mut data, pitch) = buffer(800, 480, Format::Xrgb8888, 0);
    let mut c = Canvas::new(&mut data, 800, 480, pitch, Format::Xrgb8888).unwrap();
    let font = Font::from_bytes(include_bytes!("../fonts/DejaVuSans.ttf")).unwrap();
    let t = Instant::now();
    let d = c.draw_text_with(&font, 20, 400, 20.0, Colour::BLACK, text);
    let cold = t.elapsed().as_secs_f64() * 1e6;
    let measure = time(2000, || {
        black_box(font.measure(20.0, text));
    });
    let parse = time(20, || {
        black_box(Font::from_bytes(include_bytes!("../fonts/DejaVuSans.ttf")).unwrap());
    });
    println!(
        "text 20px, {} chars, {}x{} px of ink: cold cache {cold:.1} µs, measure {measure:.1} µs; \
         parsing the font {parse:.0} µs",
        text.len(),
        d.w,
        d.h
    );
}
