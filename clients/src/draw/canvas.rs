//! [`Canvas`]: drawing operations over borrowed pixel memory.

use gfx_drivers::format::{self, convert_rect, mul_div_255, over, rect_len, Format};
use gfx_drivers::PixelsRef;
use tiny_skia::{
    FillRule, LineCap, Paint, PathBuilder, PixmapMut, PixmapPaint, PixmapRef, Stroke, Transform,
};

use super::text::{Font, TextMetrics};
use super::{Colour, DrawError, Image, Rect};

/// Draws into borrowed pixel memory: a surface's buffer, an [`Image`], any `&mut [u8]`.
///
/// Every drawing method returns the damage [`Rect`], clipped to the canvas (empty when
/// nothing was touched). Colours are straight-alpha [`Colour`]s; drawing is source-over
/// except for [`Canvas::clear`], which replaces. See the [module doc](super) for how
/// each format is drawn.
#[derive(Debug)]
pub struct Canvas<'a> {
    data: &'a mut [u8],
    width: u32,
    height: u32,
    pitch: usize,
    format: Format,
    /// ARGB8888 working space for RGB565 and padded pitches, reused between operations.
    scratch: Vec<u8>,
    /// A second one, for the source of [`Canvas::blit_pixels`].
    scratch_src: Vec<u8>,
}

