//! Drawing helpers: what a slave application paints its shared pixel buffers with.
//!
//! A [`Canvas`] borrows a buffer's bytes (any fusionfb [`Format`]: XRGB8888, premultiplied
//! ARGB8888, RGB565, with any pitch) and draws into them: [`clear`](Canvas::clear),
//! [`fill_rect`](Canvas::fill_rect), [`fill_rounded_rect`](Canvas::fill_rounded_rect),
//! [`fill_circle`](Canvas::fill_circle), [`stroke_line`](Canvas::stroke_line) (round caps),
//! [`blit`](Canvas::blit) of an [`Image`] or of another buffer ([`PixelsRef`]) with alpha, and
//! [`draw_text`](Canvas::draw_text) with the bundled DejaVu Sans ([`Font`]). **Every operation
//! returns the damage [`Rect`]** it touched — tight (the shape's pixel bounds) and clipped to
//! the canvas; [`bounding`](Rect::bounding) them and hand the result to the surface's `flip(damage)`. Drawing
//! outside the canvas is clipped, never a panic; an operation that touches nothing returns
//! an empty rectangle (zero width).
//!
//! ```
//! use fusionfb_client::draw::{Canvas, Colour, Rect};
//! use gfx_drivers::Format;
//! let (w, h) = (64u32, 32u32);
//! let mut pixels = vec![0u8; Format::Xrgb8888.pitch(w) * h as usize];
//! let mut canvas = Canvas::new(&mut pixels, w, h, Format::Xrgb8888.pitch(w), Format::Xrgb8888)?;
//! canvas.clear(Colour::WHITE);
//! let dot = canvas.fill_circle(10.0, 10.0, 4.0, "#d02020".parse()?);
//! let text = canvas.draw_text(20, 4, 16.0, Colour::BLACK, "hi");
//! let damage = dot.bounding(&text);
//! assert_eq!(dot, Rect::new(6, 6, 8, 8));
//! assert!(damage.w > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Who does the pixels
//!
//! Shapes and image scaling are [tiny-skia](tiny_skia) (Skia's anti-aliased rasteriser and
//! pipelines, ported to Rust); glyphs are [fontdue]; PNG decoding is [`png`]. This module only
//! decides *where* they draw and keeps the result in the buffer's format. The one thing
//! written here is the blend of a cached glyph coverage mask with a colour (`over`, from
//! [`gfx_drivers::format`]).
//!
//! ## Byte order: why tiny-skia draws straight into XRGB/ARGB8888 buffers
//!
//! tiny-skia works on premultiplied RGBA8888 — bytes R, G, B, A. fusionfb's 32-bit formats
//! are little-endian `0xAARRGGBB`: bytes **B, G, R, A**. Everything tiny-skia does to a
//! pixel in the operations used here (source-over and source blending, anti-aliasing
//! coverage, bilinear/bicubic filtering) treats the red and the blue channel alike. So the
//! canvas hands tiny-skia the buffer as it is and **swaps red and blue in the colours** it
//! passes; [`Image`]s are stored B, G, R, A too, so blits need no conversion either. The
//! result is exactly what tiny-skia would draw into an RGBA buffer, with zero copies.
//!
//! The alternative — render into a scratch RGBA pixmap the size of the damage, then
//! convert — costs two passes over the damaged pixels per operation. Measured with
//! `cargo run --release -p fusionfb-client --example draw_bench` (x86-64 dev container, 2
//! shared cores, noisy): a 4-px diagonal line across a 400×300 box takes 80–120 µs in place
//! and 250–350 µs through the scratch; a 200×60 rounded rectangle 16 µs against 26–40 µs;
//! small dots and blits cost about the same either way (tiny-skia's set-up dominates).
//! The scratch is still used where it must be:
//!
//! - **RGB565**: the damaged rectangle is expanded to ARGB8888 in a scratch buffer (kept by the
//!   canvas and reused), drawn, and packed back with [`convert_rect`](gfx_drivers::format::convert_rect).
//!   565 → 8888 → 565 is lossless, so pixels the shape does not cover come back unchanged.
//! - **A pitch other than `width * 4`** (DRM dumb buffers pad their rows; a canvas may be a
//!   window into a larger buffer): tiny-skia knows no stride, so the damaged rectangle goes
//!   through the same scratch (a plain row copy for 8888).
//!
//! Drawing onto XRGB8888 treats the `x` byte as alpha. Source-over never reads destination
//! alpha for the colour channels, so the colours are right whatever `x` holds; pixels that
//! were written by this library (or by [`clear`](Canvas::clear)) have `x = 0xff` and keep it.
//!
//! ## Text
//!
//! [`Canvas::draw_text`] draws with [`Font::bundled`] (DejaVu Sans, embedded with
//! `include_bytes!`, about 740 KiB); [`Canvas::draw_text_with`] takes any [`Font`]. `(x, y)` is
//! the top-left corner of the line box, not the baseline; [`Canvas::measure_text`] gives the
//! box, the baseline and the ink. Glyph masks are cached per (character, size) in the
//! [`Font`], so a label redrawn every frame is rasterised once.

mod canvas;
mod colour;
mod image;
mod text;

pub use canvas::Canvas;
pub use colour::{Colour, ParseColourError};
pub use gfx_drivers::format::Format;
pub use gfx_drivers::PixelsRef;
/// A rectangle of a surface's pixels (the house's one [`fusionfb_protocol::Rect`], in buffer
/// space): where to draw, and the damage a drawing returns and a flip reports.
pub type Rect = fusionfb_protocol::Rect<fusionfb_protocol::Buffer>;
pub use image::Image;
pub use text::{Font, TextMetrics, MAX_TEXT_PX};

use std::path::PathBuf;

/// What went wrong while setting up a drawing (drawing itself does not fail).
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// The memory does not hold the pixels its size, pitch and format promise.
    #[error("pixel memory does not fit: {0}")]
    Format(#[from] gfx_drivers::format::FormatError),
    /// A width or height of zero (or too large for tiny-skia, above `i32::MAX / 4`).
    #[error("no image can be {width}x{height}")]
    BadSize {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// Pixel data of the wrong length.
    #[error("{len} bytes given, {needed} needed")]
    BadLength {
        /// Bytes given.
        len: usize,
        /// Bytes the image needs.
        needed: usize,
    },
    /// The PNG decoder refused the data.
    #[error("PNG: {0}")]
    Png(#[from] png::DecodingError),
    /// A PNG the decoder read but this library cannot use.
    #[error("PNG not supported: {0}")]
    PngUnsupported(String),
    /// The PNG's pixels would not fit in memory.
    #[error("PNG too large")]
    PngTooLarge,
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The font file could not be parsed.
    #[error("font: {0}")]
    Font(String),
}
