//! Scaling one picture into another: what `wp_viewporter` asks of a Wayland surface (a crop
//! of its buffer shown at another size), done once when the buffer is taken into the master,
//! so that composition, hit-testing and damage see a surface of its on-screen size.

use pixman::{Filter, Operation, Repeat};

use super::buffer::{PixelsMut, PixelsRef};
use super::geometry::to_pixman;
use super::{image_error, pixman_glue, Affine, ComposeError};

/// Draws the `crop` rectangle of `src` (`x, y, w, h` in its pixels, fractions allowed) over
/// the whole of `target`, stretched or shrunk to fit, filtered bilinearly. The pixels are
/// replaced, not blended.
pub fn scale_into(
    src: &PixelsRef<'_>,
    crop: (f64, f64, f64, f64),
    target: &mut PixelsMut<'_>,
) -> Result<(), ComposeError> {
    let (cx, cy, cw, ch) = crop;
    let (tw, th) = (target.width(), target.height());
    if tw == 0 || th == 0 || cw <= 0.0 || ch <= 0.0 {
        return Ok(());
    }
    let mut image = pixman_glue::source_image(src).map_err(image_error("source image"))?;
    // Target pixel → source pixel.
    let map = Affine::translation(cx, cy)
        .then_after(&Affine::scale(cw / f64::from(tw), ch / f64::from(th)));
    image
        .set_transform(to_pixman(&map))
        .map_err(|_| ComposeError::Pixman("set transform"))?;
    image
        .set_filter(Filter::Bilinear, &[])
        .map_err(|_| ComposeError::Pixman("set filter"))?;
    image.set_repeat(Repeat::Pad);
    let size = (
        i32::try_from(tw).unwrap_or(i32::MAX),
        i32::try_from(th).unwrap_or(i32::MAX),
    );
    let mut dst = pixman_glue::target_image(target).map_err(image_error("target image"))?;
    dst.composite32(Operation::Src, &image, None, (0, 0), (0, 0), (0, 0), size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{Format, PixelBuffer};

    #[test]
    fn a_crop_is_stretched_over_the_target() {
        // Left half red, right half blue; the right half alone, doubled, is blue (away from
        // its left edge, where the bilinear filter reaches into the red beside the crop).
        let mut src = PixelBuffer::filled(8, 4, Format::Xrgb8888, 0xff_ff0000);
        for y in 0..4 {
            for x in 4..8 {
                src.set_pixel(x, y, 0xff_0000ff);
            }
        }
        let mut out = PixelBuffer::new(8, 8, Format::Xrgb8888);
        scale_into(&src.view(), (4.0, 0.0, 4.0, 4.0), &mut out.view_mut()).unwrap();
        for (x, y) in [(2, 0), (7, 7), (3, 4)] {
            assert_eq!(out.pixel(x, y) & 0xff_ffff, 0x00_00ff, "({x}, {y})");
        }
        // The whole picture, halved: red on the left, blue on the right.
        let mut small = PixelBuffer::new(4, 2, Format::Xrgb8888);
        scale_into(&src.view(), (0.0, 0.0, 8.0, 4.0), &mut small.view_mut()).unwrap();
        assert_eq!(small.pixel(0, 0) & 0xff_ffff, 0xff_0000);
        assert_eq!(small.pixel(3, 1) & 0xff_ffff, 0x00_00ff);
    }
}
