//! # fusionfb-client — the slave side of fusionfb
//!
//! This crate's room in the house: what an application links to join a fusionfb arena, get
//! surfaces and windows from the master, paint them, flip buffers and receive events. It
//! stands on the `fusion` crate's slave endpoint (re-exported as [`fusion`]), speaks
//! `fusionfb-protocol` (re-exported as [`protocol`]) and uses `gfx-drivers` for the one
//! pixel-format type; it never talks to a display or an input device itself — that is the
//! master's business.
//!
//! - [`display`]: the connection — surfaces (pixel buffers shared with the master, drawn
//!   into with zero copies), windows, `flip(damage)` paced by `FrameDone`, touch and focus
//!   events, window state read from shared memory, screenshots, touch injection.
//! - [`events`]: the display's events as a calloop source, or a blocking iterator.
//! - [`draw`]: the drawing helpers — a [`draw::Canvas`] over a buffer's pixels (XRGB8888,
//!   premultiplied ARGB8888 or RGB565) with shapes (tiny-skia), text (fontdue, DejaVu Sans
//!   bundled), PNG images (png) and blits; every operation returns the damage rectangle to
//!   pass to `flip(damage)`.
//!
//! - [`app`]: the plumbing of the demo applications (`fusionfb-paint`, `fusionfb-clock`,
//!   `fusionfb-gallery`, in `src/bin/`): their command line, the frame loop, the double
//!   buffering, and the colours tests check them by.
//!
//! The drawing helpers know nothing about Fusion: a `Canvas` is just `&mut [u8]` with a size,
//! a pitch and a format, so they work the same on a shared buffer, a DRM dumb buffer a slave
//! scans out exclusively, or an image in process memory.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub use fusion;
pub use fusionfb_protocol as protocol;
pub use gfx_drivers::{Buffer, Format, Image};

pub mod app;
pub mod display;
pub mod draw;
pub mod events;
