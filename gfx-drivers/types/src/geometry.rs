//! Rectangles, sizes, output transforms and the affine maps between coordinate spaces — one
//! of each for the whole house.
//!
//! ## Coordinate spaces
//!
//! A number of pixels means nothing until one knows which pixels. Three spaces meet in
//! fusionfb, and the type says which one a value lives in (smithay's `Rectangle<N, Kind>` is
//! the model; here the numbers are always integers: `i32` positions, `u32` sizes):
//!
//! - [`Logical`]: the upright picture the user sees on an output — where windows are placed,
//!   where damage is counted, where touch is delivered. For a panel mounted as is, it is also
//!   the physical space; for a rotated panel, its width may be the panel's height.
//! - [`Physical`]: pixels of the glass — of the buffer the display scans out, in the order the
//!   panel reads them. A touch controller reports physical positions.
//! - [`Buffer`]: pixels of a source buffer (a client's surface, an image): damage a client
//!   reports on its surface, regions of a buffer copied to another.
//!
//! The [`Transform`] of an output maps logical to physical; a client buffer drawn pre-rotated
//! carries a transform too (logical to buffer). Where two spaces coincide — an output mounted
//! as is, a surface shown 1:1 — [`Rect::to_space`] says so explicitly.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

/// The logical space: the upright picture of an output (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Logical;

/// The physical space: pixels of the glass, as the panel scans them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Physical;

/// The buffer space: pixels of a source buffer (a client's surface, an image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Buffer;

/// A size in pixels of space `Kind`: `w` columns, `h` rows.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Size<Kind = Logical> {
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
    #[cfg_attr(feature = "serde", serde(skip))]
    kind: PhantomData<Kind>,
}

impl<K> Size<K> {
    /// A size.
    pub const fn new(w: u32, h: u32) -> Self {
        Size {
            w,
            h,
            kind: PhantomData,
        }
    }

    /// Whether it holds no pixel.
    pub const fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// Width and height as a pair.
    pub const fn pair(&self) -> (u32, u32) {
        (self.w, self.h)
    }

    /// The same numbers read in space `K2`, where the two coincide.
    pub const fn to_space<K2>(self) -> Size<K2> {
        Size::new(self.w, self.h)
    }
}

impl<K> From<(u32, u32)> for Size<K> {
    fn from((w, h): (u32, u32)) -> Self {
        Size::new(w, h)
    }
}

impl<K> Clone for Size<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Size<K> {}
impl<K> PartialEq for Size<K> {
    fn eq(&self, o: &Self) -> bool {
        self.pair() == o.pair()
    }
}
impl<K> Eq for Size<K> {}
impl<K> Hash for Size<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pair().hash(state);
    }
}
impl<K> Default for Size<K> {
    fn default() -> Self {
        Size::new(0, 0)
    }
}
impl<K> fmt::Debug for Size<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Size({}x{})", self.w, self.h)
    }
}

/// A rectangle of space `Kind` in integer pixels: columns `x..x+w`, rows `y..y+h`.
///
/// A rectangle whose width or height is 0 is empty. Edges are `i32` (a window may hang off
/// the top-left of the output), sizes `u32`, as everywhere in the house; the edges past the
/// rectangle ([`right`](Rect::right), [`bottom`](Rect::bottom)) saturate at `i32::MAX`.
///
/// On the wire (serde, for the protocol) it is `x, y, w, h`; the space is not encoded.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rect<Kind = Logical> {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
    #[cfg_attr(feature = "serde", serde(skip))]
    kind: PhantomData<Kind>,
}

