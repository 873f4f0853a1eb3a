//! # gfx-drivers — the display backends of fusionfb
//!
//! This crate's room in the house: everything between a finished frame and the glass. It knows
//! pixels and planes, never windows: composition and policy live in the `fusionfb` compositor.
//!
//! - [`format`](mod@format): the pixel formats (XRGB8888, premultiplied ARGB8888, RGB565) with
//!   their DRM fourcc codes, and exact conversions between them.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod format;

pub use format::{Format, Image};
