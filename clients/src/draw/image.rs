//! [`Image`]: premultiplied ARGB8888 pixels in process memory — decoded PNGs, icons, sprites.

use std::io::Cursor;
use std::path::Path;

use gfx_drivers::format::{convert_rect, premultiply, Format};
use tiny_skia::{FilterQuality, Pixmap, PixmapPaint, Transform};

use super::{Canvas, DrawError};

/// An image in premultiplied ARGB8888 ([`Format::Argb8888`]): rows `width * 4` bytes apart,
/// each pixel a little-endian `0xAARRGGBB`, so bytes B, G, R, A in memory.
///
/// It is blitted with [`Canvas::blit`], drawn into with [`Image::canvas`], and handed to
/// tiny-skia as it is (see the module doc of [`crate::draw`] for why the byte order works).
#[derive(Clone, PartialEq)]
pub struct Image {
    /// tiny-skia believes the bytes are R, G, B, A; they are B, G, R, A.
    pub(crate) pixmap: Pixmap,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("width", &self.width())
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

impl Image {
    /// A transparent `width`×`height` image.
    pub fn new(width: u32, height: u32) -> Result<Image, DrawError> {
        let pixmap = Pixmap::new(width, height).ok_or(DrawError::BadSize { width, height })?;
        Ok(Image { pixmap })
    }

    /// An image over premultiplied ARGB8888 bytes (`width * 4` bytes a row, no padding).
    pub fn from_argb8888(width: u32, height: u32, data: Vec<u8>) -> Result<Image, DrawError> {
        let size = tiny_skia::IntSize::from_wh(width, height)
            .ok_or(DrawError::BadSize { width, height })?;
        let len = data.len();
        let pixmap = Pixmap::from_vec(data, size).ok_or(DrawError::BadLength {
            len,
            needed: width as usize * height as usize * 4,
        })?;
        Ok(Image { pixmap })
    }

    /// A copy of `width`×`height` pixels of any fusionfb format (rows `pitch` bytes apart) —
    /// for instance a surface's buffer, or a [`gfx_drivers::Image`].
    pub fn from_pixels(
        format: Format,
        data: &[u8],
        pitch: usize,
        width: u32,
        height: u32,
    ) -> Result<Image, DrawError> {
        let mut image = Image::new(width, height)?;
        convert_rect(
            format,
            data,
            pitch,
            Format::Argb8888,
            image.pixmap.data_mut(),
            width as usize * 4,
            width,
            height,
        )?;
        Ok(image)
    }

    /// Decodes a PNG (any colour type and bit depth; palette, grey and 16-bit are expanded to
    /// 8 bits a channel) into premultiplied ARGB8888. Only the first frame of an APNG is kept.
    pub fn from_png(bytes: &[u8]) -> Result<Image, DrawError> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info()?;
        let len = reader.output_buffer_size().ok_or(DrawError::PngTooLarge)?;
        let mut buf = vec![0; len];
        let info = reader.next_frame(&mut buf)?;
        let (width, height) = (info.width, info.height);
        let mut image = Image::new(width, height)?;
        let channels = info.color_type.samples();
        if info.bit_depth != png::BitDepth::Eight {
            return Err(DrawError::PngUnsupported(format!(
                "{:?} after normalising to 8 bits",
                info.bit_depth
            )));
        }
        let out = image.pixmap.data_mut();
        for y in 0..height as usize {
            let src = &buf[y * info.line_size..][..width as usize * channels];
            let dst = &mut out[y * width as usize * 4..][..width as usize * 4];
            for (s, d) in src.chunks_exact(channels).zip(dst.chunks_exact_mut(4)) {
                let (r, g, b, a) = match info.color_type {
                    png::ColorType::Grayscale => (s[0], s[0], s[0], 255),
                    png::ColorType::GrayscaleAlpha => (s[0], s[0], s[0], s[1]),
                    png::ColorType::Rgb => (s[0], s[1], s[2], 255),
                    png::ColorType::Rgba => (s[0], s[1], s[2], s[3]),
                    png::ColorType::Indexed => {
                        return Err(DrawError::PngUnsupported("unexpanded palette".into()))
                    }
                };
                let straight = u32::from_be_bytes([a, r, g, b]);
                d.copy_from_slice(&premultiply(straight).to_le_bytes());
            }
        }
        Ok(image)
    }

    /// Reads and decodes a PNG file (see [`Image::from_png`]).
    pub fn load_png(path: impl AsRef<Path>) -> Result<Image, DrawError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DrawError::Io {
            path: path.to_owned(),
            source,
        })?;
        Image::from_png(&bytes)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// The pixels: premultiplied ARGB8888, `width * 4` bytes a row.
    pub fn data(&self) -> &[u8] {
        self.pixmap.data()
    }

    /// The pixels, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.pixmap.data_mut()
    }

    /// The pixel at (`x`, `y`) as premultiplied `0xAARRGGBB`.
    ///
    /// # Panics
    /// Outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        assert!(
            x < self.width() && y < self.height(),
            "pixel outside the image"
        );
        let at = (y as usize * self.width() as usize + x as usize) * 4;
        Format::Argb8888.read_pixel(&self.data()[at..])
    }

    /// A [`Canvas`] that draws into this image.
    pub fn canvas(&mut self) -> Canvas<'_> {
        let (w, h) = (self.width(), self.height());
        Canvas::new(
            self.pixmap.data_mut(),
            w,
            h,
            w as usize * 4,
            Format::Argb8888,
        )
        .expect("an image is a valid canvas")
    }

    /// A copy resized to `width`×`height` by tiny-skia with a bicubic filter.
    ///
    /// Bicubic alone skips source pixels when it shrinks by more than 2×, so larger
    /// reductions first halve the image (a 2×2 box average, tiny-skia's bilinear filter at
    /// exactly ½) until less than 2× remains — the mipmap idea, without keeping the levels.
    pub fn scaled(&self, width: u32, height: u32) -> Result<Image, DrawError> {
        let (tw, th) = (
            width.max(1).saturating_mul(2),
            height.max(1).saturating_mul(2),
        );
        let mut current = std::borrow::Cow::Borrowed(self);
        while current.width() >= tw || current.height() >= th {
            let hw = current.width() / if current.width() >= tw { 2 } else { 1 };
            let hh = current.height() / if current.height() >= th { 2 } else { 1 };
            let half = current.resample(hw, hh, FilterQuality::Bilinear)?;
            current = std::borrow::Cow::Owned(half);
        }
        current.resample(width, height, FilterQuality::Bicubic)
    }

    fn resample(
        &self,
        width: u32,
        height: u32,
        quality: FilterQuality,
    ) -> Result<Image, DrawError> {
        let mut out = Image::new(width, height)?;
        let sx = width as f32 / self.width() as f32;
        let sy = height as f32 / self.height() as f32;
        let paint = PixmapPaint {
            quality,
            blend_mode: tiny_skia::BlendMode::Source,
            ..PixmapPaint::default()
        };
        out.pixmap.draw_pixmap(
            0,
            0,
            self.pixmap.as_ref(),
            &paint,
            Transform::from_scale(sx, sy),
            None,
        );
        Ok(out)
    }
}
