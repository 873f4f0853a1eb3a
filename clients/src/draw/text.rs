//! Text: fontdue rasterises glyphs into coverage masks, a cache keeps them, and
//! [`Canvas::draw_text`](super::Canvas::draw_text) blends them with the colour.
//!
//! Layout is deliberately simple, what a panel UI needs: one font, left to right, kerning from
//! the font, `\n` starts a new line, pen positions rounded to whole pixels (so every glyph of
//! a size is rasterised once and reused). No shaping, no bidi, no fallback fonts: characters
//! the font lacks draw as its `.notdef` box.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::{DrawError, Rect};

/// DejaVu Sans (Bitstream Vera license, see `clients/fonts/DejaVuSans.copyright`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

/// The largest text size drawn, in pixels per em; larger (and non-positive or NaN) sizes
/// lay out as nothing, rather than asking the rasteriser for a giant bitmap.
pub const MAX_TEXT_PX: f32 = 1024.0;

fn drawable_size(size_px: f32) -> bool {
    size_px > 0.0 && size_px <= MAX_TEXT_PX
}

/// Glyphs kept per font before the cache starts over; a few sizes of a few hundred
/// characters fit, and a runaway (every size of every character) stays bounded.
const CACHE_CAPACITY: usize = 4096;

/// A font and its glyph cache. Share one per application: the cache is what makes repeated
/// text cheap. [`Font::bundled`] is the one [`Canvas::draw_text`](super::Canvas::draw_text)
/// uses.
pub struct Font {
    font: fontdue::Font,
    cache: Mutex<HashMap<(char, u32), Arc<Glyph>>>,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font")
            .field("name", &self.font.name())
            .finish_non_exhaustive()
    }
}

/// One rasterised glyph: an 8-bit coverage mask and where it sits.
#[derive(Debug)]
pub(crate) struct Glyph {
    /// Left edge of the mask, relative to the pen position.
    pub(crate) left: i32,
    /// Top edge of the mask, relative to the baseline (negative: above it).
    pub(crate) top: i32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Pen advance in pixels (fractional).
    pub(crate) advance: f32,
    /// Row-major coverage, 0 (none) – 255 (full).
    pub(crate) coverage: Vec<u8>,
}

/// The size of a piece of text, from [`Canvas::measure_text`](super::Canvas::measure_text)
/// or [`Font::measure`]. All coordinates are relative to the `(x, y)` passed to `draw_text`,
/// which is the top-left corner of the first line's box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextMetrics {
    /// Advance width of the widest line, in whole pixels (rounded up): the layout box for
    /// centring and aligning.
    pub width: u32,
    /// Height of the lines' boxes (ascent to descent, plus the line spacing between lines).
    pub height: u32,
    /// Distance from the top of the box to the first baseline.
    pub baseline: i32,
    /// The pixels drawing will touch — the ink. Usually inside `0..width` × `0..height`,
    /// but glyph overhangs (a `j`'s tail, an accent) can reach past the layout box. Empty
    /// (zero width) for text with no ink, such as spaces.
    pub ink: Rect,
}

impl Font {
    /// The font bundled with the library, DejaVu Sans, parsed once per process.
    pub fn bundled() -> &'static Font {
        static FONT: OnceLock<Font> = OnceLock::new();
        FONT.get_or_init(|| Font::from_bytes(DEJAVU_SANS).expect("the bundled font parses"))
    }

    /// A TrueType or OpenType font from its file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Font, DrawError> {
        let font = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default())
            .map_err(|e| DrawError::Font(e.to_owned()))?;
        Ok(Font {
            font,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Lays out `text` at `size_px` (pixels per em) and reports its size; see
    /// [`TextMetrics`]. Sizes outside `0 < size_px <= `[`MAX_TEXT_PX`] measure as nothing.
    pub fn measure(&self, size_px: f32, text: &str) -> TextMetrics {
        if !drawable_size(size_px) {
            return TextMetrics {
                width: 0,
                height: 0,
                baseline: 0,
                ink: Rect::default(),
            };
        }
        let mut ink = Rect::default();
        let mut width = 0.0f32;
        let lines = self.layout(
            size_px,
            text,
            |x, y, glyph| {
                if glyph.width > 0 && glyph.height > 0 {
                    let r = Rect::new(x + glyph.left, y + glyph.top, glyph.width, glyph.height);
                    ink = ink.bounding(&r);
                }
            },
            |line_width| width = width.max(line_width),
        );
        let (ascent, line_height, spacing) = self.vertical(size_px);
        TextMetrics {
            width: width.ceil() as u32,
            height: (line_height + spacing * (lines - 1) as f32).ceil() as u32,
            baseline: ascent,
            ink,
        }
    }

    /// Whole-pixel ascent, line box height and line-to-line distance.
    fn vertical(&self, size_px: f32) -> (i32, f32, f32) {
        match self.font.horizontal_line_metrics(size_px) {
            Some(m) => (
                m.ascent.round() as i32,
                m.ascent - m.descent,
                m.new_line_size.round(),
            ),
            None => (size_px.round() as i32, size_px, size_px.round()),
        }
    }

    /// Runs `glyph_at(pen_x, baseline_y, glyph)` for each glyph, relative to a box whose
    /// top-left is (0, 0), and `line_end(advance)` for each line; returns the number of lines.
    pub(crate) fn layout(
        &self,
        size_px: f32,
        text: &str,
        mut glyph_at: impl FnMut(i32, i32, &Glyph),
        mut line_end: impl FnMut(f32),
    ) -> usize {
        if !drawable_size(size_px) {
            line_end(0.0);
            return 1;
        }
        let (ascent, _, spacing) = self.vertical(size_px);
        let mut lines = 1;
        let mut baseline = ascent;
        let mut pen = 0.0f32;
        let mut prev: Option<char> = None;
        for c in text.chars() {
            if c == '\n' {
                line_end(pen);
                lines += 1;
                baseline += spacing as i32;
                pen = 0.0;
                prev = None;
                continue;
            }
            if let Some(p) = prev {
                pen += self.font.horizontal_kern(p, c, size_px).unwrap_or(0.0);
            }
            let glyph = self.glyph(c, size_px);
            glyph_at(pen.round() as i32, baseline, &glyph);
            pen += glyph.advance;
            prev = Some(c);
        }
        line_end(pen);
        lines
    }

    /// The glyph of `c` at `size_px`, rasterised on first use.
    fn glyph(&self, c: char, size_px: f32) -> Arc<Glyph> {
        let key = (c, size_px.to_bits());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = cache.get(&key) {
            return Arc::clone(g);
        }
        let (m, coverage) = self.font.rasterize(c, size_px);
        let glyph = Arc::new(Glyph {
            left: m.xmin,
            top: -(m.ymin + m.height as i32),
            width: m.width as u32,
            height: m.height as u32,
            advance: m.advance_width,
            coverage,
        });
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&glyph));
        glyph
    }

    /// How many glyphs the cache holds (for tests and for the curious).
    pub fn cached_glyphs(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
