//! # gfx-drivers — the display backends of fusionfb
//!
//! This crate's room in the house: everything between a finished frame and the glass. The
//! compositor (`fusionfb`) decides what goes where; this crate knows pixels, buffers, outputs
//! and planes, and **nothing about windows** — composition, layers and policy live in the
//! compositor. Clients reach it only through buffers the compositor hands them.
//!
//! - [`format`](mod@format): the pixel formats (XRGB8888, premultiplied ARGB8888, RGB565) with their DRM
//!   fourcc codes, and exact conversions between them.
//! - [`pixels`]: [`PixelsRef`]/[`PixelsMut`], borrowed views of pixel memory (the one pair
//!   the house uses: compositor, client library, PNG).
//! - [`buffer`]: [`Buffer`], fd-backed pixel memory (memfd, via `fusionfb_sys`) that a backend
//!   can scan out and a client can map with zero copies.
//! - [`backend`]: the [`Backend`] trait every display backend implements, and the concepts
//!   (output, mode, plane, layer, surface, buffer; commit, vblank, back-pressure) — start
//!   reading there.
//! - One module per backend, each behind its own cargo feature (as smithay does): [`headless`]
//!   (memory; CI and screenshots), [`drm`](mod@drm) (KMS: atomic/legacy, planes, dumb
//!   buffers exported as dma-buf), [`fbdev`] (`/dev/fbN` of boards without KMS) and
//!   [`window`] (a desktop window for development).
//!
//! The crate has no `unsafe` (`#![deny(unsafe_code)]`): a buffer's shared mapping is lent
//! out as byte slices by `fusionfb_sys::LockedMapping`, and every system call goes through
//! `fusionfb_sys`, `rustix` or smithay's `drm`.
//!
//! ```
//! # #[cfg(feature = "headless")] {
//! use gfx_drivers::{Backend, Format, HeadlessBackend, PlaneKind, PlaneUpdate};
//! let mut backend: Box<dyn Backend> = Box::new(HeadlessBackend::new_default().unwrap());
//! let output = backend.outputs()[0];
//! let info = backend.output(output).unwrap().clone();
//! let overlay = info.plane(PlaneKind::Overlay).unwrap().id;
//! let cursor = backend.allocate(16, 16, Format::Argb8888).unwrap();
//! backend.commit(output, &[PlaneUpdate::show(overlay, &cursor).at(100, 100)]).unwrap();
//! assert!(backend.is_pending(output).unwrap());
//! # }
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod backend;
pub mod buffer;
#[cfg(feature = "drm")]
pub mod drm;
#[cfg(feature = "fbdev")]
pub mod fbdev;
pub mod format;
#[cfg(feature = "headless")]
pub mod headless;
pub mod loop_source;
#[cfg(any(feature = "headless", feature = "fbdev", feature = "window"))]
mod pacing;
pub mod pixels;
#[cfg(any(feature = "drm", feature = "fbdev"))]
pub mod vt;
#[cfg(feature = "window")]
pub mod window;
#[cfg(feature = "window")]
mod window_x11;

pub use backend::{
    readiness_source, Backend, BackendEvent, BackendSource, CommitId, Error, Mode, OutputId,
    OutputInfo, PlaneId, PlaneInfo, PlaneKind, PlaneUpdate, Presented, Rect, TouchInput,
    TouchPhase, Transform,
};
pub use buffer::{Buffer, BufferDesc, BufferId, DeviceMemory};
#[cfg(feature = "drm")]
pub use drm::{DrmBackend, DrmConfig, ModeChoice};
#[cfg(feature = "fbdev")]
pub use fbdev::FbdevBackend;
pub use format::{Format, Image};
#[cfg(feature = "headless")]
pub use headless::{HeadlessBackend, HeadlessHotplug, HeadlessOutputConfig};
pub use loop_source::{LoopSource, Wake};
pub use pixels::{PixelsMut, PixelsRef};
#[cfg(feature = "window")]
pub use window::WindowBackend;
