//! Pixel formats and the conversions between them.
//!
//! fusionfb speaks three formats, named and numbered as DRM does (`drm_fourcc.h`), so a
//! [`Format`] goes to the kernel unchanged:
//!
//! | format | fourcc | bytes | one pixel, as a little-endian integer |
//! |---|---|---|---|
//! | [`Format::Xrgb8888`] | `XR24` | 4 | `[31:0] x:R:G:B 8:8:8:8` — memory order B, G, R, x |
//! | [`Format::Argb8888`] | `AR24` | 4 | `[31:0] A:R:G:B 8:8:8:8`, **premultiplied** alpha |
//! | [`Format::Rgb565`]   | `RG16` | 2 | `[15:0] R:G:B 5:6:5` |
//!
//! ARGB8888 is always **premultiplied** (each colour channel already multiplied by alpha), as
//! pixman, KMS and every compositor blend expect. Straight-alpha pixels from an image decoder
//! go through [`premultiply`] / [`premultiply_rect`] once, on the way in.
//!
//! Conversions go through one canonical pixel, a premultiplied `0xAARRGGBB` `u32`:
//! - RGB565 → 8 bits by **bit replication** (`r8 = r5 << 3 | r5 >> 2`, `g8 = g6 << 2 | g6 >> 4`),
//!   so 0 stays 0 and full scale becomes 255; alpha is 255.
//! - 8 bits → RGB565 by **rounding** to the nearest level (`(c * 31 + 127) / 255`), so RGB565 →
//!   8888 → RGB565 is lossless for all 65536 values.
//! - XRGB8888 reads as opaque; writing XRGB8888 stores `x = 0xff`, so XRGB → ARGB → XRGB is
//!   lossless whenever the source had `x = 0xff`.
//! - Writing a translucent premultiplied pixel to a format without alpha drops the alpha, which
//!   for premultiplied colour is exactly "composited over black".
//!
//! ```
//! use gfx_drivers::format::{convert_rect, Format};
//! let src: [u8; 4] = 0xf800u16.to_le_bytes().repeat(2).try_into().unwrap(); // 2 red RGB565 pixels
//! let mut dst = [0u8; 8];
//! convert_rect(Format::Rgb565, &src, 4, Format::Xrgb8888, &mut dst, 8, 2, 1).unwrap();
//! assert_eq!(dst, [0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff]); // B, G, R, x
//! ```

use std::fmt;

/// Builds a DRM fourcc code from its four characters (`fourcc_code()` in `drm_fourcc.h`).
pub const fn fourcc_code(a: u8, b: u8, c: u8, d: u8) -> u32 {
    (a as u32) | (b as u32) << 8 | (c as u32) << 16 | (d as u32) << 24
}

/// `DRM_FORMAT_XRGB8888` (`XR24`).
pub const DRM_FORMAT_XRGB8888: u32 = fourcc_code(b'X', b'R', b'2', b'4');
/// `DRM_FORMAT_ARGB8888` (`AR24`).
pub const DRM_FORMAT_ARGB8888: u32 = fourcc_code(b'A', b'R', b'2', b'4');
/// `DRM_FORMAT_RGB565` (`RG16`).
pub const DRM_FORMAT_RGB565: u32 = fourcc_code(b'R', b'G', b'1', b'6');

/// A pixel format of a buffer, a plane or a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// 32 bits, `x:R:G:B`, the `x` byte ignored on read (written as 0xff).
    Xrgb8888,
    /// 32 bits, `A:R:G:B`, premultiplied alpha.
    Argb8888,
    /// 16 bits, `R:G:B` 5:6:5, opaque.
    Rgb565,
}

impl Format {
    /// Every format, in a fixed order (for tests and for "supported formats" lists).
    pub const ALL: [Format; 3] = [Format::Xrgb8888, Format::Argb8888, Format::Rgb565];

