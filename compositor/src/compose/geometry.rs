//! The house's geometry ([`fusionfb_types::geometry`]) as composition uses it, and the glue
//! to pixman.
//!
//! Three spaces meet in composition:
//!
//! - **logical** (output) coordinates ([`Logical`]): where elements are placed and damage is
//!   counted. For a rotated panel this is the upright picture the user sees;
//! - **physical** coordinates ([`Physical`]): pixels of the target buffer, as scanned out to
//!   the glass;
//! - **buffer** coordinates (`fusionfb_types::geometry::Buffer`): pixels of an element's
//!   source buffer.
//!
//! [`Transform`] maps logical to physical for an output (and logical to buffer for a client
//! that pre-rotated its content). [`Affine`] is the small exact matrix type used to chain
//! these maps before handing the result to pixman.

pub use fusionfb_types::geometry::{Affine, Logical, Physical, Rect, Size, Transform};

/// `r` as a pixman box.
pub(crate) fn to_box<K>(r: Rect<K>) -> pixman::Box32 {
    pixman::Box32 {
        x1: r.x,
        y1: r.y,
        x2: r.right(),
        y2: r.bottom(),
    }
}

/// `r`'s size as pixman takes it (`i32`; a side past `i32::MAX`, which no buffer has, is cut
/// there).
pub(crate) fn pixman_size<K>(r: Rect<K>) -> (i32, i32) {
    let side = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    (side(r.w), side(r.h))
}

/// A pixman box as a rectangle of the space the caller names.
pub(crate) fn from_box<K>(b: &pixman::Box32) -> Rect<K> {
    Rect::from_corners(b.x1, b.y1, b.x2, b.y2)
}

/// The map as a pixman 16.16 fixed-point matrix (rounded to nearest).
pub(crate) fn to_pixman(a: &Affine) -> pixman::Transform {
    let fx = |v: f64| pixman::Fixed::from_raw((v * 65536.0).round() as i32);
    let m = [
        [fx(a.row0[0]), fx(a.row0[1]), fx(a.row0[2])],
        [fx(a.row1[0]), fx(a.row1[1]), fx(a.row1[2])],
        [pixman::Fixed::ZERO, pixman::Fixed::ZERO, pixman::Fixed::ONE],
    ];
    pixman::Transform::new(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_round_trip() {
        let r: Rect = Rect::new(-3, 4, 10, 2);
        let b = to_box(r);
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (-3, 4, 7, 6));
        assert_eq!(from_box::<Logical>(&b), r);
        // An inverted box is an empty rectangle.
        let inverted = pixman::Box32 {
            x1: 5,
            y1: 0,
            x2: 2,
            y2: 3,
        };
        assert!(from_box::<Logical>(&inverted).is_empty());
    }
}
