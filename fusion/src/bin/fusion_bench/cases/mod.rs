//! The cases: each module holds a generic harness (measure any implementation of the
//! case's small trait) and the baseline rows built on it. A Fusion row is one more
//! function calling the same harness with variant `"fusion"` (see `registry`).

pub mod alloc;
pub mod fanout;
pub mod handoff;
pub mod lock;
pub mod roundtrip;
