//! # fusionfb-client — the slave side of fusionfb
//!
//! This crate's room in the house: what an application links to join a fusionfb arena and
//! show something. [`display`] connects to the master, creates surfaces (pixel buffers shared
//! with the master, drawn into with zero copies) and windows, flips frames paced by the
//! display, and delivers events. It stands on the `fusion` crate's slave endpoint and speaks
//! `fusionfb-protocol`.
pub use fusion;
pub use fusionfb_protocol as protocol;
pub use gfx_drivers::{Buffer, Format, Image};

pub mod display;
