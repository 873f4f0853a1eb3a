//! The parts of `fusion-bench`: the framework (statistics, partner processes, shared
//! memory, report) and the cases with their baselines.

pub mod cases;
pub mod child;
pub mod cli;
pub mod fusion_rows;
pub mod locks;
pub mod pin;
pub mod registry;
pub mod report;
pub mod shm;
pub mod stats;
