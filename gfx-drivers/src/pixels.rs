//! Borrowed views of pixel memory — the one pair of view types of the house.
//!
//! A [`PixelsRef`] reads, a [`PixelsMut`] writes, `height` rows `pitch` bytes apart, each
//! starting with `width` pixels of a [`Format`]: a client's surface buffer (memfd or
//! dma-buf), a scan-out buffer, an [`Image`](crate::Image), a client's drawing canvas. The
//! compositor composes from and into them, the client library blits them, PNG encoding reads
//! them. Building one checks that the memory holds every row ([`rect_len`]); what pixman
//! needs on top (4-byte alignment, pitch a multiple of 4, sides up to 32767) the compositor
//! checks where it hands the memory to pixman.

use crate::format::{rect_len, Format, FormatError};

/// Read-only pixels in memory; see the [module docs](self).
#[derive(Clone, Copy)]
pub struct PixelsRef<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    pitch: usize,
    format: Format,
}

impl std::fmt::Debug for PixelsRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelsRef")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("pitch", &self.pitch)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

fn check(len: usize, width: u32, height: u32, pitch: usize, f: Format) -> Result<(), FormatError> {
    let needed = rect_len(pitch, f.bytes_per_pixel(), width, height)?;
    if len < needed {
        return Err(FormatError::TooSmall { needed, len });
    }
    Ok(())
}

/// The offset of pixel `(x, y)`; panics outside the view.
fn offset(width: u32, height: u32, pitch: usize, f: Format, x: u32, y: u32) -> usize {
    assert!(
        x < width && y < height,
        "pixel ({x}, {y}) outside the pixels"
    );
    y as usize * pitch + x as usize * f.bytes_per_pixel()
}

impl<'a> PixelsRef<'a> {
    /// A view of `data` as `height` rows of `pitch` bytes, each starting with `width` pixels
    /// of `format`. Fails when a row does not fit the pitch or `data` ends before the last
    /// pixel.
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        pitch: usize,
        format: Format,
    ) -> Result<Self, FormatError> {
        check(data.len(), width, height, pitch, format)?;
        Ok(PixelsRef {
            data,
            width,
            height,
            pitch,
            format,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from one row to the next.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Pixel format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The memory viewed (at least every row's pixels).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The pixel at `(x, y)` as premultiplied `0xAARRGGBB` (alpha `0xff` for opaque
    /// formats, 5/6-bit channels widened by bit replication). Panics outside the view.
    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        let at = offset(self.width, self.height, self.pitch, self.format, x, y);
        self.format.read_pixel(&self.data[at..])
    }
}

/// Writable pixels in memory; see the [module docs](self).
pub struct PixelsMut<'a> {
    data: &'a mut [u8],
    width: u32,
    height: u32,
    pitch: usize,
    format: Format,
}

impl std::fmt::Debug for PixelsMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl<'a> PixelsMut<'a> {
    /// A writable view of `data`; see [`PixelsRef::new`].
    pub fn new(
        data: &'a mut [u8],
        width: u32,
        height: u32,
        pitch: usize,
        format: Format,
    ) -> Result<Self, FormatError> {
        check(data.len(), width, height, pitch, format)?;
        Ok(PixelsMut {
            data,
            width,
            height,
            pitch,
            format,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from one row to the next.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Pixel format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// A read-only view of the same pixels.
    pub fn as_ref(&self) -> PixelsRef<'_> {
        PixelsRef {
            data: self.data,
            width: self.width,
            height: self.height,
            pitch: self.pitch,
            format: self.format,
        }
    }

    /// The memory viewed, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.data
    }

    /// The pixel at `(x, y)`; see [`PixelsRef::pixel`].
    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        self.as_ref().pixel(x, y)
    }

    /// Sets the pixel at `(x, y)` from premultiplied `0xAARRGGBB` (alpha dropped for opaque
    /// formats, channels rounded for RGB565). Panics outside the view.
    pub fn set_pixel(&mut self, x: u32, y: u32, argb: u32) {
        let at = offset(self.width, self.height, self.pitch, self.format, x, y);
        self.format.write_pixel(argb, &mut self.data[at..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_must_hold_every_row() {
        let bytes = [0u8; 64];
        assert!(PixelsRef::new(&bytes, 4, 4, 16, Format::Xrgb8888).is_ok());
        // The last row needs only its pixels, not a whole pitch.
        assert!(PixelsRef::new(&bytes[..56], 2, 4, 16, Format::Xrgb8888).is_ok());
        assert_eq!(
            PixelsRef::new(&bytes, 4, 4, 6, Format::Rgb565).unwrap_err(),
            FormatError::PitchTooSmall { pitch: 6, row: 8 }
        );
        assert_eq!(
            PixelsRef::new(&bytes, 4, 5, 16, Format::Xrgb8888).unwrap_err(),
            FormatError::TooSmall {
                needed: 80,
                len: 64
            }
        );
    }

    #[test]
    fn pixels_read_back_what_was_written() {
        let mut bytes = [0u8; 12];
        let mut v = PixelsMut::new(&mut bytes, 3, 2, 6, Format::Rgb565).unwrap();
        v.set_pixel(2, 1, 0xff_ff_80_00);
        assert_eq!(v.pixel(2, 1), 0xff_ff_82_00);
        assert_eq!(v.as_ref().pixel(0, 0), 0xff_00_00_00);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn reading_outside_panics() {
        let bytes = [0u8; 16];
        PixelsRef::new(&bytes, 2, 2, 8, Format::Xrgb8888)
            .unwrap()
            .pixel(2, 0);
    }
}
