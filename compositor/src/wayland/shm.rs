//! Reading clients' `wl_shm` buffers.
//!
//! A client's wl_shm pool is memory the client controls: it can write to it at any time and
//! truncate the file under the master's mapping, and a read past the end of a truncated
//! file is a SIGBUS. smithay reads pools under a SIGBUS handler of its own, only inside
//! [`with_buffer_contents`], one pool at a time: a fault there is caught, the memory
//! replaced with zeros and the client gets a `wl_shm.invalid_fd` protocol error (it is
//! disconnected; the master and the other clients carry on).
//!
//! So the scene shows a plain wl_shm buffer as it is ([`ShmPixels`]): composition reads
//! the client's pool straight into the frame, element by element, each inside that guarded
//! call (as Weston's pixman renderer does, between `wl_shm_buffer_begin_access` and
//! `end_access`), and the buffer is held until another replaces it. What is copied into a
//! master-owned memfd [`Buffer`] ([`copy`], [`read`]) is a viewport's crop (scaled there),
//! and the pixels of a shown buffer its client destroys (`wayland/state.rs`).
//!
//! This is the one place of the frontend with `unsafe`: smithay hands the pool out as a raw
//! pointer, and rows are read out of it after checking they lie inside the pool.

use fusionfb_types::geometry::{Buffer as BufferSpace, Rect};
use gfx_drivers::{Buffer, Format};
use smithay::reexports::wayland_server::protocol::{wl_buffer::WlBuffer, wl_shm};
use smithay::reexports::wayland_server::Resource;
use smithay::wayland::shm::{
    with_buffer_contents, with_buffer_contents_mut, BufferAccessError, BufferData,
};

/// Why a buffer could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Not a wl_shm buffer (a dma-buf: not supported yet).
    #[error("not a wl_shm buffer")]
    NotShm,
    /// The pool was truncated under it (the client got a protocol error).
    #[error("the client's pool is smaller than its buffer (truncated)")]
    BadPool,
    /// A format the master does not show.
    #[error("pixel format {0:?} is not supported")]
    Format(wl_shm::Format),
    /// The master's copy could not be made.
    #[error("the master's copy: {0}")]
    Copy(String),
}

/// The master's format for a wl_shm format (the three it advertises).
pub fn format_of(f: wl_shm::Format) -> Option<Format> {
    match f {
        wl_shm::Format::Argb8888 => Some(Format::Argb8888),
        wl_shm::Format::Xrgb8888 => Some(Format::Xrgb8888),
        wl_shm::Format::Rgb565 => Some(Format::Rgb565),
        _ => None,
    }
}

/// The size and format of a wl_shm buffer.
pub fn describe(buffer: &WlBuffer) -> Result<(u32, u32, Format), CopyError> {
    let data =
        smithay::wayland::shm::with_buffer_contents(buffer, |_, _, d| d).map_err(|e| match e {
            BufferAccessError::NotManaged => CopyError::NotShm,
            _ => CopyError::BadPool,
        })?;
    let format = format_of(data.format).ok_or(CopyError::Format(data.format))?;
    Ok((data.width as u32, data.height as u32, format))
}

/// Copies `areas` (buffer pixels; all of it when `whole`) of the wl_shm `buffer` into
/// `copy`, which has its size and format.
pub fn copy(
    buffer: &WlBuffer,
    copy: &Buffer,
    areas: &[Rect<BufferSpace>],
    whole: bool,
) -> Result<(), CopyError> {
    let result = with_buffer_contents(buffer, |ptr, len, data| {
        let side = |v: i32| u32::try_from(v).unwrap_or(0);
        let all = [Rect::new(0, 0, side(data.width), side(data.height))];
        let areas = if whole { &all[..] } else { areas };
        copy.with_bytes_mut(|dst| copy_areas(ptr, len, data, dst, copy.pitch(), areas, (0, 0)))
            .map_err(|e| CopyError::Copy(e.to_string()))?
    });
    match result {
        Ok(r) => r,
        Err(BufferAccessError::NotManaged) => Err(CopyError::NotShm),
        Err(_) => Err(CopyError::BadPool),
    }
}

