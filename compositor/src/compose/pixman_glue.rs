//! The only `unsafe` of the compositor: pixman images over borrowed memory, and byte views of
//! word buffers.
//!
//! Each image is made only after [`pixman_ready`] said yes: the memory is 4-byte aligned, the
//! pitch is a multiple of 4 and holds a row, and the slice covers
//! `pitch × (height − 1) + row` bytes, which is all pixman reads or writes for an image of that
//! size.

use super::buffer::{pixman_ready, BufferError, PixelsMut, PixelsRef};
use crate::compose::buffer::FormatExt;

/// Why pixman got no image.
#[derive(Debug)]
pub(crate) enum ImageError {
    /// The pixels are not as pixman needs them.
    Buffer(BufferError),
    /// pixman refused (out of memory).
    Pixman,
}

/// Byte view of a word buffer.
pub(crate) fn words_as_bytes(words: &[u32]) -> &[u8] {
    // SAFETY: u8 has no alignment and no invalid values; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast(), std::mem::size_of_val(words)) }
}

/// Writable byte view of a word buffer.
pub(crate) fn words_as_bytes_mut(words: &mut [u32]) -> &mut [u8] {
    // SAFETY: as above; any byte pattern is a valid u32, so writes through the view are fine,
    // and the exclusive borrow is carried over.
    unsafe {
        std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), std::mem::size_of_val(words))
    }
}

/// A pixman image reading `buf`. It must only ever be used as a composite *source* or mask:
/// pixman never writes those, which is what makes handing it a pointer derived from a shared
/// borrow sound.
pub(crate) fn source_image<'a>(
    buf: &PixelsRef<'a>,
) -> Result<pixman::Image<'a, 'static>, ImageError> {
    pixman_ready(buf).map_err(ImageError::Buffer)?;
    // SAFETY: the memory is valid, aligned and large enough for the whole image (checked just
    // above) and stays borrowed for 'a, the lifetime of the returned image. pixman
    // does not write to an image used as a source, so the shared borrow is never mutated.
    let image = unsafe {
        pixman::Image::from_raw_mut(
            buf.format().pixman(),
            buf.width() as usize,
            buf.height() as usize,
            buf.data().as_ptr() as *mut u32,
            buf.pitch(),
            false,
        )
    };
    image.map_err(|_| ImageError::Pixman)
}

/// A pixman image drawing into `buf`, which stays exclusively borrowed while the image lives.
pub(crate) fn target_image<'a>(
    buf: &'a mut PixelsMut<'_>,
) -> Result<pixman::Image<'a, 'static>, ImageError> {
    pixman_ready(&buf.as_ref()).map_err(ImageError::Buffer)?;
    let (w, h, pitch, format) = (buf.width(), buf.height(), buf.pitch(), buf.format());
    let data = buf.data_mut();
    // SAFETY: valid, aligned and large enough (checked just above); the exclusive
    // borrow of `buf` lasts as long as the image, so nothing else reads or writes the pixels.
    let image = unsafe {
        pixman::Image::from_raw_mut(
            format.pixman(),
            w as usize,
            h as usize,
            data.as_mut_ptr().cast(),
            pitch,
            false,
        )
    };
    image.map_err(|_| ImageError::Pixman)
}
