//! Rectangles, output transforms and the affine maps between coordinate spaces.
//!
//! Three spaces meet in composition:
//!
//! - **logical** (output) coordinates: where elements are placed and damage is counted. For a
//!   rotated panel this is the upright picture the user sees;
//! - **physical** coordinates: pixels of the target buffer, as scanned out to the glass;
//! - **buffer** coordinates: pixels of an element's source buffer.
//!
//! [`Transform`] maps logical to physical for an output (and logical to buffer for a client
//! that pre-rotated its content). [`Affine`] is the small exact matrix type used to chain
//! these maps before handing the result to pixman.

/// A rectangle in integer pixel coordinates: `x..x+width` × `y..y+height`.
///
/// A rectangle whose width or height is zero or negative is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: i32, y: i32, width: i32, height: i32) -> Self {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// The rectangle `0..width` × `0..height`.
    pub const fn from_size(width: i32, height: i32) -> Self {
        Rect::new(0, 0, width, height)
    }

    /// The rectangle spanning `x1..x2` × `y1..y2`.
    pub const fn from_corners(x1: i32, y1: i32, x2: i32, y2: i32) -> Self {
        Rect::new(x1, y1, x2 - x1, y2 - y1)
    }

    /// One past the right edge.
    pub const fn right(&self) -> i32 {
        self.x + self.width
    }

    /// One past the bottom edge.
    pub const fn bottom(&self) -> i32 {
        self.y + self.height
    }

    /// Whether the rectangle holds no pixel.
    pub const fn is_empty(&self) -> bool {
        self.width <= 0 || self.height <= 0
    }

    /// Number of pixels covered (0 when empty).
    pub fn area(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.width as u64 * self.height as u64
        }
    }

    /// The common part of two rectangles, or `None` when they do not overlap.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let r = Rect::from_corners(
            self.x.max(other.x),
            self.y.max(other.y),
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        );
        (!r.is_empty()).then_some(r)
    }

    /// Whether `other` lies entirely inside this rectangle (an empty `other` always does).
    pub fn contains_rect(&self, other: &Rect) -> bool {
        other.is_empty()
            || (other.x >= self.x
                && other.y >= self.y
                && other.right() <= self.right()
                && other.bottom() <= self.bottom())
    }

    /// The smallest rectangle covering both (an empty side is ignored).
    pub fn bounding(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        Rect::from_corners(
            self.x.min(other.x),
            self.y.min(other.y),
            self.right().max(other.right()),
            self.bottom().max(other.bottom()),
        )
    }

    /// The rectangle moved by `(dx, dy)`.
    pub const fn translated(&self, dx: i32, dy: i32) -> Rect {
        Rect::new(self.x + dx, self.y + dy, self.width, self.height)
    }

    pub(crate) fn to_box(self) -> pixman::Box32 {
        pixman::Box32 {
            x1: self.x,
            y1: self.y,
            x2: self.right(),
            y2: self.bottom(),
        }
    }

    pub(crate) fn from_box(b: &pixman::Box32) -> Rect {
        Rect::from_corners(b.x1, b.y1, b.x2, b.y2)
    }
}