    /// Bytes one pixel takes.
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            Format::Xrgb8888 | Format::Argb8888 => 4,
            Format::Rgb565 => 2,
        }
    }

    /// The DRM fourcc code.
    pub const fn fourcc(self) -> u32 {
        match self {
            Format::Xrgb8888 => DRM_FORMAT_XRGB8888,
            Format::Argb8888 => DRM_FORMAT_ARGB8888,
            Format::Rgb565 => DRM_FORMAT_RGB565,
        }
    }

    /// The format with this DRM fourcc code, if fusionfb knows it.
    pub const fn from_fourcc(code: u32) -> Option<Format> {
        match code {
            DRM_FORMAT_XRGB8888 => Some(Format::Xrgb8888),
            DRM_FORMAT_ARGB8888 => Some(Format::Argb8888),
            DRM_FORMAT_RGB565 => Some(Format::Rgb565),
            _ => None,
        }
    }

    /// Whether pixels carry alpha.
    pub const fn has_alpha(self) -> bool {
        matches!(self, Format::Argb8888)
    }

    /// The pitch (bytes from one row to the next) fusionfb uses for `width` pixels: the row
    /// rounded up to a multiple of 4 bytes, as pixman requires. Backends may choose a larger
    /// pitch (DRM dumb buffers do); always read [`crate::Buffer::pitch`], never recompute it.
    pub const fn pitch(self, width: u32) -> usize {
        (width as usize * self.bytes_per_pixel()).div_ceil(4) * 4
    }

    /// The DRM name (`XRGB8888`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Format::Xrgb8888 => "XRGB8888",
            Format::Argb8888 => "ARGB8888",
            Format::Rgb565 => "RGB565",
        }
    }

    /// Reads one pixel from the start of `bytes` as premultiplied `0xAARRGGBB`.
    ///
    /// # Panics
    /// When `bytes` is shorter than [`Format::bytes_per_pixel`].
    #[inline]
    pub fn read_pixel(self, bytes: &[u8]) -> u32 {
        match self {
            Format::Xrgb8888 => {
                u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) | 0xff00_0000
            }
            Format::Argb8888 => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            Format::Rgb565 => rgb565_to_argb(u16::from_le_bytes([bytes[0], bytes[1]])),
        }
    }

    /// Writes premultiplied `argb` to the start of `out` in this format.
    ///
    /// # Panics
    /// When `out` is shorter than [`Format::bytes_per_pixel`].
    #[inline]
    pub fn write_pixel(self, argb: u32, out: &mut [u8]) {
        match self {
            Format::Xrgb8888 => out[..4].copy_from_slice(&(argb | 0xff00_0000).to_le_bytes()),
            Format::Argb8888 => out[..4].copy_from_slice(&argb.to_le_bytes()),
            Format::Rgb565 => out[..2].copy_from_slice(&argb_to_rgb565(argb).to_le_bytes()),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with the memory handed to a conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The pitch is smaller than one row of pixels.
    #[error("pitch {pitch} is smaller than a row of {row} bytes")]
    PitchTooSmall {
        /// The pitch given.
        pitch: usize,
        /// Bytes one row of pixels needs.
        row: usize,
    },
    /// The slice ends before the last pixel of the rectangle.
    #[error("{len} bytes hold no {needed}-byte rectangle")]
    TooSmall {
        /// Bytes the rectangle needs.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
}

/// Bytes a `w`×`h` rectangle of `bpp`-byte pixels spans with rows `pitch` apart: the last row
/// needs only its pixels, not a whole pitch. Checks that `pitch` holds a row.
pub fn rect_len(pitch: usize, bpp: usize, w: u32, h: u32) -> Result<usize, FormatError> {
    let row = w as usize * bpp;
    if pitch < row {
        return Err(FormatError::PitchTooSmall { pitch, row });
    }
    if w == 0 || h == 0 {
        return Ok(0);
    }
    Ok((h as usize - 1) * pitch + row)
}

fn check(len: usize, pitch: usize, bpp: usize, w: u32, h: u32) -> Result<(), FormatError> {
    let needed = rect_len(pitch, bpp, w, h)?;
    if len < needed {
        return Err(FormatError::TooSmall { needed, len });
    }
    Ok(())
}

/// Expands an RGB565 pixel to opaque `0xffRRGGBB` by bit replication.
#[inline]
pub const fn rgb565_to_argb(p: u16) -> u32 {
    let r = (p >> 11) as u32 & 0x1f;
    let g = (p >> 5) as u32 & 0x3f;
    let b = p as u32 & 0x1f;
    let r = r << 3 | r >> 2;
    let g = g << 2 | g >> 4;
    let b = b << 3 | b >> 2;
    0xff00_0000 | r << 16 | g << 8 | b
}

/// Packs the colour of `0x..RRGGBB` into RGB565, each channel rounded to the nearest level
/// (alpha is dropped: for a premultiplied pixel that is "over black").
#[inline]
pub const fn argb_to_rgb565(argb: u32) -> u16 {
    let r = (argb >> 16) & 0xff;
    let g = (argb >> 8) & 0xff;
    let b = argb & 0xff;
    let r = (r * 31 + 127) / 255;
    let g = (g * 63 + 127) / 255;
    let b = (b * 31 + 127) / 255;
    (r << 11 | g << 5 | b) as u16
}

/// `round(a * b / 255)`, exact for every pair of bytes (the classic `t + (t >> 8)` trick).
#[inline]
pub const fn mul_div_255(a: u8, b: u8) -> u8 {
    let t = a as u32 * b as u32 + 128;
    ((t + (t >> 8)) >> 8) as u8
}

/// Straight-alpha `0xAARRGGBB` to premultiplied: each colour channel becomes
/// `round(c * a / 255)`.
#[inline]
pub const fn premultiply(straight: u32) -> u32 {
    let a = (straight >> 24) as u8;
    let r = mul_div_255((straight >> 16) as u8, a) as u32;
    let g = mul_div_255((straight >> 8) as u8, a) as u32;
    let b = mul_div_255(straight as u8, a) as u32;
    (a as u32) << 24 | r << 16 | g << 8 | b
}

/// Premultiplied `0xAARRGGBB` back to straight alpha: `round(c * 255 / a)`, clamped to 255;
/// fully transparent pixels become `0`. `premultiply(unpremultiply(p)) == p` for every valid
/// premultiplied `p` (no channel above alpha).
#[inline]
pub const fn unpremultiply(premultiplied: u32) -> u32 {
    let a = premultiplied >> 24;
    if a == 0 {
        return 0;
    }
    let r = unpremultiply_channel((premultiplied >> 16) & 0xff, a);
    let g = unpremultiply_channel((premultiplied >> 8) & 0xff, a);
    let b = unpremultiply_channel(premultiplied & 0xff, a);
    a << 24 | r << 16 | g << 8 | b
}

const fn unpremultiply_channel(c: u32, a: u32) -> u32 {
    let v = (c * 255 + a / 2) / a;
    if v > 255 {
        255
    } else {
        v
    }
}

/// Premultiplied `src` over premultiplied `dst` (Porter-Duff OVER), rounded per channel.
#[inline]
pub const fn over(src: u32, dst: u32) -> u32 {
    let inv = 255 - (src >> 24) as u8;
    let mut out = 0u32;
    let mut shift = 0;
    while shift < 32 {
        let s = (src >> shift) & 0xff;
        let d = mul_div_255((dst >> shift) as u8, inv) as u32;
        let sum = s + d;
        out |= (if sum > 255 { 255 } else { sum }) << shift;
        shift += 8;
    }
    out
}

type RowFn = fn(&[u8], &mut [u8], usize);

fn row_copy(src: &[u8], dst: &mut [u8], w: usize) {
    let n = w * 4;
    dst[..n].copy_from_slice(&src[..n]);
}

fn row_copy16(src: &[u8], dst: &mut [u8], w: usize) {
    let n = w * 2;
    dst[..n].copy_from_slice(&src[..n]);
}

/// XRGB → ARGB and ARGB → XRGB: the colour bytes stay, byte 3 becomes 0xff.
fn row_8888_opaque(src: &[u8], dst: &mut [u8], w: usize) {
    for (s, d) in src[..w * 4]
        .chunks_exact(4)
        .zip(dst[..w * 4].chunks_exact_mut(4))
    {
        d[..3].copy_from_slice(&s[..3]);
        d[3] = 0xff;
    }
}

fn row_565_to_8888(src: &[u8], dst: &mut [u8], w: usize) {
    for (s, d) in src[..w * 2]
        .chunks_exact(2)
        .zip(dst[..w * 4].chunks_exact_mut(4))
    {
        let p = rgb565_to_argb(u16::from_le_bytes([s[0], s[1]]));
        d.copy_from_slice(&p.to_le_bytes());
    }
}

fn row_8888_to_565(src: &[u8], dst: &mut [u8], w: usize) {
    for (s, d) in src[..w * 4]
        .chunks_exact(4)
        .zip(dst[..w * 2].chunks_exact_mut(2))
    {
        let p = argb_to_rgb565(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
        d.copy_from_slice(&p.to_le_bytes());
    }
}

fn row_fn(src: Format, dst: Format) -> RowFn {
    use Format::*;
    match (src, dst) {
        (Xrgb8888, Xrgb8888) | (Argb8888, Argb8888) => row_copy,
        (Rgb565, Rgb565) => row_copy16,
        (Xrgb8888, Argb8888) | (Argb8888, Xrgb8888) => row_8888_opaque,
        (Rgb565, Xrgb8888) | (Rgb565, Argb8888) => row_565_to_8888,
        (Xrgb8888, Rgb565) | (Argb8888, Rgb565) => row_8888_to_565,
    }
}

/// Converts a `w`×`h` rectangle from `src` (format `src_fmt`, rows `src_pitch` bytes apart)
/// into `dst` (format `dst_fmt`, rows `dst_pitch` apart). Both slices start at the
/// rectangle's first pixel; bytes between rows are left alone. Same-format conversions are
/// row copies (the `x` byte of XRGB8888 is then kept as it is).
#[allow(clippy::too_many_arguments)]
pub fn convert_rect(
    src_fmt: Format,
    src: &[u8],
    src_pitch: usize,
    dst_fmt: Format,
    dst: &mut [u8],
    dst_pitch: usize,
    w: u32,
    h: u32,
) -> Result<(), FormatError> {
    check(src.len(), src_pitch, src_fmt.bytes_per_pixel(), w, h)?;
    check(dst.len(), dst_pitch, dst_fmt.bytes_per_pixel(), w, h)?;
    if w == 0 || h == 0 {
        return Ok(());
    }
    let f = row_fn(src_fmt, dst_fmt);
    for y in 0..h as usize {
        f(&src[y * src_pitch..], &mut dst[y * dst_pitch..], w as usize);
    }
    Ok(())
}

/// Converts one row of `w` pixels (a one-row [`convert_rect`]).
pub fn convert_row(
    src_fmt: Format,
    src: &[u8],
    dst_fmt: Format,
    dst: &mut [u8],
    w: u32,
) -> Result<(), FormatError> {
    let (sp, dp) = (src_fmt.pitch(w), dst_fmt.pitch(w));
    convert_rect(src_fmt, src, sp, dst_fmt, dst, dp, w, 1)
}

fn map_rect_8888(
    data: &mut [u8],
    pitch: usize,
    w: u32,
    h: u32,
    f: fn(u32) -> u32,
) -> Result<(), FormatError> {
    check(data.len(), pitch, 4, w, h)?;
    for y in 0..h as usize {
        let row = &mut data[y * pitch..y * pitch + w as usize * 4];
        for px in row.chunks_exact_mut(4) {
            let p = f(u32::from_le_bytes([px[0], px[1], px[2], px[3]]));
            px.copy_from_slice(&p.to_le_bytes());
        }
    }
    Ok(())
}

/// Premultiplies a rectangle of straight-alpha ARGB8888 pixels in place (image decoders,
/// PNG, give straight alpha; fusionfb buffers hold premultiplied).
pub fn premultiply_rect(data: &mut [u8], pitch: usize, w: u32, h: u32) -> Result<(), FormatError> {
    map_rect_8888(data, pitch, w, h, premultiply)
}

/// Turns a rectangle of premultiplied ARGB8888 pixels back to straight alpha in place
/// (before writing a PNG screenshot).
pub fn unpremultiply_rect(
    data: &mut [u8],
    pitch: usize,
    w: u32,
    h: u32,
) -> Result<(), FormatError> {
    map_rect_8888(data, pitch, w, h, unpremultiply)
}

/// Fills a `w`×`h` rectangle of `fmt` pixels with premultiplied `argb`.
pub fn fill_rect(
    fmt: Format,
    dst: &mut [u8],
    pitch: usize,
    w: u32,
    h: u32,
    argb: u32,
) -> Result<(), FormatError> {
    let bpp = fmt.bytes_per_pixel();
    check(dst.len(), pitch, bpp, w, h)?;
    let mut px = [0u8; 4];
    fmt.write_pixel(argb, &mut px);
    for y in 0..h as usize {
        let row = &mut dst[y * pitch..y * pitch + w as usize * bpp];
        for d in row.chunks_exact_mut(bpp) {
            d.copy_from_slice(&px[..bpp]);
        }
    }
    Ok(())
}

/// Pixels in ordinary process memory: a screenshot, a golden image, a test pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format.
    pub format: Format,
    /// Bytes from one row to the next.
    pub pitch: usize,
    /// `pitch * height` bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("pitch", &self.pitch)
            .finish_non_exhaustive()
    }
}

impl Image {
    /// A read-only view of its pixels. Panics if the public fields were set to a size the
    /// data does not hold.
    pub fn view(&self) -> crate::pixels::PixelsRef<'_> {
        crate::pixels::PixelsRef::new(&self.data, self.width, self.height, self.pitch, self.format)
            .expect("an Image's data holds its rows")
    }

    /// The `w`×`h` part at `(x, y)`, clipped to the image, as an image of its own.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Image {
        let x = x.min(self.width);
        let y = y.min(self.height);
        let (w, h) = (w.min(self.width - x), h.min(self.height - y));
        let mut out = Image::new(w, h, self.format);
        let bpp = self.format.bytes_per_pixel();
        let row = w as usize * bpp;
        for r in 0..h as usize {
            let from = (y as usize + r) * self.pitch + x as usize * bpp;
            let to = r * out.pitch;
            out.data[to..to + row].copy_from_slice(&self.data[from..from + row]);
        }
        out
    }

    /// A zeroed (transparent black) image with [`Format::pitch`] rows.
    pub fn new(width: u32, height: u32, format: Format) -> Image {
        let pitch = format.pitch(width);
        Image {
            width,
            height,
            format,
            pitch,
            data: vec![0; pitch * height as usize],
        }
    }

    /// The pixel at (`x`, `y`) as premultiplied `0xAARRGGBB`.
    ///
    /// # Panics
    /// Outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        assert!(x < self.width && y < self.height, "pixel outside the image");
        let bpp = self.format.bytes_per_pixel();
        self.format
            .read_pixel(&self.data[y as usize * self.pitch + x as usize * bpp..])
    }

    /// Sets the pixel at (`x`, `y`) to premultiplied `argb`.
    ///
    /// # Panics
    /// Outside the image.
    pub fn set_pixel(&mut self, x: u32, y: u32, argb: u32) {
        assert!(x < self.width && y < self.height, "pixel outside the image");
        let bpp = self.format.bytes_per_pixel();
        let at = y as usize * self.pitch + x as usize * bpp;
        self.format.write_pixel(argb, &mut self.data[at..]);
    }

    /// A copy in another format.
    pub fn convert(&self, format: Format) -> Image {
        let mut out = Image::new(self.width, self.height, format);
        convert_rect(
            self.format,
            &self.data,
            self.pitch,
            format,
            &mut out.data,
            out.pitch,
            self.width,
            self.height,
        )
        .expect("images are consistent");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_codes_match_drm_fourcc_h() {
        assert_eq!(DRM_FORMAT_XRGB8888, 0x3432_5258);
        assert_eq!(DRM_FORMAT_ARGB8888, 0x3432_5241);
        assert_eq!(DRM_FORMAT_RGB565, 0x3631_4752);
        for f in Format::ALL {
            assert_eq!(Format::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(Format::from_fourcc(0), None);
    }

    #[test]
    fn sizes_and_pitch() {
        assert_eq!(Format::Xrgb8888.bytes_per_pixel(), 4);
        assert_eq!(Format::Rgb565.bytes_per_pixel(), 2);
        assert_eq!(Format::Argb8888.pitch(1280), 5120);
        assert_eq!(Format::Rgb565.pitch(1280), 2560);
        assert_eq!(Format::Rgb565.pitch(3), 8); // 6 bytes rounded up to 4
        assert_eq!(Format::Rgb565.pitch(0), 0);
    }

    #[test]
    fn rgb565_expansion_known_values() {
        assert_eq!(rgb565_to_argb(0x0000), 0xff00_0000);
        assert_eq!(rgb565_to_argb(0xffff), 0xffff_ffff);
        assert_eq!(rgb565_to_argb(0xf800), 0xffff_0000);
        assert_eq!(rgb565_to_argb(0x07e0), 0xff00_ff00);
        assert_eq!(rgb565_to_argb(0x001f), 0xff00_00ff);
        // 5 bits 0b10000 → 0b10000100, 6 bits 0b100000 → 0b10000010.
        assert_eq!(rgb565_to_argb(0x8410), 0xff84_8284);
        // 5 bits 1 → 0b00001000, 6 bits 1 → 0b00000100.
        assert_eq!(rgb565_to_argb(0x0821), 0xff08_0408);
        // 5 bits 0b01111 → 0b01111011 (0x7b), 6 bits 0b011111 → 0b01111101 (0x7d).
        assert_eq!(rgb565_to_argb(0x7bef), 0xff7b_7d7b);
    }

    #[test]
    fn rgb565_round_trip_is_exact_for_all_values() {
        for p in 0..=u16::MAX {
            assert_eq!(argb_to_rgb565(rgb565_to_argb(p)), p, "{p:#06x}");
        }
        // And through the row converters, via both 32-bit formats.
        let src: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
        for mid in [Format::Xrgb8888, Format::Argb8888] {
            let mut wide = vec![0u8; 65536 * 4];
            let mut back = vec![0u8; 65536 * 2];
            convert_rect(Format::Rgb565, &src, 512, mid, &mut wide, 1024, 256, 256).unwrap();
            convert_rect(mid, &wide, 1024, Format::Rgb565, &mut back, 512, 256, 256).unwrap();
            assert_eq!(back, src);
        }
    }

    #[test]
    fn xrgb_to_rgb565_rounds_to_nearest_on_a_grid() {
        // Every value of one channel, with the others on a grid: the result is the nearest
        // RGB565 level, and converting again changes nothing.
        for c in 0..=255u32 {
            for o in (0..=255u32).step_by(17) {
                for px in [
                    c << 16 | o << 8 | o,
                    o << 16 | c << 8 | o,
                    o << 16 | o << 8 | c,
                ] {
                    let p = argb_to_rgb565(px | 0xff00_0000);
                    let back = rgb565_to_argb(p);
                    for (shift, levels) in [(16, 31.0), (8, 63.0), (0, 31.0)] {
                        let v = ((px >> shift) & 0xff) as f64;
                        let got = ((back >> shift) & 0xff) as f64;
                        let step = 255.0 / levels;
                        assert!(
                            (v - got).abs() <= step / 2.0 + 1.0,
                            "{px:#08x} → {back:#08x}"
                        );
                    }
                    assert_eq!(argb_to_rgb565(back), p);
                }
            }
        }
        assert_eq!(argb_to_rgb565(0xff80_8080), 0x8410);
        assert_eq!(argb_to_rgb565(0xff7f_7f7f), 0x7bef);
    }

    #[test]
    fn xrgb_argb_round_trip() {
        let w = 37u32;
        let h = 5u32;
        let pitch = Format::Xrgb8888.pitch(w) + 12; // a padded pitch
        let mut src = vec![0u8; pitch * h as usize];
        for (i, b) in src.iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        for y in 0..h as usize {
            for x in 0..w as usize {
                src[y * pitch + x * 4 + 3] = 0xff;
            }
        }
        let mut argb = vec![0u8; Format::Argb8888.pitch(w) * h as usize];
        let mut back = vec![0u8; pitch * h as usize];
        convert_rect(
            Format::Xrgb8888,
            &src,
            pitch,
            Format::Argb8888,
            &mut argb,
            w as usize * 4,
            w,
            h,
        )
        .unwrap();
        convert_rect(
            Format::Argb8888,
            &argb,
            w as usize * 4,
            Format::Xrgb8888,
            &mut back,
            pitch,
            w,
            h,
        )
        .unwrap();
        for y in 0..h as usize {
            let row = y * pitch..y * pitch + w as usize * 4;
            assert_eq!(back[row.clone()], src[row]);
            // The padding after each row was not written.
            assert!(back[y * pitch + w as usize * 4..(y + 1) * pitch]
                .iter()
                .all(|&b| b == 0));
        }
    }

    #[test]
    fn xrgb_reads_opaque_whatever_the_x_byte() {
        assert_eq!(Format::Xrgb8888.read_pixel(&[1, 2, 3, 0]), 0xff03_0201);
        let mut out = [0u8; 4];
        Format::Xrgb8888.write_pixel(0x0003_0201, &mut out);
        assert_eq!(out, [1, 2, 3, 0xff]);
    }

    #[test]
    fn mul_div_255_is_exactly_rounded() {
        for a in 0..=255u32 {
            for b in 0..=255u32 {
                let want = ((a * b) as f64 / 255.0).round() as u8;
                assert_eq!(mul_div_255(a as u8, b as u8), want, "{a} * {b}");
            }
        }
    }

    #[test]
    fn premultiply_known_values() {
        assert_eq!(premultiply(0xffff_8000), 0xffff_8000); // opaque: unchanged
        assert_eq!(premultiply(0x00ff_ffff), 0x0000_0000); // transparent: black
        assert_eq!(premultiply(0x80ff_0000), 0x8080_0000); // 255 * 128 / 255
        assert_eq!(premultiply(0x8080_4020), 0x8040_2010); // 128*128/255 = 64.25
        assert_eq!(unpremultiply(0x8080_0000), 0x80ff_0000);
        assert_eq!(unpremultiply(0x0000_0000), 0);
        assert_eq!(unpremultiply(0x10ff_0000), 0x10ff_0000); // invalid input: clamped
    }

    #[test]
    fn unpremultiply_then_premultiply_is_exact_for_every_valid_pair() {
        for a in 0..=255u32 {
            for c in 0..=a {
                let p = a << 24 | c << 16 | c << 8 | c;
                assert_eq!(premultiply(unpremultiply(p)), p, "a={a} c={c}");
            }
        }
    }

    #[test]
    fn premultiply_rect_in_place() {
        let w = 3;
        let pitch = 16;
        let mut data = vec![0u8; pitch * 2];
        for y in 0..2 {
            for x in 0..w {
                let p: u32 = 0x80ff_4020;
                data[y * pitch + x * 4..][..4].copy_from_slice(&p.to_le_bytes());
            }
            data[y * pitch + 12..y * pitch + 16].copy_from_slice(&[9, 9, 9, 9]);
        }
        premultiply_rect(&mut data, pitch, w as u32, 2).unwrap();
        let img = Image {
            width: 3,
            height: 2,
            format: Format::Argb8888,
            pitch,
            data: data.clone(),
        };
        assert_eq!(img.pixel(2, 1), premultiply(0x80ff_4020));
        assert_eq!(&data[12..16], &[9, 9, 9, 9]); // outside the rectangle: untouched
        unpremultiply_rect(&mut data, pitch, 3, 2).unwrap();
        assert_eq!(
            u32::from_le_bytes(data[0..4].try_into().unwrap()),
            0x80ff_4020
        );
    }

    #[test]
    fn translucent_to_opaque_formats_is_over_black() {
        let p = premultiply(0x80ff_ffff); // half-transparent white
        let mut out = [0u8; 4];
        Format::Xrgb8888.write_pixel(p, &mut out);
        assert_eq!(Format::Xrgb8888.read_pixel(&out), 0xff80_8080);
        assert_eq!(over(p, 0xff00_0000), 0xff80_8080);
        assert_eq!(over(0xff12_3456, 0xffff_ffff), 0xff12_3456);
        assert_eq!(over(0, 0xff12_3456), 0xff12_3456);
    }

    #[test]
    fn bounds_are_checked() {
        let mut dst = [0u8; 15];
        let src = [0u8; 16];
        assert_eq!(
            convert_rect(
                Format::Argb8888,
                &src,
                8,
                Format::Argb8888,
                &mut dst,
                8,
                2,
                2
            ),
            Err(FormatError::TooSmall {
                needed: 16,
                len: 15
            })
        );
        assert_eq!(
            convert_rect(
                Format::Argb8888,
                &src,
                4,
                Format::Argb8888,
                &mut dst,
                8,
                2,
                2
            ),
            Err(FormatError::PitchTooSmall { pitch: 4, row: 8 })
        );
        // The last row needs no padding.
        let mut dst = [0u8; 12];
        convert_rect(Format::Argb8888, &src, 8, Format::Rgb565, &mut dst, 8, 2, 2).unwrap();
        convert_rect(Format::Argb8888, &src, 8, Format::Rgb565, &mut dst, 8, 0, 9).unwrap();
    }

    #[test]
    fn fill_and_image_helpers() {
        let mut img = Image::new(3, 3, Format::Rgb565);
        fill_rect(Format::Rgb565, &mut img.data, img.pitch, 3, 3, 0xff00_ff00).unwrap();
        assert_eq!(img.pixel(1, 1), 0xff00_ff00);
        img.set_pixel(2, 2, 0xffff_0000);
        let wide = img.convert(Format::Xrgb8888);
        assert_eq!(wide.pixel(2, 2), 0xffff_0000);
        assert_eq!(wide.pixel(0, 2), 0xff00_ff00);
    }
}