impl<'a> Canvas<'a> {
    /// A canvas over `width`×`height` pixels of `format`, rows `pitch` bytes apart, starting
    /// at `data[0]`. Fails when `data` is too short or `pitch` holds no row.
    pub fn new(
        data: &'a mut [u8],
        width: u32,
        height: u32,
        pitch: usize,
        format: Format,
    ) -> Result<Canvas<'a>, DrawError> {
        let needed = rect_len(pitch, format.bytes_per_pixel(), width, height)?;
        if data.len() < needed {
            return Err(format::FormatError::TooSmall {
                needed,
                len: data.len(),
            }
            .into());
        }
        Ok(Canvas {
            data,
            width,
            height,
            pitch,
            format,
            scratch: Vec::new(),
            scratch_src: Vec::new(),
        })
    }

    /// A canvas over a [`gfx_drivers::Image`] (a screenshot, a test target).
    pub fn for_image(image: &'a mut gfx_drivers::Image) -> Canvas<'a> {
        let (w, h, p, f) = (image.width, image.height, image.pitch, image.format);
        Canvas::new(&mut image.data, w, h, p, f).expect("a gfx_drivers::Image is consistent")
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Pixel format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The whole canvas as a rectangle.
    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// The pixel at (`x`, `y`) as premultiplied `0xAARRGGBB` (XRGB8888 and RGB565 read
    /// opaque), or `None` outside the canvas.
    pub fn pixel(&self, x: i32, y: i32) -> Option<u32> {
        let (x, y) = Rect::new(x, y, 1, 1)
            .clip(self.width, self.height)?
            .origin_index();
        let at = y * self.pitch + x * self.format.bytes_per_pixel();
        Some(self.format.read_pixel(&self.data[at..]))
    }

    /// The canvas's pixels, read-only (to blit them elsewhere).
    pub fn pixels(&self) -> PixelsRef<'_> {
        PixelsRef::new(self.data, self.width, self.height, self.pitch, self.format)
            .expect("checked in Canvas::new")
    }

    /// Sets every pixel to `colour` (replacing, not blending: a translucent colour on an
    /// ARGB8888 canvas leaves translucent pixels). Returns the whole canvas.
    pub fn clear(&mut self, colour: Colour) -> Rect {
        let (w, h) = (self.width, self.height);
        self.fill_int_rect(self.bounds(), colour.to_argb());
        if w == 0 || h == 0 {
            return Rect::default();
        }
        Rect::new(0, 0, w, h)
    }

    /// Fills the pixels of `rect` with `colour`, blending when it is translucent.
    pub fn fill_rect(&mut self, rect: Rect, colour: Colour) -> Rect {
        let Some(clip) = rect.clip(self.width, self.height) else {
            return Rect::default();
        };
        if colour.a == 0 {
            return Rect::default();
        }
        if colour.is_opaque() {
            self.fill_int_rect(clip, colour.to_argb());
            return clip;
        }
        let r =
            tiny_skia::Rect::from_xywh(clip.x as f32, clip.y as f32, clip.w as f32, clip.h as f32);
        if let Some(r) = r {
            self.with_skia(clip, |pixmap, ts| {
                pixmap.fill_rect(r, &paint(colour), ts, None);
            });
        }
        clip
    }

    /// Fills `rect` with its corners rounded to `radius` pixels (anti-aliased; the radius is
    /// limited to half the shorter side, so a large one makes a pill).
    pub fn fill_rounded_rect(&mut self, rect: Rect, radius: f32, colour: Colour) -> Rect {
        let (x, y) = (rect.x as f32, rect.y as f32);
        let (w, h) = (rect.w as f32, rect.h as f32);
        let r = radius.min(w / 2.0).min(h / 2.0);
        if !positive(r) {
            return self.fill_rect(rect, colour);
        }
        // A quarter circle as one cubic: control points at kappa * r from the corner's ends.
        let k = r * (1.0 - 0.552_284_8);
        let mut pb = PathBuilder::new();
        pb.move_to(x + r, y);
        pb.line_to(x + w - r, y);
        pb.cubic_to(x + w - k, y, x + w, y + k, x + w, y + r);
        pb.line_to(x + w, y + h - r);
        pb.cubic_to(x + w, y + h - k, x + w - k, y + h, x + w - r, y + h);
        pb.line_to(x + r, y + h);
        pb.cubic_to(x + k, y + h, x, y + h - k, x, y + h - r);
        pb.line_to(x, y + r);
        pb.cubic_to(x, y + k, x + k, y, x + r, y);
        pb.close();
        match pb.finish() {
            Some(path) => self.fill_path(&path, colour),
            None => Rect::default(),
        }
    }

    /// Fills the circle of radius `r` around (`cx`, `cy`), anti-aliased. Pixel (i, j) covers
    /// `i..i+1` × `j..j+1`, so a dot centred on a pixel's middle is at `(i + 0.5, j + 0.5)`.
    pub fn fill_circle(&mut self, cx: f32, cy: f32, r: f32, colour: Colour) -> Rect {
        match PathBuilder::from_circle(cx, cy, r) {
            Some(path) => self.fill_path(&path, colour),
            None => Rect::default(),
        }
    }

    /// Strokes the segment (`x0`, `y0`)–(`x1`, `y1`), `width` pixels wide with round caps,
    /// anti-aliased. A segment of length zero draws a dot of diameter `width` (a tap in a
    /// paint app).
    pub fn stroke_line(
        &mut self,
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        width: f32,
        colour: Colour,
    ) -> Rect {
        if !positive(width) {
            return Rect::default();
        }
        if x0 == x1 && y0 == y1 {
            return self.fill_circle(x0, y0, width / 2.0, colour);
        }
        let mut pb = PathBuilder::new();
        pb.move_to(x0, y0);
        pb.line_to(x1, y1);
        let Some(line) = pb.finish() else {
            return Rect::default();
        };
        let stroke = Stroke {
            width,
            line_cap: LineCap::Round,
            ..Stroke::default()
        };
        // Stroke to an outline ourselves, then fill it: the outline's bounds are the damage,
        // and thin lines get the same coverage rules as every other shape.
        match line.stroke(&stroke, 1.0) {
            Some(outline) => self.fill_path(&outline, colour),
            None => Rect::default(),
        }
    }

    /// Draws `image` with its top-left corner at (`x`, `y`), source-over (its premultiplied
    /// alpha is honoured).
    pub fn blit(&mut self, image: &Image, x: i32, y: i32) -> Rect {
        self.blit_alpha(image, x, y, 255)
    }

    /// Draws `image` at (`x`, `y`) with its alpha further scaled by `alpha` (255: as it is,
    /// 0: nothing) — for fades.
    pub fn blit_alpha(&mut self, image: &Image, x: i32, y: i32, alpha: u8) -> Rect {
        let dst = Rect::new(x, y, image.width(), image.height());
        let Some(clip) = dst.clip(self.width, self.height) else {
            return Rect::default();
        };
        if alpha == 0 {
            return Rect::default();
        }
        self.blit_pixmap(image.pixmap.as_ref(), x, y, clip, alpha);
        clip
    }

    /// Draws another buffer's pixels at (`x`, `y`) with `alpha` (255: as they are).
    /// Opaque sources (XRGB8888, RGB565) at full alpha are converted straight into the
    /// canvas, with no blending.
    pub fn blit_pixels(&mut self, src: &PixelsRef<'_>, x: i32, y: i32, alpha: u8) -> Rect {
        let dst = Rect::new(x, y, src.width(), src.height());
        let Some(clip) = dst.clip(self.width, self.height) else {
            return Rect::default();
        };
        if alpha == 0 {
            return Rect::default();
        }
        // (A view holds every row of its pixels: checked when it was made.)
        let (sx, sy) = clip.translated(-x, -y).origin_index();
        let (pitch, format) = (src.pitch(), src.format());
        let src_at = sy * pitch + sx * format.bytes_per_pixel();
        let data = src.data();
        if !format.has_alpha() && alpha == 255 {
            let dst_at = self.offset(clip);
            convert_rect(
                format,
                &data[src_at..],
                pitch,
                self.format,
                &mut self.data[dst_at..],
                self.pitch,
                clip.w,
                clip.h,
            )
            .expect("rectangles are clipped to both buffers");
            return clip;
        }
        let mut tmp = std::mem::take(&mut self.scratch_src);
        tmp.clear();
        tmp.resize(clip.w as usize * clip.h as usize * 4, 0);
        convert_rect(
            format,
            &data[src_at..],
            pitch,
            Format::Argb8888,
            &mut tmp,
            clip.w as usize * 4,
            clip.w,
            clip.h,
        )
        .expect("rectangles are clipped to both buffers");
        let pixmap =
            PixmapRef::from_bytes(&tmp, clip.w, clip.h).expect("a clipped rectangle is not empty");
        self.blit_pixmap(pixmap, clip.x, clip.y, clip, alpha);
        self.scratch_src = tmp;
        clip
    }

    /// Draws `text` with the bundled font ([`Font::bundled`]), `size_px` pixels per em, the
    /// top-left corner of its first line box at (`x`, `y`). Returns the ink's damage. Sizes
    /// outside `0 < size_px <= `[`MAX_TEXT_PX`](super::MAX_TEXT_PX) draw nothing.
    pub fn draw_text(&mut self, x: i32, y: i32, size_px: f32, colour: Colour, text: &str) -> Rect {
        self.draw_text_with(Font::bundled(), x, y, size_px, colour, text)
    }

    /// [`Canvas::draw_text`] with another font.
    pub fn draw_text_with(
        &mut self,
        font: &Font,
        x: i32,
        y: i32,
        size_px: f32,
        colour: Colour,
        text: &str,
    ) -> Rect {
        if colour.a == 0 {
            return Rect::default();
        }
        let argb = colour.to_argb();
        let mut damage = Rect::default();
        font.layout(
            size_px,
            text,
            |pen, baseline, glyph| {
                let at = Rect::new(
                    x.saturating_add(pen).saturating_add(glyph.left),
                    y.saturating_add(baseline).saturating_add(glyph.top),
                    glyph.width,
                    glyph.height,
                );
                if let Some(clip) = at.clip(self.width, self.height) {
                    self.blend_mask(argb, clip, at, &glyph.coverage);
                    damage = damage.bounding(&clip);
                }
            },
            |_| {},
        );
        damage
    }

    /// The size of `text` drawn with the bundled font at `size_px` (see [`TextMetrics`]).
    pub fn measure_text(&self, size_px: f32, text: &str) -> TextMetrics {
        Font::bundled().measure(size_px, text)
    }

    // ---- the machinery -------------------------------------------------------------------

    /// Byte offset of `r`'s top-left pixel.
    fn offset(&self, r: Rect) -> usize {
        let (x, y) = r.origin_index();
        y * self.pitch + x * self.format.bytes_per_pixel()
    }

    /// Writes `argb` (premultiplied) to every pixel of `r` (already clipped).
    ///
    /// The same result as [`format::fill_rect`], at memory speed: one pixel is encoded, the
    /// first row is filled by doubling copies, and every other row is a copy of it.
    fn fill_int_rect(&mut self, r: Rect, argb: u32) {
        if r.is_empty() {
            return;
        }
        let bpp = self.format.bytes_per_pixel();
        let row = r.w as usize * bpp;
        let at = self.offset(r);
        let (first, rest) = self.data[at..].split_at_mut(row);
        self.format.write_pixel(argb, first);
        let mut done = bpp;
        while done < row {
            let n = done.min(row - done);
            first.copy_within(..n, done);
            done += n;
        }
        // Row y starts (y - 1) * pitch + (pitch - row) bytes into `rest`.
        for y in 1..r.h as usize {
            let start = (y - 1) * self.pitch + (self.pitch - row);
            rest[start..start + row].copy_from_slice(first);
        }
    }

    /// Whether tiny-skia can draw on the buffer in place: 32-bit pixels, rows without
    /// padding (see the module doc).
    fn direct(&self) -> bool {
        self.format != Format::Rgb565
            && self.pitch == self.width as usize * 4
            && self.data.len() >= self.pitch * self.height as usize
    }

    /// Runs `draw(pixmap, transform)` so that what it draws in canvas coordinates lands in
    /// the buffer, touching no pixel outside `damage` when it goes through the scratch.
    /// `damage` is clipped and not empty.
    fn with_skia(&mut self, damage: Rect, draw: impl FnOnce(&mut PixmapMut<'_>, Transform)) {
        if self.direct() {
            let len = self.pitch * self.height as usize;
            let mut pixmap = PixmapMut::from_bytes(&mut self.data[..len], self.width, self.height)
                .expect("a non-empty canvas");
            draw(&mut pixmap, Transform::identity());
            return;
        }
        let (w, h) = (damage.w, damage.h);
        let at = self.offset(damage);
        let mut tmp = std::mem::take(&mut self.scratch);
        tmp.clear();
        tmp.resize(w as usize * h as usize * 4, 0);
        let spitch = w as usize * 4;
        convert_rect(
            self.format,
            &self.data[at..],
            self.pitch,
            Format::Argb8888,
            &mut tmp,
            spitch,
            w,
            h,
        )
        .expect("the damage is clipped to the canvas");
        {
            let mut pixmap = PixmapMut::from_bytes(&mut tmp, w, h).expect("damage is not empty");
            let ts = Transform::from_translate(-damage.x as f32, -damage.y as f32);
            draw(&mut pixmap, ts);
        }
        convert_rect(
            Format::Argb8888,
            &tmp,
            spitch,
            self.format,
            &mut self.data[at..],
            self.pitch,
            w,
            h,
        )
        .expect("the damage is clipped to the canvas");
        self.scratch = tmp;
    }

    /// Fills `path` (canvas coordinates) with `colour`; returns the clipped damage.
    fn fill_path(&mut self, path: &tiny_skia::Path, colour: Colour) -> Rect {
        if colour.a == 0 {
            return Rect::default();
        }
        let b = path.bounds();
        let Some(damage) = self.pixel_bounds(b.left(), b.top(), b.right(), b.bottom()) else {
            return Rect::default();
        };
        self.with_skia(damage, |pixmap, ts| {
            pixmap.fill_path(path, &paint(colour), FillRule::Winding, ts, None);
        });
        damage
    }

    /// Draws `pixmap` (ARGB8888 bytes) at (`x`, `y`); `clip` is its clipped destination.
    fn blit_pixmap(&mut self, pixmap: PixmapRef<'_>, x: i32, y: i32, clip: Rect, alpha: u8) {
        let paint = PixmapPaint {
            opacity: f32::from(alpha) / 255.0,
            quality: tiny_skia::FilterQuality::Nearest,
            ..PixmapPaint::default()
        };
        let direct = self.direct();
        self.with_skia(clip, |target, _| {
            // An integer offset rather than a transform: the copy stays pixel-exact.
            let (dx, dy) = if direct {
                (x, y)
            } else {
                (x - clip.x, y - clip.y)
            };
            target.draw_pixmap(dx, dy, pixmap, &paint, Transform::identity(), None);
        });
    }

    /// The pixels a shape with these float bounds can touch, clipped to the canvas.
    fn pixel_bounds(&self, left: f32, top: f32, right: f32, bottom: f32) -> Option<Rect> {
        if ![left, top, right, bottom].iter().all(|v| v.is_finite()) {
            return None;
        }
        // Clamp to a range where i64 arithmetic cannot overflow and clipping still works.
        let lim = |v: f32| f64::from(v).clamp(-1e12, 1e12);
        // Curve bounds carry float error (a circle's left edge at 3.9999998 for 4.0). The
        // rasteriser works on a 1/256-pixel grid (4× supersampling, 6 fraction bits), so an
        // edge within SNAP of a pixel boundary rasterises on it and touches nothing beyond.
        const SNAP: f64 = 1.0 / 1024.0;
        let x0 = (lim(left) + SNAP).floor() as i64;
        let y0 = (lim(top) + SNAP).floor() as i64;
        let x1 = (lim(right) - SNAP).ceil() as i64;
        let y1 = (lim(bottom) - SNAP).ceil() as i64;
        let x0c = x0.max(0);
        let y0c = y0.max(0);
        let x1c = x1.min(i64::from(self.width));
        let y1c = y1.min(i64::from(self.height));
        // Inside the canvas, whose sides are at most `u32`: the corners fit `i32` unless the
        // canvas is wider than 2³¹, which no buffer is.
        let corner = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        (x1c > x0c && y1c > y0c)
            .then(|| Rect::from_corners(corner(x0c), corner(y0c), corner(x1c), corner(y1c)))
    }

    /// Blends premultiplied `argb` through an 8-bit coverage `mask` whose full extent is
    /// `at`; only its part inside `clip` (clipped to the canvas) is drawn.
    fn blend_mask(&mut self, argb: u32, clip: Rect, at: Rect, mask: &[u8]) {
        let bpp = self.format.bytes_per_pixel();
        let opaque = argb >> 24 == 0xff;
        let (mx, my0) = clip.translated(-at.x, -at.y).origin_index();
        let (cx, cy) = clip.origin_index();
        for row in 0..clip.h as usize {
            let my = my0 + row;
            let mrow = &mask[my * at.w as usize..][..at.w as usize];
            let mrow = &mrow[mx..][..clip.w as usize];
            let line = (cy + row) * self.pitch + cx * bpp;
            let line = &mut self.data[line..line + clip.w as usize * bpp];
            for (&cov, px) in mrow.iter().zip(line.chunks_exact_mut(bpp)) {
                match cov {
                    0 => {}
                    255 if opaque => self.format.write_pixel(argb, px),
                    _ => {
                        let src = scale(argb, cov);
                        let dst = self.format.read_pixel(px);
                        self.format.write_pixel(over(src, dst), px);
                    }
                }
            }
        }
    }
}

/// `v > 0`, and false for NaN.
fn positive(v: f32) -> bool {
    v > 0.0
}

/// Premultiplied `argb` with every channel scaled by `cov / 255`.
fn scale(argb: u32, cov: u8) -> u32 {
    let mut out = 0;
    for shift in [0, 8, 16, 24] {
        out |= u32::from(mul_div_255((argb >> shift) as u8, cov)) << shift;
    }
    out
}

/// A solid, anti-aliased, source-over paint of `colour` for byte order B, G, R, A.
fn paint(colour: Colour) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color(colour.to_skia_swapped());
    paint.anti_alias = true;
    paint
}