impl<K> Rect<K> {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: i32, y: i32, w: u32, h: u32) -> Self {
        Rect {
            x,
            y,
            w,
            h,
            kind: PhantomData,
        }
    }

    /// The rectangle `0..w` × `0..h`.
    pub const fn from_size(w: u32, h: u32) -> Self {
        Rect::new(0, 0, w, h)
    }

    /// The rectangle at the origin covering `size`.
    pub const fn of(size: Size<K>) -> Self {
        Rect::new(0, 0, size.w, size.h)
    }

    /// The rectangle spanning `x1..x2` × `y1..y2` (empty, at `(x1, y1)`, where `x2 <= x1` or
    /// `y2 <= y1`).
    pub fn from_corners(x1: i32, y1: i32, x2: i32, y2: i32) -> Self {
        let span = |a: i32, b: i32| u32::try_from(i64::from(b) - i64::from(a)).unwrap_or(0);
        Rect::new(x1, y1, span(x1, x2), span(y1, y2))
    }

    /// One past the right edge (saturating).
    pub const fn right(&self) -> i32 {
        self.x.saturating_add_unsigned(self.w)
    }

    /// One past the bottom edge (saturating).
    pub const fn bottom(&self) -> i32 {
        self.y.saturating_add_unsigned(self.h)
    }

    /// Its size.
    pub const fn size(&self) -> Size<K> {
        Size::new(self.w, self.h)
    }

    /// Whether the rectangle holds no pixel.
    pub const fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// Number of pixels covered.
    pub const fn area(&self) -> u64 {
        self.w as u64 * self.h as u64
    }

    /// Whether pixel `(px, py)` lies inside.
    pub fn contains(&self, px: i32, py: i32) -> bool {
        px >= self.x
            && py >= self.y
            && i64::from(px) < i64::from(self.x) + i64::from(self.w)
            && i64::from(py) < i64::from(self.y) + i64::from(self.h)
    }

    /// Whether `other` lies entirely inside this rectangle (an empty `other` always does).
    pub fn contains_rect(&self, other: &Self) -> bool {
        other.is_empty()
            || (other.x >= self.x
                && other.y >= self.y
                && other.right() <= self.right()
                && other.bottom() <= self.bottom())
    }

    /// The common part of two rectangles, or `None` when they do not overlap.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let r = Rect::from_corners(
            self.x.max(other.x),
            self.y.max(other.y),
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        );
        (!r.is_empty()).then_some(r)
    }

    /// The part inside `0..w` × `0..h` (a buffer or an output of that size), or `None` when
    /// nothing is.
    pub fn clip(&self, w: u32, h: u32) -> Option<Self> {
        self.intersect(&Rect::from_size(w, h))
    }

    /// The pixel at the centre (rounded towards the top-left).
    pub fn centre(&self) -> (i32, i32) {
        let mid = |edge: i32, side: u32| saturate(i64::from(edge) + i64::from(side / 2));
        (mid(self.x, self.w), mid(self.y, self.h))
    }

    /// A `w × h` rectangle centred in this one: a label on a button, a box on a screen. The
    /// offset is half the difference rounded towards zero, so an odd spare pixel goes after
    /// a smaller rectangle and before a larger one.
    pub fn centred(&self, w: u32, h: u32) -> Self {
        let start = |edge: i32, outer: u32, inner: u32| {
            saturate(i64::from(edge) + (i64::from(outer) - i64::from(inner)) / 2)
        };
        Rect::new(start(self.x, self.w, w), start(self.y, self.h, h), w, h)
    }

    /// The top-left corner as column and row indices into a buffer, for a rectangle
    /// [clipped](Rect::clip) to it (a negative edge reads as 0).
    pub fn origin_index(&self) -> (usize, usize) {
        let index = |v: i32| usize::try_from(v).unwrap_or(0);
        (index(self.x), index(self.y))
    }

    /// The top-left corner as unsigned pixel coordinates, for a rectangle [clipped](Rect::clip)
    /// to a buffer (a negative edge reads as 0).
    pub fn origin_unsigned(&self) -> (u32, u32) {
        let unsigned = |v: i32| u32::try_from(v).unwrap_or(0);
        (unsigned(self.x), unsigned(self.y))
    }

    /// The smallest rectangle covering both (an empty side is ignored).
    pub fn bounding(&self, other: &Self) -> Self {
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
    pub const fn translated(&self, dx: i32, dy: i32) -> Self {
        Rect::new(self.x + dx, self.y + dy, self.w, self.h)
    }

    /// The same numbers read in space `K2`, where the two coincide (an output mounted as is,
    /// a buffer shown 1:1 at the origin).
    pub const fn to_space<K2>(self) -> Rect<K2> {
        Rect::new(self.x, self.y, self.w, self.h)
    }
}

/// `v` clamped into `i32`.
fn saturate(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

impl<K> Clone for Rect<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Rect<K> {}
impl<K> PartialEq for Rect<K> {
    fn eq(&self, o: &Self) -> bool {
        (self.x, self.y, self.w, self.h) == (o.x, o.y, o.w, o.h)
    }
}
impl<K> Eq for Rect<K> {}
impl<K> Hash for Rect<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.x, self.y, self.w, self.h).hash(state);
    }
}
impl<K> Default for Rect<K> {
    fn default() -> Self {
        Rect::new(0, 0, 0, 0)
    }
}
impl<K> fmt::Debug for Rect<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rect")
            .field("x", &self.x)
            .field("y", &self.y)
            .field("w", &self.w)
            .field("h", &self.h)
            .finish()
    }
}

