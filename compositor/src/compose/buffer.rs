//! Pixel buffers: what pixman needs of the house's borrowed views
//! ([`gfx_drivers::pixels`]: [`PixelsRef`] of client memory, [`PixelsMut`] of scan-out
//! memory), checked by [`pixman_ready`], and an owned buffer for tests, scratch space and
//! benchmarks.
//!
//! Formats follow DRM fourcc naming and are little-endian in memory, which is also pixman's
//! native order on the little-endian CPUs fusionfb targets (ARM, x86, RISC-V):
//! `XRGB8888` is the `u32` `0xXXRRGGBB`, `RGB565` the `u16` `RRRRRGGGGGGBBBBB`.

use std::fmt;

pub use gfx_drivers::format::Format;
pub use gfx_drivers::pixels::{PixelsMut, PixelsRef};

/// What the compositor needs to know of a [`Format`] beyond what `gfx-drivers` says.
pub(crate) trait FormatExt {
    /// Bytes per pixel, as the `u32` pixel arithmetic here uses.
    fn bpp(self) -> u32;
    /// Whether every pixel of this format is opaque.
    fn is_opaque(&self) -> bool;
    /// Whether the compositor can write into a buffer of this format.
    fn is_target(&self) -> bool;
    /// The matching pixman format.
    fn pixman(self) -> pixman::FormatCode;
}

impl FormatExt for Format {
    fn bpp(self) -> u32 {
        Format::bytes_per_pixel(self) as u32
    }

    fn is_opaque(&self) -> bool {
        !self.has_alpha()
    }

    fn is_target(&self) -> bool {
        matches!(*self, Format::Xrgb8888 | Format::Rgb565)
    }

    fn pixman(self) -> pixman::FormatCode {
        match self {
            Format::Argb8888 => pixman::FormatCode::A8R8G8B8,
            Format::Rgb565 => pixman::FormatCode::R5G6B5,
            _ => pixman::FormatCode::X8R8G8B8,
        }
    }
}

/// Why pixels cannot go to pixman as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    /// Width or height is zero, or larger than pixman's 16.16 coordinates allow (32767).
    #[error("buffer size {width}x{height} is out of range (1..=32767)")]
    BadSize {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// The pitch cannot hold a row, or is not a multiple of 4 (pixman's requirement).
    #[error("pitch {pitch} does not fit a row of {row} bytes or is not a multiple of 4")]
    BadPitch {
        /// Pitch asked for.
        pitch: usize,
        /// Bytes a row needs.
        row: usize,
    },
    /// The memory is shorter than `pitch × (height − 1) + row`.
    #[error("buffer holds {have} bytes, needs {need}")]
    TooShort {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The memory does not start on a 4-byte boundary (pixman reads 32-bit words).
    #[error("buffer memory is not 4-byte aligned")]
    Misaligned,
}

const MAX_SIDE: u32 = 32767;

fn check(
    len: usize,
    ptr: *const u8,
    w: u32,
    h: u32,
    pitch: usize,
    f: Format,
) -> Result<(), BufferError> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(BufferError::BadSize {
            width: w,
            height: h,
        });
    }
    let row = w as usize * f.bytes_per_pixel();
    if pitch < row || pitch % 4 != 0 {
        return Err(BufferError::BadPitch { pitch, row });
    }
    let need = pitch * (h as usize - 1) + row;
    if len < need {
        return Err(BufferError::TooShort { need, have: len });
    }
    if ptr as usize % 4 != 0 {
        return Err(BufferError::Misaligned);
    }
    Ok(())
}

/// Whether pixman can read (or write) `pixels` as they are: sides 1 to 32767, a pitch that is
/// a multiple of 4 and holds a row, memory 4-byte aligned and covering every row. The
/// unsafe pixman glue checks it before handing the memory over.
pub fn pixman_ready(pixels: &PixelsRef<'_>) -> Result<(), BufferError> {
    check(
        pixels.data().len(),
        pixels.data().as_ptr(),
        pixels.width(),
        pixels.height(),
        pixels.pitch(),
        pixels.format(),
    )
}

/// Pixels the process owns, 4-byte aligned: scratch buffers, test fixtures, benchmarks and
/// the headless backend's frames. Rows are packed to the next multiple of 4 bytes.
///
/// Two buffers are equal when they have the same size and format and every pixel reads the
/// same through [`PixelBuffer::pixel`] (the ignored byte of `Xrgb8888` and row padding do not
/// count).
#[derive(Clone)]
pub struct PixelBuffer {
    words: Vec<u32>,
    width: u32,
    height: u32,
    pitch: u32,
    format: Format,
}

impl PartialEq for PixelBuffer {
    fn eq(&self, other: &Self) -> bool {
        (self.width, self.height, self.format) == (other.width, other.height, other.format)
            && (0..self.height)
                .all(|y| (0..self.width).all(|x| self.pixel(x, y) == other.pixel(x, y)))
    }
}

impl Eq for PixelBuffer {}

