//! Direct scan-out: showing a client's buffer on the glass without composing it.

use super::{Element, Format, PixelsMut, Rect, Transform};

/// What the display shows: the physical mode and format of the scan-out buffers, and the
/// output transform from logical (what the user sees) to physical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Physical width in pixels.
    pub width: u32,
    /// Physical height in pixels.
    pub height: u32,
    /// Scan-out format.
    pub format: Format,
    /// Logical → physical.
    pub transform: Transform,
}

impl Output {
    /// The output a target buffer stands for, with the given transform.
    pub fn of_target(target: &PixelsMut<'_>, transform: Transform) -> Self {
        Output {
            width: target.width(),
            height: target.height(),
            format: target.format(),
            transform,
        }
    }

    /// The logical size, `(width, height)`: the physical size with axes swapped for the 90°
    /// and 270° transforms.
    pub fn logical_size(&self) -> (u32, u32) {
        self.transform.transform_size(self.width, self.height)
    }

    /// The logical output rectangle.
    pub fn logical_rect(&self) -> Rect {
        let (w, h) = self.logical_size();
        Rect::from_size(w, h)
    }
}

/// The element that can be scanned out as the whole output without composing, if any.
///
/// It is the topmost element that shows on the output (elements above it are outside the
/// output, clipped away, or fully transparent), and it must
///
/// - cover the whole logical output exactly (`dst` equals the output, a clip if any contains
///   it), so nothing below shows and nothing is scaled;
/// - be opaque at full opacity (an `Argb8888` buffer flagged opaque counts);
/// - have a buffer of the physical output size, drawn with the output's transform
///   ([`Element::buffer_transform`] equal to [`Output::transform`]), so its pixels are the
///   scan-out pixels;
/// - have the output's format, or be an opaque `Argb8888` buffer on an `Xrgb8888` output (a
///   primary plane ignores alpha).
///
/// Whether the buffer can actually be put on a plane (a dma-buf or dumb buffer, not a memfd) is
/// the backend's question; this answers only "is composition needed".
pub fn scanout_candidate<'s, 'a>(
    elements: &'s [Element<'a>],
    output: &Output,
) -> Option<&'s Element<'a>> {
    let screen = output.logical_rect();
    let top = elements.iter().rev().find(|e| {
        e.opacity > 0.0
            && e.state()
                .bounds()
                .and_then(|b| b.intersect(&screen))
                .is_some()
    })?;
    let covers = top.dst == screen && top.clip.is_none_or(|c| c.contains_rect(&screen));
    let same_pixels = top.buffer_transform == output.transform
        && top.buffer.width() == output.width
        && top.buffer.height() == output.height;
    let format_ok = top.buffer.format() == output.format
        || (output.format == Format::Xrgb8888 && top.buffer.format() == Format::Argb8888);
    (covers && same_pixels && format_ok && top.is_opaque()).then_some(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::PixelBuffer;

    const OUT: Output = Output {
        width: 64,
        height: 32,
        format: Format::Xrgb8888,
        transform: Transform::Normal,
    };

    #[test]
    fn a_full_screen_opaque_element_is_scanned_out() {
        let full = PixelBuffer::new(64, 32, Format::Xrgb8888);
        let small = PixelBuffer::new(8, 8, Format::Argb8888);
        let e = Element::new(1, full.view(), Rect::from_size(64, 32));
        let below = Element::new(2, small.view(), Rect::new(0, 0, 8, 8));
        assert_eq!(scanout_candidate(&[below, e], &OUT).map(|e| e.id), Some(1));
        // Something visible above it: compose.
        assert!(scanout_candidate(&[e, below], &OUT).is_none());
        // Above it but off-screen, clipped away or invisible: still scanned out.
        let off = Element::new(3, small.view(), Rect::new(64, 0, 8, 8));
        let clipped = below.with_clip(Rect::new(100, 100, 1, 1));
        let invisible = below.with_opacity(0.0);
        assert!(scanout_candidate(&[e, off, clipped, invisible], &OUT).is_some());
        // Translucent, wrong place, clipped, empty: compose.
        assert!(scanout_candidate(&[e.with_opacity(0.9)], &OUT).is_none());
        let shifted = Element {
            dst: Rect::new(1, 0, 64, 32),
            ..e
        };
        assert!(scanout_candidate(&[shifted], &OUT).is_none());
        assert!(scanout_candidate(&[e.with_clip(Rect::new(0, 0, 10, 10))], &OUT).is_none());
        assert!(scanout_candidate(&[], &OUT).is_none());
    }

    #[test]
    fn format_size_and_transform_must_match() {
        let argb = PixelBuffer::new(64, 32, Format::Argb8888);
        let e = Element::new(1, argb.view(), Rect::from_size(64, 32));
        assert!(
            scanout_candidate(&[e], &OUT).is_none(),
            "ARGB not flagged opaque"
        );
        assert!(scanout_candidate(&[e.with_opaque(true)], &OUT).is_some());

        let rgb565 = PixelBuffer::new(64, 32, Format::Rgb565);
        let e = Element::new(1, rgb565.view(), Rect::from_size(64, 32));
        assert!(scanout_candidate(&[e], &OUT).is_none());
        let panel = Output {
            format: Format::Rgb565,
            ..OUT
        };
        assert!(scanout_candidate(&[e], &panel).is_some());

        // Scaled up from a smaller buffer: compose.
        let half = PixelBuffer::new(32, 16, Format::Xrgb8888);
        let e = Element::new(1, half.view(), Rect::from_size(64, 32));
        assert!(scanout_candidate(&[e], &OUT).is_none());

        // A 90° panel: 64×32 physical, 32×64 logical. A buffer drawn pre-rotated (64×32,
        // buffer transform 90) is scanned out; an upright 32×64 one must be composed.
        let rotated = Output {
            transform: Transform::Rotate90,
            ..OUT
        };
        let pre = PixelBuffer::new(64, 32, Format::Xrgb8888);
        let e = Element::new(1, pre.view(), Rect::from_size(32, 64))
            .with_buffer_transform(Transform::Rotate90);
        assert!(scanout_candidate(&[e], &rotated).is_some());
        let upright = PixelBuffer::new(32, 64, Format::Xrgb8888);
        let e = Element::new(1, upright.view(), Rect::from_size(32, 64));
        assert!(scanout_candidate(&[e], &rotated).is_none());
    }
}
