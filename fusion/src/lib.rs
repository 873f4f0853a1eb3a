//! # Fusion — the master/slave IPC layer of fusionfb
//!
//! (crate docs are written out as the modules land)
#![warn(missing_docs)]

pub mod barrier;
pub mod call;
pub mod control;
pub mod error;
pub mod master;
pub mod pool;
pub mod reactor;
pub mod ring;
pub mod skirmish;
pub mod slave;
pub mod slot;
pub mod source;
pub mod status;
pub mod sys;
pub mod wire;
pub mod world;

pub use call::{CallIn, CallOutcome};
pub use error::{Error, Result};
pub use master::{Master, MasterEvent};
pub use slave::{Slave, SlaveEvent};
pub use world::WorldConfig;
