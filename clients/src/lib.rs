//! # fusionfb-client — the slave side of fusionfb
//!
//! This crate's room in the house: what an application links to join a fusionfb arena, get
//! surfaces and windows from the master, paint them, flip buffers and receive events. It
//! stands on the `fusion` crate's slave endpoint (re-exported as [`fusion`]) and on
//! `gfx-drivers` for the one pixel-format type ([`draw::Format`]); it never talks to a display
//! or an input device itself — that is the master's business.
//!
//! - [`draw`]: the drawing helpers — a [`draw::Canvas`] over a buffer's pixels (XRGB8888,
//!   premultiplied ARGB8888 or RGB565) with shapes (tiny-skia), text (fontdue, DejaVu Sans
//!   bundled), PNG images (png) and blits; every operation returns the damage rectangle to
//!   pass to `flip(damage)`.
//! - Surfaces and windows (create, map, flip, frame-done pacing, input events) come in their
//!   own module with the display-server issue; a surface's buffer is what a `Canvas` borrows.
//!
//! The drawing helpers know nothing about Fusion: a `Canvas` is just `&mut [u8]` with a size,
//! a pitch and a format, so they work the same on a shared buffer, a DRM dumb buffer a slave
//! scans out exclusively, or an image in process memory.
#![warn(missing_docs)]

pub mod draw;

pub use fusion;