/// Reads the `crop` of the wl_shm `buffer` (clipped to it) into an image of the master's
/// (for a viewport's scaling, [`crate::compose::scale_into`]).
pub fn read(buffer: &WlBuffer, crop: Rect<BufferSpace>) -> Result<gfx_drivers::Image, CopyError> {
    let result = with_buffer_contents(buffer, |ptr, len, data| {
        let format = format_of(data.format).ok_or(CopyError::Format(data.format))?;
        let side = |v: i32| u32::try_from(v).unwrap_or(0);
        let crop = crop
            .clip(side(data.width), side(data.height))
            .ok_or_else(|| CopyError::Copy("the crop is outside the buffer".into()))?;
        // Only the crop's rows, straight into an image of its size.
        let mut part = gfx_drivers::Image::new(crop.w, crop.h, format);
        let pitch = part.pitch;
        copy_areas(
            ptr,
            len,
            data,
            &mut part.data,
            pitch,
            &[crop],
            crop.origin_index(),
        )?;
        Ok(part)
    });
    match result {
        Ok(r) => r,
        Err(BufferAccessError::NotManaged) => Err(CopyError::NotShm),
        Err(_) => Err(CopyError::BadPool),
    }
}

/// Copies rows of `areas` from the pool at `ptr` (`len` bytes) laid out by `data` into `dst`
/// (rows of `pitch` bytes, the same format), whose corner is the buffer's pixel `origin`
/// (`(0, 0)`: `dst` is the whole buffer; a crop's corner: `dst` is the crop).
#[allow(unsafe_code)]
fn copy_areas(
    ptr: *const u8,
    len: usize,
    data: BufferData,
    dst: &mut [u8],
    pitch: usize,
    areas: &[Rect<BufferSpace>],
    (ox, oy): (usize, usize),
) -> Result<(), CopyError> {
    let format = format_of(data.format).ok_or(CopyError::Format(data.format))?;
    let bpp = format.bytes_per_pixel();
    let (offset, stride) = (data.offset as usize, data.stride as usize);
    let (width, height) = (data.width, data.height);
    // The whole buffer must lie inside the pool as it is mapped now.
    let last_row = offset + (height.max(1) as usize - 1) * stride + width as usize * bpp;
    if data.offset < 0 || data.stride < 0 || last_row > len {
        return Err(CopyError::BadPool);
    }
    let side = |v: i32| u32::try_from(v).unwrap_or(0);
    for a in areas
        .iter()
        .filter_map(|a| a.clip(side(width), side(height)))
    {
        let row = a.w as usize * bpp;
        let (x, y0) = a.origin_index();
        if x < ox || y0 < oy {
            return Err(CopyError::Copy("an area starts before the copy".into()));
        }
        for y in y0..y0 + a.h as usize {
            let src = offset + y * stride + x * bpp;
            let to = (y - oy) * pitch + (x - ox) * bpp;
            let Some(out) = dst.get_mut(to..to + row) else {
                return Err(CopyError::Copy(
                    "the copy is smaller than the buffer".into(),
                ));
            };
            // SAFETY: `src..src + row` lies inside the pool's `len` mapped bytes (checked
            // above: the row is inside the buffer, the buffer inside the pool); `out` is our
            // own memory and does not overlap it. The client may write the pool meanwhile
            // (we then copy a torn row, as any compositor would); a truncated pool faults
            // into smithay's SIGBUS handler, which makes `with_buffer_contents` fail.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr.add(src), out.as_mut_ptr(), row);
            }
        }
    }
    Ok(())
}

/// Writes `image` (XRGB8888, the buffer's size) into the client's wl_shm `buffer`, which
/// must be XRGB8888 (or ARGB8888, then opaque) of the same size (a screencopy).
pub fn write(buffer: &WlBuffer, image: &gfx_drivers::Image) -> Result<(), CopyError> {
    let result =
        with_buffer_contents_mut(buffer, |ptr, len, data| write_rows(ptr, len, data, image));
    match result {
        Ok(r) => r,
        Err(BufferAccessError::NotManaged) => Err(CopyError::NotShm),
        Err(_) => Err(CopyError::BadPool),
    }
}