/// How a logical picture is laid into a physical buffer: a rotation clockwise by a multiple
/// of 90°, optionally preceded by a horizontal mirror.
///
/// For an output, the logical picture is what the user sees upright and the physical buffer is
/// what the panel scans out: `Rot90` writes the picture into the buffer turned 90° clockwise,
/// which looks upright on a panel mounted turned 90° counter-clockwise. In pixel terms, for a
/// logical picture of size `W×H` (physical size `H×W` for the 90° variants), the logical pixel
/// `(x, y)` lands at:
///
/// | transform    | physical pixel         |
/// |--------------|------------------------|
/// | `Normal`     | `(x, y)`               |
/// | `Rot90`      | `(H-1-y, x)`           |
/// | `Rot180`     | `(W-1-x, H-1-y)`       |
/// | `Rot270`     | `(y, W-1-x)`           |
/// | `Flipped`    | `(W-1-x, y)`           |
/// | `Flipped90`  | `(H-1-y, W-1-x)`       |
/// | `Flipped180` | `(x, H-1-y)`           |
/// | `Flipped270` | `(y, x)`               |
///
/// The same type describes a client buffer that was drawn pre-rotated
/// ([`Element::buffer_transform`](super::Element::buffer_transform)): a buffer whose transform
/// equals the output's can be scanned out as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transform {
    /// No change.
    #[default]
    Normal,
    /// Rotated 90° clockwise.
    Rot90,
    /// Rotated 180°.
    Rot180,
    /// Rotated 270° clockwise (90° counter-clockwise).
    Rot270,
    /// Mirrored left to right.
    Flipped,
    /// Mirrored, then rotated 90° clockwise.
    Flipped90,
    /// Mirrored, then rotated 180° (a top-to-bottom mirror).
    Flipped180,
    /// Mirrored, then rotated 270° clockwise (a transpose).
    Flipped270,
}

impl Transform {
    /// All eight transforms, in declaration order.
    pub const ALL: [Transform; 8] = [
        Transform::Normal,
        Transform::Rot90,
        Transform::Rot180,
        Transform::Rot270,
        Transform::Flipped,
        Transform::Flipped90,
        Transform::Flipped180,
        Transform::Flipped270,
    ];

    /// A short lower-case name (`"normal"`, `"90"`, `"flipped-270"`, …) for file names and
    /// configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Transform::Normal => "normal",
            Transform::Rot90 => "90",
            Transform::Rot180 => "180",
            Transform::Rot270 => "270",
            Transform::Flipped => "flipped",
            Transform::Flipped90 => "flipped-90",
            Transform::Flipped180 => "flipped-180",
            Transform::Flipped270 => "flipped-270",
        }
    }

    /// Whether width and height trade places.
    pub const fn swaps_axes(self) -> bool {
        matches!(
            self,
            Transform::Rot90 | Transform::Rot270 | Transform::Flipped90 | Transform::Flipped270
        )
    }

    /// The physical size of a logical `(width, height)`, or the logical size of a physical one.
    pub const fn transform_size(self, width: i32, height: i32) -> (i32, i32) {
        if self.swaps_axes() {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// The exact map from logical to physical continuous coordinates for a logical picture of
    /// `width × height`. Pixel `(x, y)` covers `[x, x+1) × [y, y+1)`.
    pub fn to_physical(self, width: i32, height: i32) -> Affine {
        let (w, h) = (width as f64, height as f64);
        // Mirror first (x → W - x), then rotate clockwise.
        let (flip, rot) = match self {
            Transform::Normal => (false, 0),
            Transform::Rot90 => (false, 1),
            Transform::Rot180 => (false, 2),
            Transform::Rot270 => (false, 3),
            Transform::Flipped => (true, 0),
            Transform::Flipped90 => (true, 1),
            Transform::Flipped180 => (true, 2),
            Transform::Flipped270 => (true, 3),
        };
        let mirror = if flip {
            Affine::new([-1.0, 0.0, w], [0.0, 1.0, 0.0])
        } else {
            Affine::IDENTITY
        };
        let rotate = match rot {
            0 => Affine::IDENTITY,
            1 => Affine::new([0.0, -1.0, h], [1.0, 0.0, 0.0]),
            2 => Affine::new([-1.0, 0.0, w], [0.0, -1.0, h]),
            _ => Affine::new([0.0, 1.0, 0.0], [-1.0, 0.0, w]),
        };
        rotate.then_after(&mirror)
    }

    /// Where the logical rectangle `r` of a `width × height` picture lands physically.
    pub fn rect_to_physical(self, r: Rect, width: i32, height: i32) -> Rect {
        self.to_physical(width, height).map_rect(r)
    }

    /// The logical rectangle of a `width × height` logical picture that lands on physical `r`.
    pub fn rect_to_logical(self, r: Rect, width: i32, height: i32) -> Rect {
        self.to_physical(width, height).inverse().map_rect(r)
    }

    /// The logical point under a physical point (a touch on the glass, say) for an output
    /// whose logical size is `width × height`. Continuous coordinates: the centre of physical
    /// pixel `(px, py)` is `(px + 0.5, py + 0.5)`.
    pub fn point_to_logical(self, x: f64, y: f64, width: i32, height: i32) -> (f64, f64) {
        self.to_physical(width, height).inverse().apply(x, y)
    }
}

/// A 2-D affine map `(x, y) → (a·x + b·y + c, d·x + e·y + f)`, stored as two rows.
///
/// Used to chain output transform, placement, scaling and buffer transform into the single
/// physical→buffer map pixman samples with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// `[a, b, c]`.
    pub row0: [f64; 3],
    /// `[d, e, f]`.
    pub row1: [f64; 3],
}

