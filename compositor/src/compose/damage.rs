//! Damage: which pixels of the output changed since the last frame, and how to work it out
//! from two frames' element lists.

use std::collections::HashMap;

use super::geometry::{from_box, to_box};
use super::{Element, Format, Rect, Transform};

/// The default limit on rectangles in a [`Damage`] before it collapses to its bounding box.
pub const DEFAULT_MAX_RECTS: usize = 32;

/// A union of rectangles in logical output coordinates, clipped to the output.
///
/// The rectangles are kept disjoint (normalised by pixman's region code, so overlapping adds
/// are not painted twice). When the union needs more than [`Damage::max_rects`] rectangles it
/// is replaced by its bounding box: repainting a few more pixels is cheaper than walking a
/// long list, and a frame with that much damage is usually close to a full repaint anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    bounds: Rect,
    rects: Vec<Rect>,
    max_rects: usize,
}

impl Damage {
    /// No damage on an output of logical size `width × height`.
    pub fn empty(width: u32, height: u32) -> Self {
        Damage {
            bounds: Rect::from_size(width, height),
            rects: Vec::new(),
            max_rects: DEFAULT_MAX_RECTS,
        }
    }

    /// The whole output damaged (first frame, mode change, transform change, new buffer age).
    pub fn full(width: u32, height: u32) -> Self {
        let mut d = Damage::empty(width, height);
        d.add(d.bounds);
        d
    }

    /// Damage of `rects` (clipped to the output).
    pub fn from_rects(width: u32, height: u32, rects: impl IntoIterator<Item = Rect>) -> Self {
        let mut d = Damage::empty(width, height);
        d.extend(rects);
        d
    }

    /// The same damage with another limit on the number of rectangles (at least 1).
    pub fn with_max_rects(mut self, max_rects: usize) -> Self {
        self.max_rects = max_rects.max(1);
        self.simplify();
        self
    }

    /// The limit on the number of rectangles before collapsing to the bounding box.
    pub fn max_rects(&self) -> usize {
        self.max_rects
    }

    /// The output rectangle, `0,0 width×height`.
    pub fn bounds(&self) -> Rect {
        self.bounds
    }

    /// The disjoint rectangles of the damage.
    pub fn rects(&self) -> &[Rect] {
        &self.rects
    }

    /// Whether nothing is damaged (nothing to repaint).
    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
    }

    /// Number of damaged pixels.
    pub fn area(&self) -> u64 {
        self.rects.iter().map(Rect::area).sum()
    }

    /// The bounding box of the damage, if any.
    pub fn extents(&self) -> Option<Rect> {
        self.rects.iter().copied().reduce(|a, b| a.bounding(&b))
    }

    /// Whether any damaged pixel lies in `r`.
    pub fn intersects(&self, r: &Rect) -> bool {
        self.rects.iter().any(|d| d.intersect(r).is_some())
    }

    /// Forgets all damage.
    pub fn clear(&mut self) {
        self.rects.clear();
    }

    /// Adds a rectangle (clipped to the output; empty or outside rectangles change nothing).
    pub fn add(&mut self, r: Rect) {
        let Some(r) = r.intersect(&self.bounds) else {
            return;
        };
        if self.rects.iter().any(|d| d.contains_rect(&r)) {
            return;
        }
        if r == self.bounds {
            self.rects = vec![r];
            return;
        }
        let region = self.to_region().union_rect(r.x, r.y, r.w, r.h);
        self.rects = region.rectangles().iter().map(from_box).collect();
        self.simplify();
    }

    /// Adds every rectangle of `rects`.
    pub fn extend(&mut self, rects: impl IntoIterator<Item = Rect>) {
        for r in rects {
            self.add(r);
        }
    }

    /// Adds another damage (of any output size; it is clipped to this one).
    pub fn merge(&mut self, other: &Damage) {
        self.extend(other.rects.iter().copied());
    }

    fn simplify(&mut self) {
        if self.rects.len() > self.max_rects {
            self.rects = self.extents().into_iter().collect();
        }
    }

    pub(crate) fn to_region(&self) -> pixman::Region32 {
        let boxes: Vec<pixman::Box32> = self.rects.iter().map(|r| to_box(*r)).collect();
        pixman::Region32::init_rects(&boxes)
    }
}

