//! `FB_DAMAGE_CLIPS`: telling the driver which part of a plane's new buffer changed.
//!
//! Drivers that upload rather than scan memory out directly — virtio-gpu copies to the host,
//! SPI and USB panels (`mipi-dbi`, `gud`, `udl`) send pixels over a slow bus — use the clips
//! to move only what changed; drivers that scan out memory directly ignore them. The clips
//! the compositor gives ([`crate::backend::PlaneUpdate::damage`]) are *buffer* damage: what
//! changed in this buffer since it was last shown, which covers the frame damage as well, so
//! both kinds of driver get what they need even with double buffering.
//!
//! smithay builds the property blob and destroys it when the returned value is dropped
//! (keep it until the commit is done); it only sets the property where the plane has it.

use smithay::backend::drm::{DrmDeviceFd, PlaneDamageClips};
use smithay::reexports::drm::control::property;
use smithay::utils::Rectangle;

use crate::backend::{geometry, Rect};

/// The clips for `rects` (buffer coordinates) of a `width × height` buffer scanned out 1:1;
/// `None` for "everything" (no rectangles, or a rectangle covering the buffer) or where the
/// blob cannot be made (then the driver updates everything, which is always correct).
pub fn clips(
    fd: &DrmDeviceFd,
    width: u32,
    height: u32,
    rects: &[Rect<geometry::Buffer>],
) -> Option<PlaneDamageClips> {
    let rects = clipped(width, height, rects)?;
    // Clipped to the buffer, whose sides are at most `MAX_DIMENSION`: every number fits i32.
    let side = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let src = Rectangle::from_size((f64::from(width), f64::from(height)).into());
    let dst = Rectangle::from_size((side(width), side(height)).into());
    let damage = rects
        .iter()
        .map(|r| Rectangle::new((r.x, r.y).into(), (side(r.w), side(r.h)).into()));
    match PlaneDamageClips::from_damage(fd, src, dst, damage) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("no FB_DAMAGE_CLIPS blob: {e}");
            None
        }
    }
}

/// The blob's property value, for a plane state.
pub fn value(clips: &PlaneDamageClips) -> property::Value<'static> {
    match clips.blob() {
        property::Value::Blob(id) => property::Value::Blob(id),
        _ => property::Value::Blob(0),
    }
}

/// `rects` clipped to the buffer; `None` when that means the whole buffer (or nothing
/// sensible is left, so a full update is the safe answer).
pub fn clipped(
    width: u32,
    height: u32,
    rects: &[Rect<geometry::Buffer>],
) -> Option<Vec<Rect<geometry::Buffer>>> {
    if rects.is_empty() || width == 0 || height == 0 {
        return None;
    }
    let out: Vec<Rect<_>> = rects.iter().filter_map(|r| r.clip(width, height)).collect();
    let whole = out.iter().any(|r| *r == Rect::from_size(width, height));
    (!out.is_empty() && !whole).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_is_clipped_and_whole_buffer_damage_is_none() {
        assert_eq!(clipped(100, 50, &[]), None, "no rectangles: everything");
        assert_eq!(
            clipped(100, 50, &[Rect::new(90, 40, 20, 20)]),
            Some(vec![Rect::new(90, 40, 10, 10)])
        );
        assert_eq!(clipped(100, 50, &[Rect::new(-10, -10, 200, 200)]), None);
        assert_eq!(
            clipped(100, 50, &[Rect::new(200, 0, 5, 5)]),
            None,
            "nothing inside: update everything"
        );
    }
}
