//! The crate's only `unsafe`: byte slices over a buffer's shared mapping.
//!
//! [`fusionfb_sys::Mapping`] deliberately hands out no slices, because other processes may
//! write the memory at any time. Pixel code (format conversion, composition, pixman) needs
//! slices, so this module makes them, under two rules that [`crate::Buffer`] enforces:
//!
//! - **In this process**, every slice of a buffer is made while holding that buffer's access
//!   lock, and nothing else in the crate touches the mapping; so a `&mut [u8]` is never
//!   aliased by another Rust reference.
//! - **Across processes**, a client that shares the buffer may write while we read. That is
//!   the contract of every shared-memory pixel buffer (`wl_shm`, DirectFB surfaces): the
//!   reader may see torn pixels, which is why clients only write buffers they own and hand
//!   them over with a flip. Every bit pattern is a valid `u8`, the memfd is sealed against
//!   shrinking (no `SIGBUS`), and the mapping outlives the slice (it is borrowed).

use std::sync::MutexGuard;

use fusionfb_sys::Mapping;

/// The whole mapping as bytes, for as long as `_lock` (the buffer's access lock) is held.
pub(crate) fn bytes<'a>(map: &'a Mapping, _lock: &'a MutexGuard<'_, ()>) -> &'a [u8] {
    let ptr = map
        .ptr_at(0, map.len())
        .expect("the whole mapping is in bounds");
    // SAFETY: `ptr..ptr + len` is one live mapping borrowed for 'a; in-process writers are
    // excluded by the access lock the caller holds for 'a (see the module doc for other
    // processes); u8 has no invalid values and alignment 1.
    unsafe { std::slice::from_raw_parts(ptr, map.len()) }
}

/// The whole mapping as mutable bytes, for as long as `_lock` is held mutably. Only for
/// writable mappings (checked by the caller; a write to a read-only one would fault).
pub(crate) fn bytes_mut<'a>(map: &'a Mapping, _lock: &'a mut MutexGuard<'_, ()>) -> &'a mut [u8] {
    debug_assert!(map.writable());
    let ptr = map
        .ptr_at(0, map.len())
        .expect("the whole mapping is in bounds");
    // SAFETY: as for `bytes`; the exclusive borrow of the access lock guard for 'a means no
    // other slice of this mapping exists in this process while this one lives.
    unsafe { std::slice::from_raw_parts_mut(ptr, map.len()) }
}
