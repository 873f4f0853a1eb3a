//! Helpers of `fusionfb`'s integration tests (not part of the library).

pub mod golden;
