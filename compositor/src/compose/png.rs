//! PNG files of buffers: screenshots, golden references, failure dumps.
//!
//! Opaque formats are written as 8-bit RGB (`Rgb565` widened by bit replication, so the file
//! maps back to the same 16-bit pixels); `Argb8888` as 8-bit RGBA with the alpha divided out
//! (PNG alpha is straight, ours premultiplied). Reading gives an `Xrgb8888` buffer for a file
//! without alpha and a premultiplied `Argb8888` one for a file with it.

use std::io::Cursor;
use std::path::Path;

use super::{Format, PixelBuffer, PixelsRef};

/// Why a PNG could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The data is not a PNG this module reads.
    #[error("bad PNG: {0}")]
    Decode(#[from] ::png::DecodingError),
    /// The encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] ::png::EncodingError),
    /// The image is empty or too large for a [`PixelBuffer`].
    #[error("PNG size {0}x{1} is not supported")]
    Size(u32, u32),
}

/// The buffer as PNG bytes.
pub fn encode(buf: &PixelsRef<'_>) -> Result<Vec<u8>, PngError> {
    let (w, h) = (buf.width(), buf.height());
    let alpha = buf.format() == Format::Argb8888;
    let mut data = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let p = buf.pixel(x, y);
            let [b, g, r, a] = p.to_le_bytes();
            if alpha {
                let un = |c: u8| {
                    if a == 0 {
                        0
                    } else {
                        ((c as u32 * 255 + a as u32 / 2) / a as u32).min(255) as u8
                    }
                };
                data.extend_from_slice(&[un(r), un(g), un(b), a]);
            } else {
                data.extend_from_slice(&[r, g, b]);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, w, h);
    enc.set_color(if alpha {
        ::png::ColorType::Rgba
    } else {
        ::png::ColorType::Rgb
    });
    enc.set_depth(::png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}

/// Writes the buffer to `path` as PNG, creating parent directories.
pub fn write(path: &Path, buf: &PixelsRef<'_>) -> Result<(), PngError> {
    let io = |source| PngError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = encode(buf)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

/// Decodes PNG bytes (any colour type and depth; reduced to 8 bits per channel).
pub fn decode(bytes: &[u8]) -> Result<PixelBuffer, PngError> {
    let mut decoder = ::png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(::png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let size = reader
        .output_buffer_size()
        .ok_or(PngError::Size(u32::MAX, u32::MAX))?;
    let mut data = vec![0; size];
    let info = reader.next_frame(&mut data)?;
    let (w, h) = (info.width, info.height);
    if w == 0 || h == 0 || w > 32767 || h > 32767 {
        return Err(PngError::Size(w, h));
    }
    let channels = info.color_type.samples();
    let alpha = matches!(
        info.color_type,
        ::png::ColorType::Rgba | ::png::ColorType::GrayscaleAlpha
    );
    let format = if alpha {
        Format::Argb8888
    } else {
        Format::Xrgb8888
    };
    let mut buf = PixelBuffer::new(w, h, format);
    for y in 0..h {
        let row = &data[y as usize * info.line_size..];
        for x in 0..w {
            let px = &row[x as usize * channels..][..channels];
            let (r, g, b, a) = match channels {
                1 => (px[0], px[0], px[0], 255),
                2 => (px[0], px[0], px[0], px[1]),
                3 => (px[0], px[1], px[2], 255),
                _ => (px[0], px[1], px[2], px[3]),
            };
            let pre = |c: u8| ((c as u32 * a as u32 + 127) / 255) as u8;
            let argb = u32::from_le_bytes([pre(b), pre(g), pre(r), a]);
            buf.set_pixel(x, y, argb);
        }
    }
    Ok(buf)
}

/// Reads a PNG file; see [`decode`].
pub fn read(path: &Path) -> Result<PixelBuffer, PngError> {
    let bytes = std::fs::read(path).map_err(|source| PngError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut b = PixelBuffer::new(3, 2, Format::Xrgb8888);
        b.set_pixel(0, 0, 0x12_34_56);
        b.set_pixel(2, 1, 0xff_00_80);
        let back = decode(&encode(&b.view()).unwrap()).unwrap();
        assert_eq!(back, b);

        let mut a = PixelBuffer::new(2, 1, Format::Argb8888);
        a.set_pixel(0, 0, 0x80_80_40_00);
        let back = decode(&encode(&a.view()).unwrap()).unwrap();
        assert_eq!(back, a);

        let mut s = PixelBuffer::new(2, 2, Format::Rgb565);
        s.set_pixel(1, 1, 0xff_f8_fc_f8);
        let back = decode(&encode(&s.view()).unwrap()).unwrap();
        assert_eq!(back.pixel(1, 1), s.pixel(1, 1));
        assert_eq!(back.pixel(0, 0), 0xff_00_00_00);
    }
}