/// How an output's logical picture is laid into its physical buffer: the eight
/// `wl_output.transform`s, with their numbering and meaning (as in Weston, wlroots and
/// smithay).
///
/// **The convention.** Going from logical to physical, the picture is first mirrored left to
/// right (the `Flipped*` forms), then rotated **clockwise** by the angle. `Rotate90` writes the
/// upright picture into the scan-out buffer turned 90° clockwise, which looks upright on a
/// panel mounted turned 90° **counter-clockwise** — `wl_output`'s "90° counter-clockwise"
/// describes the panel, this type's maps describe the pixels. Touch goes the other way: a
/// point on the glass is turned back counter-clockwise, then un-mirrored.
///
/// In pixel terms, for a logical picture of `W×H` (physical size `H×W` for the 90° forms),
/// the logical pixel `(x, y)` lands at:
///
/// | transform    | physical pixel         | config string   |
/// |--------------|------------------------|-----------------|
/// | `Normal`     | `(x, y)`               | `"normal"`, `0` |
/// | `Rotate90`   | `(H-1-y, x)`           | `"90"`, `90`    |
/// | `Rotate180`  | `(W-1-x, H-1-y)`       | `"180"`, `180`  |
/// | `Rotate270`  | `(y, W-1-x)`           | `"270"`, `270`  |
/// | `Flipped`    | `(W-1-x, y)`           | `"flipped"`     |
/// | `Flipped90`  | `(H-1-y, W-1-x)`       | `"flipped-90"`  |
/// | `Flipped180` | `(x, H-1-y)`           | `"flipped-180"` |
/// | `Flipped270` | `(y, x)`               | `"flipped-270"` |
///
/// The same type describes a client buffer drawn pre-rotated (logical to buffer): a buffer
/// whose transform equals the output's can be scanned out as is.
///
/// With the `serde` feature it reads and writes the config strings above (and the integers
/// `0`, `90`, `180`, `270`) in human-readable formats, and its index (the order above, which
/// is `wl_output`'s numbering) as a `u8` in binary ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transform {
    /// As is.
    #[default]
    Normal,
    /// Rotated 90° clockwise (for a panel mounted 90° counter-clockwise).
    Rotate90,
    /// Rotated 180° (upside down).
    Rotate180,
    /// Rotated 270° clockwise (90° counter-clockwise).
    Rotate270,
    /// Mirrored left to right.
    Flipped,
    /// Mirrored, then rotated 90° clockwise.
    Flipped90,
    /// Mirrored, then rotated 180° (a top-to-bottom mirror).
    Flipped180,
    /// Mirrored, then rotated 270° clockwise (a transpose).
    Flipped270,
}

/// A string that names no [`Transform`] (from [`Transform::from_str`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError(String);

