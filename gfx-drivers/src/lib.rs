//! # gfx-drivers — the display backends of fusionfb
//!
//! This crate's room in the house: everything between a finished frame and the glass. It will
//! hold the backend trait (outputs, modes, planes, buffer allocation, present with a completion
//! event) and its implementations: `drm` (KMS), `fbdev`, `headless` (memory) and `window`
//! (desktop development). It knows pixels and planes, never windows: composition and policy
//! live in the `fusionfb` compositor crate.
//!
//! Nothing is implemented yet; the display-server issue fills this crate.