/// What [`frame_damage`] remembers of an element between frames: everything that changes
/// where and how it is drawn, but not its pixels (those changes come as the client's damage).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElementState {
    /// The element's identity across frames.
    pub id: u64,
    /// Destination rectangle, logical output coordinates.
    pub dst: Rect,
    /// Clip rectangle, logical output coordinates.
    pub clip: Option<Rect>,
    /// Global opacity.
    pub opacity: f32,
    /// Whether the element declared itself opaque.
    pub opaque: bool,
    /// Source buffer size, in buffer pixels.
    pub buffer_size: (u32, u32),
    /// Source buffer format.
    pub format: Format,
    /// How the client pre-rotated its buffer.
    pub buffer_transform: Transform,
}

impl ElementState {
    /// The output area the element can touch: its destination within its clip.
    pub fn bounds(&self) -> Option<Rect> {
        match self.clip {
            Some(c) => self.dst.intersect(&c),
            None => (!self.dst.is_empty()).then_some(self.dst),
        }
    }
}

/// The output damage between the previous frame (`prev`, as remembered with
/// [`Element::state`]) and the next one (`next`), on an output of logical size
/// `width × height`. Both lists are ordered bottom to top, and ids are unique in each.
///
/// - an element that appeared or disappeared damages its area;
/// - an element that moved, was resized or re-clipped, changed opacity, opacity flag, format,
///   buffer size or buffer transform, or changed place in the stacking order relative to the
///   elements present in both frames, damages its old and its new area;
/// - otherwise the client's own damage ([`Element::damage`], buffer coordinates) is mapped to
///   the output through the element's placement and scale, widened by one pixel when the
///   element is scaled (bilinear filtering reaches the neighbours), and clipped.
///
/// An element hidden under an opaque one still damages its area: the damage is an upper
/// bound, and [`compose`](super::compose) skips occluded pixels anyway. Changes that affect the
/// whole output (mode, output transform, background colour) are the caller's to add, as
/// [`Damage::full`].
pub fn frame_damage(
    prev: &[ElementState],
    next: &[Element<'_>],
    width: u32,
    height: u32,
) -> Damage {
    let mut damage = Damage::empty(width, height);
    let prev_by_id: HashMap<u64, &ElementState> = prev.iter().map(|s| (s.id, s)).collect();
    let next_ids: HashMap<u64, ()> = next.iter().map(|e| (e.id, ())).collect();

    // Stacking rank among the elements present in both frames.
    let prev_rank: HashMap<u64, usize> = prev
        .iter()
        .filter(|s| next_ids.contains_key(&s.id))
        .enumerate()
        .map(|(i, s)| (s.id, i))
        .collect();
    let next_rank: HashMap<u64, usize> = next
        .iter()
        .filter(|e| prev_by_id.contains_key(&e.id))
        .enumerate()
        .map(|(i, e)| (e.id, i))
        .collect();

    for old in prev.iter().filter(|s| !next_ids.contains_key(&s.id)) {
        damage.extend(old.bounds());
    }
    for e in next {
        let new = e.state();
        match prev_by_id.get(&e.id) {
            None => damage.extend(new.bounds()),
            Some(old) if **old != new || prev_rank.get(&e.id) != next_rank.get(&e.id) => {
                damage.extend(old.bounds());
                damage.extend(new.bounds());
            }
            Some(_) => {
                for r in e.damage {
                    damage.extend(e.buffer_rect_to_output(*r));
                }
            }
        }
    }
    damage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{PixelBuffer, PixelsRef};

    fn element(id: u64, buf: PixelsRef<'_>, dst: Rect) -> Element<'_> {
        Element::new(id, buf, dst)
    }

    #[test]
    fn add_clips_normalises_and_simplifies() {
        let mut d = Damage::empty(100, 50);
        d.add(Rect::new(-10, -10, 20, 20));
        assert_eq!(d.rects(), &[Rect::new(0, 0, 10, 10)]);
        d.add(Rect::new(5, 5, 10, 10));
        assert_eq!(d.area(), 100 + 100 - 25);
        d.add(Rect::new(200, 0, 10, 10));
        d.add(Rect::new(0, 0, 0, 10));
        assert_eq!(d.area(), 175);
        assert_eq!(d.extents(), Some(Rect::new(0, 0, 15, 15)));

        let mut many = Damage::empty(100, 100).with_max_rects(4);
        for i in 0..10 {
            many.add(Rect::new(i * 10, i * 10, 2, 2));
        }
        // Collapsed to the bounding box when a fifth rectangle came, then grown again.
        assert!(many.rects().len() <= 4, "{:?}", many.rects());
        assert_eq!(many.extents(), Some(Rect::new(0, 0, 92, 92)));
        for i in 0..10 {
            let r = Rect::new(i * 10, i * 10, 2, 2);
            assert!(many.rects().iter().any(|d| d.contains_rect(&r)), "{r:?}");
        }
        assert_eq!(Damage::full(8, 8).rects(), &[Rect::new(0, 0, 8, 8)]);
    }

    #[test]
    fn moves_resizes_opacity_additions_and_removals() {
        let buf = PixelBuffer::new(10, 10, Format::Argb8888);
        let a = element(1, buf.view(), Rect::new(0, 0, 10, 10));
        let b = element(2, buf.view(), Rect::new(50, 0, 10, 10));
        let prev = [a.state(), b.state()];

        // Nothing changed: no damage.
        assert!(frame_damage(&prev, &[a, b], 100, 100).is_empty());

        // Moved: old and new place.
        let moved = Element {
            dst: Rect::new(20, 0, 10, 10),
            ..a
        };
        let d = frame_damage(&prev, &[moved, b], 100, 100);
        assert_eq!(d.area(), 200);
        assert!(d.intersects(&Rect::new(0, 0, 1, 1)) && d.intersects(&Rect::new(25, 5, 1, 1)));

        // Opacity changed: its area only.
        let faded = a.with_opacity(0.5);
        assert_eq!(
            frame_damage(&prev, &[faded, b], 100, 100).rects(),
            &[Rect::new(0, 0, 10, 10)]
        );

        // Removed and added.
        let c = element(3, buf.view(), Rect::new(0, 80, 10, 10));
        let d = frame_damage(&prev, &[b, c], 100, 100);
        assert_eq!(d.area(), 200);
        assert!(d.intersects(&Rect::new(0, 0, 10, 10)) && d.intersects(&Rect::new(0, 80, 10, 10)));

        // Restacked: both, since their overlap (none here) could change.
        let d = frame_damage(&prev, &[b, a], 100, 100);
        assert_eq!(d.area(), 200);
    }

    #[test]
    fn client_damage_maps_through_placement_scale_and_clip() {
        let buf = PixelBuffer::new(10, 10, Format::Argb8888);
        let rects = [Rect::new(2, 3, 1, 1)];
        let e = Element {
            damage: &rects,
            ..element(1, buf.view(), Rect::new(30, 40, 10, 10))
        };
        let d = frame_damage(&[e.state()], &[e], 100, 100);
        assert_eq!(d.rects(), &[Rect::new(32, 43, 1, 1)]);

        // Scaled 2×: 2×2 pixels, widened by one for the filter.
        let scaled = Element {
            dst: Rect::new(30, 40, 20, 20),
            ..e
        };
        let d = frame_damage(&[scaled.state()], &[scaled], 100, 100);
        assert_eq!(d.rects(), &[Rect::new(33, 45, 4, 4)]);

        // Clipped away.
        let clipped = e.with_clip(Rect::new(30, 40, 2, 2));
        assert!(frame_damage(&[clipped.state()], &[clipped], 100, 100).is_empty());

        // A buffer drawn pre-rotated by 90°: buffer pixel (2, 3) of a 10×10 buffer shows at
        // logical (3, 7) of the element.
        let rotated = e.with_buffer_transform(Transform::Rotate90);
        let d = frame_damage(&[rotated.state()], &[rotated], 100, 100);
        assert_eq!(d.rects(), &[Rect::new(33, 47, 1, 1)]);
    }
}