impl TransformError {
    fn new(shown: &dyn fmt::Display) -> Self {
        TransformError(format!(
            "{shown} is not a transform: use \"normal\", \"90\", \"180\", \"270\", \"flipped\", \
             \"flipped-90\", \"flipped-180\" or \"flipped-270\""
        ))
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransformError {}

impl Transform {
    /// All eight transforms, in `wl_output` order.
    pub const ALL: [Transform; 8] = [
        Transform::Normal,
        Transform::Rotate90,
        Transform::Rotate180,
        Transform::Rotate270,
        Transform::Flipped,
        Transform::Flipped90,
        Transform::Flipped180,
        Transform::Flipped270,
    ];

    /// The transform that mirrors (when `flipped`) and then turns clockwise by
    /// `quarter_turns` quarters (taken modulo 4).
    pub const fn from_parts(quarter_turns: u8, flipped: bool) -> Self {
        Transform::ALL[(quarter_turns % 4) as usize + if flipped { 4 } else { 0 }]
    }

    /// The transform of a rotation of `degrees` (0, 90, 180, 270), unmirrored.
    pub const fn from_degrees(degrees: i64) -> Option<Self> {
        match degrees {
            0 => Some(Transform::Normal),
            90 => Some(Transform::Rotate90),
            180 => Some(Transform::Rotate180),
            270 => Some(Transform::Rotate270),
            _ => None,
        }
    }

    /// Its index in [`Transform::ALL`] (`wl_output`'s number).
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// Clockwise quarter turns after the mirror, 0–3.
    pub const fn quarter_turns(self) -> u8 {
        self.index() % 4
    }

    /// The rotation in degrees (0, 90, 180 or 270), after any mirroring.
    pub const fn degrees(self) -> u32 {
        self.quarter_turns() as u32 * 90
    }

    /// Whether the picture is mirrored.
    pub const fn is_flipped(self) -> bool {
        self.index() >= 4
    }

    /// Whether width and height trade places (the 90° and 270° forms).
    pub const fn swaps_axes(self) -> bool {
        self.quarter_turns() % 2 == 1
    }

    /// The short lower-case name the config uses (`"normal"`, `"90"`, `"flipped-270"`, …),
    /// also good for file names.
    pub const fn name(self) -> &'static str {
        match self {
            Transform::Normal => "normal",
            Transform::Rotate90 => "90",
            Transform::Rotate180 => "180",
            Transform::Rotate270 => "270",
            Transform::Flipped => "flipped",
            Transform::Flipped90 => "flipped-90",
            Transform::Flipped180 => "flipped-180",
            Transform::Flipped270 => "flipped-270",
        }
    }

    /// The linear part of the logical → physical map, as an integer matrix `[[a, b], [c, d]]`
    /// for `(x, y) → (a·x + b·y, c·x + d·y)` (y pointing down).
    const fn linear(self) -> [[i8; 2]; 2] {
        let r = match self.quarter_turns() {
            0 => [[1, 0], [0, 1]],
            1 => [[0, -1], [1, 0]],
            2 => [[-1, 0], [0, -1]],
            _ => [[0, 1], [-1, 0]],
        };
        if self.is_flipped() {
            // R · M, M = [[-1, 0], [0, 1]]: the first column changes sign.
            [[-r[0][0], r[0][1]], [-r[1][0], r[1][1]]]
        } else {
            r
        }
    }

    fn from_linear(m: [[i8; 2]; 2]) -> Self {
        Transform::ALL
            .into_iter()
            .find(|t| t.linear() == m)
            .unwrap_or(Transform::Normal)
    }

    /// `self` first, then `next`: the transform whose map is `next`'s after `self`'s.
    pub fn then(self, next: Transform) -> Transform {
        let (a, b) = (next.linear(), self.linear());
        let mut m = [[0i8; 2]; 2];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = a[i][0] * b[0][j] + a[i][1] * b[1][j];
            }
        }
        Transform::from_linear(m)
    }

    /// The transform that undoes this one (physical → logical read as a transform):
    /// `t.then(t.invert()) == Transform::Normal`.
    pub fn invert(self) -> Transform {
        // The linear parts are orthogonal: the inverse is the transpose.
        let m = self.linear();
        Transform::from_linear([[m[0][0], m[1][0]], [m[0][1], m[1][1]]])
    }

    /// The size of a `(w, h)` picture after the transform (the same both ways).
    pub const fn transform_size(self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps_axes() {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// The physical size of an output whose logical size is `size`.
    pub const fn physical_size(self, size: Size<Logical>) -> Size<Physical> {
        let (w, h) = self.transform_size(size.w, size.h);
        Size::new(w, h)
    }

    /// The logical size of an output whose physical size is `size`.
    pub const fn logical_size(self, size: Size<Physical>) -> Size<Logical> {
        let (w, h) = self.transform_size(size.w, size.h);
        Size::new(w, h)
    }

    /// The exact map from logical to physical continuous coordinates for a logical picture of
    /// `w × h` (any unit: pixels, or 1 × 1 for normalized coordinates). Pixel `(x, y)` covers
    /// `[x, x+1) × [y, y+1)`.
    pub fn affine(self, w: f64, h: f64) -> Affine {
        // Mirror first (x → W - x), then rotate clockwise.
        let mirror = if self.is_flipped() {
            Affine::new([-1.0, 0.0, w], [0.0, 1.0, 0.0])
        } else {
            Affine::IDENTITY
        };
        let rotate = match self.quarter_turns() {
            0 => Affine::IDENTITY,
            1 => Affine::new([0.0, -1.0, h], [1.0, 0.0, 0.0]),
            2 => Affine::new([-1.0, 0.0, w], [0.0, -1.0, h]),
            _ => Affine::new([0.0, 1.0, 0.0], [-1.0, 0.0, w]),
        };
        rotate.then_after(&mirror)
    }

    /// [`Transform::affine`] for an output of logical `size` in pixels.
    pub fn to_physical(self, size: Size<Logical>) -> Affine {
        self.affine(f64::from(size.w), f64::from(size.h))
    }

    /// Where the logical rectangle `r` of an output of logical `size` lands physically.
    pub fn rect_to_physical(self, r: Rect<Logical>, size: Size<Logical>) -> Rect<Physical> {
        self.to_physical(size).map_rect(r)
    }

    /// The logical rectangle of an output of logical `size` that lands on physical `r`.
    pub fn rect_to_logical(self, r: Rect<Physical>, size: Size<Logical>) -> Rect<Logical> {
        self.to_physical(size).inverse().map_rect(r)
    }

    /// The logical point under a physical point (a touch on the glass, say) for an output
    /// whose logical size is `size`. Continuous coordinates: the centre of physical pixel
    /// `(px, py)` is `(px + 0.5, py + 0.5)`.
    pub fn point_to_logical(self, x: f64, y: f64, size: Size<Logical>) -> (f64, f64) {
        self.to_physical(size).inverse().apply(x, y)
    }

    /// The physical point over a logical one (the inverse of [`Transform::point_to_logical`]).
    pub fn point_to_physical(self, x: f64, y: f64, size: Size<Logical>) -> (f64, f64) {
        self.to_physical(size).apply(x, y)
    }

    /// The logical position, normalized to the logical output (`0..1` both ways), of a
    /// position normalized to the glass — how a touchscreen's reading becomes an upright one.
    pub fn normalized_to_logical(self, u: f64, v: f64) -> (f64, f64) {
        self.affine(1.0, 1.0).inverse().apply(u, v)
    }

    /// The normalized physical position of a normalized logical one (the inverse of
    /// [`Transform::normalized_to_logical`]).
    pub fn normalized_to_physical(self, x: f64, y: f64) -> (f64, f64) {
        self.affine(1.0, 1.0).apply(x, y)
    }
}

impl FromStr for Transform {
    type Err = TransformError;

    /// Parses the config names (see the table on [`Transform`]).
    fn from_str(s: &str) -> Result<Self, TransformError> {
        Transform::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| TransformError::new(&format_args!("{s:?}")))
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Transform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.name())
        } else {
            s.serialize_u8(self.index())
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Transform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Visitor};
        struct V;
        impl Visitor<'_> for V {
            type Value = Transform;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a transform such as \"normal\" or \"180\"")
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<Transform, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Transform, E> {
                Transform::from_degrees(v).ok_or_else(|| E::custom(TransformError::new(&v)))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Transform, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(Transform::from_degrees)
                    .ok_or_else(|| E::custom(TransformError::new(&v)))
            }
        }
        struct Index;
        impl Visitor<'_> for Index {
            type Value = Transform;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a transform index 0..8")
            }
            fn visit_u8<E: Error>(self, v: u8) -> Result<Transform, E> {
                Transform::ALL
                    .get(usize::from(v))
                    .copied()
                    .ok_or_else(|| E::custom(format_args!("{v} is not a transform index")))
            }
        }
        if d.is_human_readable() {
            d.deserialize_any(V)
        } else {
            d.deserialize_u8(Index)
        }
    }
}