/// Copies `image`'s rows into the pool at `ptr` (`len` bytes) laid out by `data`.
#[allow(unsafe_code)]
fn write_rows(
    ptr: *mut u8,
    len: usize,
    data: BufferData,
    image: &gfx_drivers::Image,
) -> Result<(), CopyError> {
    if !matches!(
        data.format,
        wl_shm::Format::Xrgb8888 | wl_shm::Format::Argb8888
    ) || image.format != Format::Xrgb8888
    {
        return Err(CopyError::Format(data.format));
    }
    let (w, h) = (image.width, image.height);
    if u32::try_from(data.width) != Ok(w) || u32::try_from(data.height) != Ok(h) {
        return Err(CopyError::Copy(format!(
            "the buffer is {}x{}, the picture {w}x{h}",
            data.width, data.height
        )));
    }
    let (Ok(offset), Ok(stride)) = (usize::try_from(data.offset), usize::try_from(data.stride))
    else {
        return Err(CopyError::BadPool);
    };
    let row = w as usize * 4;
    let last_row = offset + (h.max(1) as usize - 1) * stride + row;
    if stride < row || last_row > len {
        return Err(CopyError::BadPool);
    }
    for y in 0..h as usize {
        let src = &image.data[y * image.pitch..y * image.pitch + row];
        // SAFETY: `offset + y * stride .. + row` lies inside the pool's `len` mapped bytes
        // (checked above: every row of the buffer is inside the pool), and `src` is our own
        // memory, which cannot overlap the client's pool. A pool truncated meanwhile faults
        // into smithay's SIGBUS handler, which makes `with_buffer_contents_mut` fail.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), ptr.add(offset + y * stride), row);
        }
    }
    Ok(())
}

/// A wl_shm buffer the scene shows as it is: composition reads the client's pool straight
/// away, element by element, each inside smithay's SIGBUS guard
/// ([`crate::compose::LatePixels`]). A truncated pool reads as zeros for the rest of the
/// frame, the client gets `wl_shm.invalid_fd` and the element is left out.
#[derive(Debug)]
pub struct ShmPixels<'a>(pub &'a WlBuffer);

impl crate::compose::LatePixels for ShmPixels<'_> {
    #[allow(unsafe_code)]
    fn with_pixels(
        &self,
        draw: &mut dyn FnMut(crate::compose::PixelsRef<'_>),
    ) -> Result<(), String> {
        let read = with_buffer_contents(self.0, |ptr, len, data| {
            let format = format_of(data.format).ok_or(CopyError::Format(data.format))?;
            let (Ok(offset), Ok(stride), Ok(w), Ok(h)) = (
                usize::try_from(data.offset),
                usize::try_from(data.stride),
                u32::try_from(data.width),
                u32::try_from(data.height),
            ) else {
                return Err(CopyError::BadPool);
            };
            let row = w as usize * format.bytes_per_pixel();
            let need = (h.max(1) as usize - 1) * stride + row;
            if stride < row || offset.checked_add(need).is_none_or(|end| end > len) {
                return Err(CopyError::BadPool);
            }
            // SAFETY: `offset .. offset + need` lies inside the pool's `len` mapped bytes
            // (checked above), mapped for as long as this call lasts (smithay holds the
            // pool's map lock). The client may write it meanwhile: pixman then reads a torn
            // row, as any compositor reading a client's buffer would; a truncated pool
            // faults into smithay's SIGBUS handler, which maps zeros over it and makes
            // `with_buffer_contents` fail.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.add(offset), need) };
            let pixels = crate::compose::PixelsRef::new(bytes, w, h, stride, format)
                .map_err(|e| CopyError::Copy(e.to_string()))?;
            crate::compose::pixman_ready(&pixels).map_err(|e| CopyError::Copy(e.to_string()))?;
            draw(pixels);
            Ok(())
        });
        match read {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(BufferAccessError::NotManaged) => Err(CopyError::NotShm.to_string()),
            Err(_) => Err(CopyError::BadPool.to_string()),
        }
    }
}

/// Whether `buffer` is still a live object.
pub fn alive(buffer: &WlBuffer) -> bool {
    buffer.is_alive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_is_clipped_to_the_buffer() {
        let a: Rect<BufferSpace> = Rect::new(-5, 10, 20, 100);
        assert_eq!(a.clip(10, 50), Some(Rect::new(0, 10, 10, 40)));
        assert_eq!(Rect::<BufferSpace>::new(60, 0, 5, 5).clip(50, 50), None);
    }
}