impl Affine {
    /// The map that changes nothing.
    pub const IDENTITY: Affine = Affine {
        row0: [1.0, 0.0, 0.0],
        row1: [0.0, 1.0, 0.0],
    };

    /// A map from its two rows.
    pub const fn new(row0: [f64; 3], row1: [f64; 3]) -> Self {
        Affine { row0, row1 }
    }

    /// A translation by `(dx, dy)`.
    pub const fn translation(dx: f64, dy: f64) -> Self {
        Affine::new([1.0, 0.0, dx], [0.0, 1.0, dy])
    }

    /// A scale by `(sx, sy)` about the origin.
    pub const fn scale(sx: f64, sy: f64) -> Self {
        Affine::new([sx, 0.0, 0.0], [0.0, sy, 0.0])
    }

    /// Applies the map to a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.row0[0] * x + self.row0[1] * y + self.row0[2],
            self.row1[0] * x + self.row1[1] * y + self.row1[2],
        )
    }

    /// `self ∘ first`: the map that applies `first`, then `self`.
    pub fn then_after(&self, first: &Affine) -> Affine {
        let [a, b, c] = self.row0;
        let [d, e, f] = self.row1;
        let [p, q, r] = first.row0;
        let [s, t, u] = first.row1;
        Affine::new(
            [a * p + b * s, a * q + b * t, a * r + b * u + c],
            [d * p + e * s, d * q + e * t, d * r + e * u + f],
        )
    }

    /// The inverse map. Panics on a singular map, which the compositor never builds (element
    /// sizes are checked to be non-zero before scaling).
    pub fn inverse(&self) -> Affine {
        let [a, b, c] = self.row0;
        let [d, e, f] = self.row1;
        let det = a * e - b * d;
        assert!(det != 0.0, "singular affine map");
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Affine::new([ia, ib, -(ia * c + ib * f)], [id, ie, -(id * c + ie * f)])
    }

    /// The axis-aligned bounds of the image of `r`, rounded outwards to whole pixels.
    pub fn map_rect(&self, r: Rect) -> Rect {
        if r.is_empty() {
            return Rect::default();
        }
        let corners = [
            self.apply(r.x as f64, r.y as f64),
            self.apply(r.right() as f64, r.y as f64),
            self.apply(r.x as f64, r.bottom() as f64),
            self.apply(r.right() as f64, r.bottom() as f64),
        ];
        let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
            corners.iter().map(pick).fold(init, f)
        };
        // A tiny tolerance so that 3.0000000001 does not widen to 4 after scaling.
        const EPS: f64 = 1e-6;
        let x1 = (fold(f64::min, f64::INFINITY, |p| p.0) + EPS).floor() as i32;
        let y1 = (fold(f64::min, f64::INFINITY, |p| p.1) + EPS).floor() as i32;
        let x2 = (fold(f64::max, f64::NEG_INFINITY, |p| p.0) - EPS).ceil() as i32;
        let y2 = (fold(f64::max, f64::NEG_INFINITY, |p| p.1) - EPS).ceil() as i32;
        Rect::from_corners(x1, y1, x2, y2)
    }

    /// Whether the linear part is the identity and the translation is whole pixels; then
    /// pixman can copy without a transform (its fastest paths).
    pub fn integer_translation(&self) -> Option<(i32, i32)> {
        let linear_identity = self.row0[0] == 1.0
            && self.row0[1] == 0.0
            && self.row1[0] == 0.0
            && self.row1[1] == 1.0;
        let (tx, ty) = (self.row0[2], self.row1[2]);
        (linear_identity && tx.fract() == 0.0 && ty.fract() == 0.0)
            .then_some((tx as i32, ty as i32))
    }

    /// The map as a pixman 16.16 fixed-point matrix (rounded to nearest).
    pub(crate) fn to_pixman(self) -> pixman::Transform {
        let fx = |v: f64| pixman::Fixed::from_raw((v * 65536.0).round() as i32);
        let m = [
            [fx(self.row0[0]), fx(self.row0[1]), fx(self.row0[2])],
            [fx(self.row1[0]), fx(self.row1[1]), fx(self.row1[2])],
            [pixman::Fixed::ZERO, pixman::Fixed::ZERO, pixman::Fixed::ONE],
        ];
        pixman::Transform::new(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel table in the docs of [`Transform`], checked against the affine maps.
    #[test]
    fn pixel_table_matches_the_maps() {
        let (w, h) = (5, 3);
        for t in Transform::ALL {
            for y in 0..h {
                for x in 0..w {
                    let expected = match t {
                        Transform::Normal => (x, y),
                        Transform::Rot90 => (h - 1 - y, x),
                        Transform::Rot180 => (w - 1 - x, h - 1 - y),
                        Transform::Rot270 => (y, w - 1 - x),
                        Transform::Flipped => (w - 1 - x, y),
                        Transform::Flipped90 => (h - 1 - y, w - 1 - x),
                        Transform::Flipped180 => (x, h - 1 - y),
                        Transform::Flipped270 => (y, x),
                    };
                    let r = t.rect_to_physical(Rect::new(x, y, 1, 1), w, h);
                    assert_eq!(
                        (r.x, r.y, r.width, r.height),
                        (expected.0, expected.1, 1, 1)
                    );
                    let back = t.rect_to_logical(r, w, h);
                    assert_eq!(back, Rect::new(x, y, 1, 1), "{t:?}");
                }
            }
            let (pw, ph) = t.transform_size(w, h);
            assert_eq!(
                t.rect_to_physical(Rect::from_size(w, h), w, h),
                Rect::from_size(pw, ph)
            );
        }
    }

    #[test]
    fn touch_points_map_back_to_logical() {
        // A 100×60 logical output on a panel turned 90°: the physical top-right corner is the
        // logical top-left.
        let (lx, ly) = Transform::Rot90.point_to_logical(59.5, 0.5, 100, 60);
        assert_eq!((lx, ly), (0.5, 0.5));
    }

    #[test]
    fn rect_operations() {
        let a = Rect::new(0, 0, 10, 10);
        let b = Rect::new(5, 5, 10, 10);
        assert_eq!(a.intersect(&b), Some(Rect::new(5, 5, 5, 5)));
        assert_eq!(a.intersect(&Rect::new(10, 0, 5, 5)), None);
        assert_eq!(a.bounding(&b), Rect::new(0, 0, 15, 15));
        assert!(a.contains_rect(&Rect::new(2, 2, 3, 3)));
        assert!(!a.contains_rect(&b));
        assert_eq!(Rect::new(0, 0, -1, 5).area(), 0);
    }

    #[test]
    fn affine_inverse_and_integer_translation() {
        let m = Affine::translation(3.0, -2.0).then_after(&Affine::scale(2.0, 0.5));
        let i = m.inverse();
        let (x, y) = i.apply(m.apply(7.0, 9.0).0, m.apply(7.0, 9.0).1);
        assert!((x - 7.0).abs() < 1e-12 && (y - 9.0).abs() < 1e-12);
        assert_eq!(
            Affine::translation(3.0, -2.0).integer_translation(),
            Some((3, -2))
        );
        assert_eq!(Affine::translation(0.5, 0.0).integer_translation(), None);
        assert_eq!(Affine::scale(2.0, 1.0).integer_translation(), None);
    }
}