/// A 2-D affine map `(x, y) → (a·x + b·y + c, d·x + e·y + f)` on continuous coordinates,
/// stored as two rows.
///
/// Used to chain output transform, placement, scaling and buffer transform into the single
/// physical → buffer map the compositor samples with, and to map touch from the glass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// `[a, b, c]`.
    pub row0: [f64; 3],
    /// `[d, e, f]`.
    pub row1: [f64; 3],
}

impl Default for Affine {
    /// The identity.
    fn default() -> Self {
        Affine::IDENTITY
    }
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

    /// The axis-aligned bounds of the image of `r`, rounded outwards to whole pixels, in the
    /// space the map leads to.
    pub fn map_rect<A, B>(&self, r: Rect<A>) -> Rect<B> {
        if r.is_empty() {
            return Rect::default();
        }
        let (x1, y1) = (f64::from(r.x), f64::from(r.y));
        let (x2, y2) = (f64::from(r.right()), f64::from(r.bottom()));
        let corners = [
            self.apply(x1, y1),
            self.apply(x2, y1),
            self.apply(x1, y2),
            self.apply(x2, y2),
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

    /// Whether the linear part is the identity and the translation is whole pixels; then a
    /// renderer can copy without a transform (its fastest paths).
    pub fn integer_translation(&self) -> Option<(i32, i32)> {
        let linear_identity = self.row0[0] == 1.0
            && self.row0[1] == 0.0
            && self.row1[0] == 0.0
            && self.row1[1] == 1.0;
        let (tx, ty) = (self.row0[2], self.row1[2]);
        (linear_identity && tx.fract() == 0.0 && ty.fract() == 0.0)
            .then_some((tx as i32, ty as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel table in the docs of [`Transform`], checked against the affine maps.
    #[test]
    fn pixel_table_matches_the_maps() {
        let (w, h) = (5i32, 3i32);
        let size = Size::new(5, 3);
        for t in Transform::ALL {
            for y in 0..h {
                for x in 0..w {
                    let expected = match t {
                        Transform::Normal => (x, y),
                        Transform::Rotate90 => (h - 1 - y, x),
                        Transform::Rotate180 => (w - 1 - x, h - 1 - y),
                        Transform::Rotate270 => (y, w - 1 - x),
                        Transform::Flipped => (w - 1 - x, y),
                        Transform::Flipped90 => (h - 1 - y, w - 1 - x),
                        Transform::Flipped180 => (x, h - 1 - y),
                        Transform::Flipped270 => (y, x),
                    };
                    let r = t.rect_to_physical(Rect::new(x, y, 1, 1), size);
                    assert_eq!((r.x, r.y, r.w, r.h), (expected.0, expected.1, 1, 1));
                    let back = t.rect_to_logical(r, size);
                    assert_eq!(back, Rect::new(x, y, 1, 1), "{t:?}");
                }
            }
            assert_eq!(
                t.rect_to_physical(Rect::of(size), size),
                Rect::of(t.physical_size(size))
            );
        }
    }

    #[test]
    fn rotate90_turns_the_picture_clockwise() {
        // The logical top-left corner of a 100×60 output lands at the physical top-right:
        // the picture turned clockwise, for a panel mounted counter-clockwise.
        let size = Size::new(100, 60);
        let (px, py) = Transform::Rotate90.point_to_physical(0.5, 0.5, size);
        assert_eq!((px, py), (59.5, 0.5));
        assert_eq!(
            Transform::Rotate90.point_to_logical(59.5, 0.5, size),
            (0.5, 0.5)
        );
        assert_eq!(Transform::Rotate90.physical_size(size), Size::new(60, 100));
    }

    #[test]
    fn normalized_maps_agree_with_pixel_maps() {
        // A touch normalized to the glass maps like the pixel it lies on.
        let size = Size::new(40, 30);
        for t in Transform::ALL {
            let phys = t.physical_size(size);
            for (px, py) in [(0.5, 0.5), (f64::from(phys.w) - 0.5, 3.5), (7.5, 2.25)] {
                let want = t.point_to_logical(px, py, size);
                let (nx, ny) =
                    t.normalized_to_logical(px / f64::from(phys.w), py / f64::from(phys.h));
                let got = (nx * f64::from(size.w), ny * f64::from(size.h));
                assert!(
                    (got.0 - want.0).abs() < 1e-9 && (got.1 - want.1).abs() < 1e-9,
                    "{t:?}"
                );
                let (u, v) = t.normalized_to_physical(nx, ny);
                assert!((u * f64::from(phys.w) - px).abs() < 1e-9, "{t:?}");
                assert!((v * f64::from(phys.h) - py).abs() < 1e-9, "{t:?}");
            }
        }
        // A panel turned 90°: the glass's top-left corner is the logical bottom-left.
        let t = Transform::Rotate90;
        assert_eq!(t.normalized_to_logical(0.0, 0.0), (0.0, 1.0));
        assert_eq!(t.normalized_to_logical(1.0, 0.0), (0.0, 0.0));
        assert_eq!(
            Transform::Flipped.normalized_to_logical(0.25, 0.75),
            (0.75, 0.75)
        );
    }

    #[test]
    fn then_and_invert_follow_the_maps() {
        let size = Size::new(7, 4);
        let (w, h) = (7.0, 4.0);
        for t in Transform::ALL {
            assert_eq!(t.then(t.invert()), Transform::Normal, "{t:?}");
            assert_eq!(t.invert().then(t), Transform::Normal, "{t:?}");
            for u in Transform::ALL {
                let tu = t.then(u);
                let mid = t.physical_size(size);
                let chained = u
                    .affine(f64::from(mid.w), f64::from(mid.h))
                    .then_after(&t.affine(w, h));
                assert_eq!(chained, tu.affine(w, h), "{t:?} then {u:?}");
            }
        }
        assert_eq!(
            Transform::Rotate90.then(Transform::Rotate90),
            Transform::Rotate180
        );
        assert_eq!(Transform::Rotate90.invert(), Transform::Rotate270);
        assert_eq!(Transform::Flipped90.invert(), Transform::Flipped90);
    }

    #[test]
    fn parts_names_and_degrees() {
        for (i, t) in Transform::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(t.index()), i);
            assert_eq!(Transform::from_parts(t.quarter_turns(), t.is_flipped()), t);
            assert_eq!(t.name().parse::<Transform>(), Ok(t));
            assert_eq!(t.to_string(), t.name());
            assert_eq!(t.swaps_axes(), t.degrees() % 180 == 90);
        }
        assert_eq!(Transform::from_degrees(270), Some(Transform::Rotate270));
        assert_eq!(Transform::from_degrees(45), None);
        assert_eq!(
            "upside-down".parse::<Transform>().unwrap_err().to_string(),
            "\"upside-down\" is not a transform: use \"normal\", \"90\", \"180\", \"270\", \
             \"flipped\", \"flipped-90\", \"flipped-180\" or \"flipped-270\""
        );
    }

    #[test]
    fn rect_operations() {
        let a: Rect = Rect::new(0, 0, 10, 10);
        let b = Rect::new(5, 5, 10, 10);
        assert_eq!(a.intersect(&b), Some(Rect::new(5, 5, 5, 5)));
        assert_eq!(a.intersect(&Rect::new(10, 0, 5, 5)), None);
        assert_eq!(a.bounding(&b), Rect::new(0, 0, 15, 15));
        assert_eq!(a.bounding(&Rect::new(50, 50, 0, 3)), a);
        assert!(a.contains_rect(&Rect::new(2, 2, 3, 3)));
        assert!(!a.contains_rect(&b));
        assert!(a.contains(9, 0) && !a.contains(10, 0) && !a.contains(-1, 3));
        assert_eq!(Rect::<Logical>::from_corners(4, 0, 2, 5).area(), 0);
        assert!(Rect::<Logical>::from_corners(4, 0, 2, 5).is_empty());
        assert_eq!(a.translated(-3, 2), Rect::new(-3, 2, 10, 10));
        assert_eq!(
            Rect::<Buffer>::new(-5, 90, 20, 20).clip(100, 100),
            Some(Rect::new(0, 90, 15, 10))
        );
        assert_eq!(Rect::<Buffer>::new(100, 0, 5, 5).clip(100, 100), None);
        let r = |x, y, w, h| Rect::<Buffer>::new(x, y, w, h);
        assert_eq!(r(-5, -5, 10, 10).clip(8, 8), Some(r(0, 0, 5, 5)));
        assert_eq!(r(6, 6, 10, 10).clip(8, 8), Some(r(6, 6, 2, 2)));
        assert_eq!(r(8, 0, 10, 10).clip(8, 8), None);
        assert_eq!(r(0, 0, 0, 10).clip(8, 8), None);
        assert_eq!(r(i32::MAX, 0, u32::MAX, 1).clip(8, 8), None);
        assert_eq!(a.centre(), (5, 5));
        assert_eq!(Rect::<Logical>::new(10, 20, 5, 3).centre(), (12, 21));
        assert_eq!(a.centred(4, 2), Rect::new(3, 4, 4, 2));
        assert_eq!(a.centred(13, 10), Rect::new(-1, 0, 13, 10));
        let c = Rect::<Buffer>::new(7, 3, 2, 2);
        assert_eq!((c.origin_index(), c.origin_unsigned()), ((7, 3), (7, 3)));
        assert_eq!(Rect::<Buffer>::new(-7, 3, 2, 2).origin_index(), (0, 3));
        // Edges far right saturate instead of wrapping.
        let far = Rect::<Logical>::new(i32::MAX - 1, 0, u32::MAX, 1);
        assert_eq!(far.right(), i32::MAX);
        assert!(far.contains(i32::MAX, 0));
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
