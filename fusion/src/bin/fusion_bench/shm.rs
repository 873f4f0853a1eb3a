//! Shared memory for a case: a memfd mapped `MAP_SHARED` before forking, so parent and
//! partners see the same bytes at the same address.

use std::io;
use std::os::fd::AsFd;

use fusionfb_sys::{self as sys, Mapping};

/// A zero-filled shared mapping of at least `len` bytes (rounded up to 4 KiB).
pub fn shared(len: usize) -> io::Result<Mapping> {
    let len = len.max(1).next_multiple_of(4096);
    let fd = sys::memfd_create("fusion-bench", len)?;
    Mapping::new(fd.as_fd(), len, true)
}

/// The `AtomicU32` at `offset` (the layouts here are fixed, so a miss is a bug).
pub fn u32_at(map: &Mapping, offset: usize) -> &std::sync::atomic::AtomicU32 {
    map.atomic_u32(offset)
        .expect("shared layout: u32 slot in bounds and aligned")
}

/// The `AtomicU64` at `offset`.
pub fn u64_at(map: &Mapping, offset: usize) -> &std::sync::atomic::AtomicU64 {
    map.atomic_u64(offset)
        .expect("shared layout: u64 slot in bounds and aligned")
}
