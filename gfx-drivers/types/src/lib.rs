//! # fusionfb-types — one of each basic type
//!
//! This crate's room in the house: the small vocabulary types that several crates speak —
//! the display backends (`gfx-drivers`), the input devices (`fusionfb-input`), the protocol
//! between master and applications (`fusionfb-protocol`), the master's seat and the client
//! library — defined once here, at the bottom of the house, instead of once per crate with
//! converters between the copies. It depends on nothing (serde behind the `serde` feature,
//! which the protocol and the config turn on), so every crate may depend on it.
//!
//! - [`geometry`]: rectangles and sizes with their coordinate space in the type
//!   ([`Logical`], [`Physical`], [`Buffer`]), the output [`Transform`] and the [`Affine`] maps
//!   between the spaces;
//! - [`TouchPhase`]: what a touch contact did.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod geometry;

pub use geometry::{Affine, Buffer, Logical, Physical, Rect, Size, Transform, TransformError};

/// What a touch contact did: a finger on a panel, a mouse acting as one, an injected touch.
///
/// The order of the variants is part of the wire protocol (postcard encodes the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TouchPhase {
    /// The contact starts (finger down, a mouse button pressed).
    Down,
    /// The contact moved.
    Motion,
    /// The contact ended (finger up).
    Up,
    /// The contact was taken away (palm rejection, device gone, the pointer lost mid-drag).
    Cancel,
    /// End of a multi-touch frame: the contacts reported since the last one belong together.
    Frame,
}

impl TouchPhase {
    /// Whether the phase carries a position (down, motion, up); frames and cancels do not.
    pub fn has_position(self) -> bool {
        matches!(self, TouchPhase::Down | TouchPhase::Motion | TouchPhase::Up)
    }
}
