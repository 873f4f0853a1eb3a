//! # fusionfb-client — the slave side of fusionfb
//!
//! This crate's room in the house: what an application links to join a fusionfb arena, create
//! surfaces and windows, flip buffers and receive events. It stands on the `fusion` crate's
//! slave endpoint. The surfaces, windows and drawing helpers come with the display-server issue.
pub use fusion;
