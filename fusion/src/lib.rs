//! # Fusion — the master/slave IPC layer of fusionfb
//!
//! (crate docs are written out as the modules land)
#![warn(missing_docs)]

pub mod error;
pub mod pool;
pub mod ring;
pub mod skirmish;
pub mod sys;

pub use error::{Error, Result};