impl fmt::Debug for PixelBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl PixelBuffer {
    /// A buffer of zero bytes (black; transparent for `Argb8888`). Panics on a size outside
    /// `1..=32767`.
    pub fn new(width: u32, height: u32, format: Format) -> Self {
        let pitch = (width * format.bpp()).div_ceil(4) * 4;
        let buf = PixelBuffer {
            words: vec![0; (pitch / 4 * height) as usize],
            width,
            height,
            pitch,
            format,
        };
        if let Err(e) = check(
            buf.words.len() * 4,
            buf.words.as_ptr().cast(),
            width,
            height,
            pitch as usize,
            format,
        ) {
            panic!("PixelBuffer::new: {e}");
        }
        buf
    }

    /// A buffer filled with `argb` (see [`PixelBuffer::fill`]).
    pub fn filled(width: u32, height: u32, format: Format, argb: u32) -> Self {
        let mut b = PixelBuffer::new(width, height, format);
        b.fill(argb);
        b
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

    /// The bytes, rows `pitch` apart.
    pub fn bytes(&self) -> &[u8] {
        super::pixman_glue::words_as_bytes(&self.words)
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        super::pixman_glue::words_as_bytes_mut(&mut self.words)
    }

    /// A read-only view.
    pub fn view(&self) -> PixelsRef<'_> {
        let (w, h, pitch, f) = (self.width, self.height, self.pitch as usize, self.format);
        PixelsRef::new(self.bytes(), w, h, pitch, f).expect("checked in PixelBuffer::new")
    }

    /// A writable view.
    pub fn view_mut(&mut self) -> PixelsMut<'_> {
        let (w, h, pitch, f) = (self.width, self.height, self.pitch as usize, self.format);
        PixelsMut::new(self.bytes_mut(), w, h, pitch, f).expect("checked in PixelBuffer::new")
    }

    /// The pixel at `(x, y)` as `0xAARRGGBB`; see [`PixelsRef::pixel`].
    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        self.view().pixel(x, y)
    }

    /// Sets the pixel at `(x, y)` from `0xAARRGGBB` (premultiplied for `Argb8888`; alpha
    /// dropped for `Xrgb8888`, channels truncated for `Rgb565`).
    pub fn set_pixel(&mut self, x: u32, y: u32, argb: u32) {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside buffer"
        );
        let at = (y * self.pitch + x * self.format.bpp()) as usize;
        let format = self.format;
        format.write_pixel(argb, &mut self.bytes_mut()[at..]);
    }

    /// Fills a rectangle (clipped to the buffer) with `argb`, as [`PixelBuffer::set_pixel`].
    pub fn fill_rect(&mut self, r: super::Rect<fusionfb_types::geometry::Buffer>, argb: u32) {
        let Some(r) = r.clip(self.width, self.height) else {
            return;
        };
        let (x0, y0) = r.origin_unsigned();
        for y in y0..y0 + r.h {
            for x in x0..x0 + r.w {
                self.set_pixel(x, y, argb);
            }
        }
    }

    /// Fills the whole buffer with `argb`.
    pub fn fill(&mut self, argb: u32) {
        self.fill_rect(super::Rect::from_size(self.width, self.height), argb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixman_wants_more_than_a_view() {
        let words = [0u32; 16];
        let bytes = super::super::pixman_glue::words_as_bytes(&words);
        let ready = |b: &[u8], w, h, pitch, f| {
            pixman_ready(&PixelsRef::new(b, w, h, pitch, f).expect("a valid view"))
        };
        assert!(ready(bytes, 4, 4, 16, Format::Xrgb8888).is_ok());
        // A valid view, but a pitch that is no multiple of 4, or memory off the word grid.
        assert_eq!(
            ready(bytes, 3, 4, 6, Format::Rgb565).unwrap_err(),
            BufferError::BadPitch { pitch: 6, row: 6 }
        );
        assert_eq!(
            ready(&bytes[1..], 1, 1, 4, Format::Xrgb8888).unwrap_err(),
            BufferError::Misaligned
        );
        assert!(matches!(
            ready(bytes, 0, 1, 4, Format::Xrgb8888),
            Err(BufferError::BadSize { .. })
        ));
        let wide = vec![0u32; 32768];
        assert!(matches!(
            ready(
                super::super::pixman_glue::words_as_bytes(&wide),
                32768,
                1,
                131072,
                Format::Xrgb8888
            ),
            Err(BufferError::BadSize { .. })
        ));
    }

    #[test]
    fn pixels_round_trip() {
        let mut b = PixelBuffer::new(3, 2, Format::Rgb565);
        b.set_pixel(2, 1, 0xff_ff_80_00);
        assert_eq!(b.pixel(2, 1), 0xff_ff_82_00);
        assert_eq!(b.pixel(0, 0), 0xff_00_00_00);
        let mut b = PixelBuffer::new(3, 2, Format::Xrgb8888);
        b.set_pixel(1, 1, 0x12_34_56_78);
        assert_eq!(b.pixel(1, 1), 0xff_34_56_78);
        assert_eq!(Format::Xrgb8888.fourcc(), 0x3432_5258);
    }
}
