//! Byte slices over a shared mapping: [`LockedMapping`].
//!
//! [`Mapping`] deliberately hands out no slices, because other processes may write the memory
//! at any time. Pixel code (format conversion, composition, pixman) needs slices, so
//! [`LockedMapping`] pairs a mapping with the lock that makes them, under two rules:
//!
//! - **In this process**, every slice of the mapping is made while holding its lock, and
//!   nothing else touches the mapping; so a `&mut [u8]` is never aliased by another Rust
//!   reference.
//! - **Across processes**, a process that shares the memory may write while we read. That is
//!   the contract of every shared-memory pixel buffer (`wl_shm`, DirectFB surfaces): the
//!   reader may see torn pixels, which is why clients only write buffers they own and hand
//!   them over with a flip. Every bit pattern is a valid `u8`, a memfd is sealed against
//!   shrinking (no `SIGBUS`), and the mapping outlives the slice (it is borrowed).

use std::sync::{Mutex, MutexGuard};

use crate::Mapping;

/// A [`Mapping`] whose bytes are lent out as slices, one borrower at a time in this process.
#[derive(Debug)]
pub struct LockedMapping {
    map: Mapping,
    access: Mutex<()>,
}

impl LockedMapping {
    /// Takes `map` over.
    pub fn new(map: Mapping) -> Self {
        LockedMapping {
            map,
            access: Mutex::new(()),
        }
    }

    /// The mapping (for its length, writability and atomics; no slices).
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guarded value is `()`: a panic while holding it leaves nothing inconsistent.
        self.access.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` over the whole mapping's bytes, holding the lock (so `f` must not lend from
    /// the same mapping again: that would deadlock).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let _guard = self.lock();
        let ptr = self
            .map
            .ptr_at(0, self.map.len())
            .expect("the whole mapping is in bounds");
        // SAFETY: `ptr..ptr + len` is one live mapping borrowed for this call; in-process
        // writers are excluded by the lock held until `f` returns (see the module doc for
        // other processes); u8 has no invalid values and alignment 1.
        f(unsafe { std::slice::from_raw_parts(ptr, self.map.len()) })
    }

    /// Runs `f` over the whole mapping's bytes, writable, holding the lock; `None` (without
    /// calling `f`) for a read-only mapping.
    pub fn with_bytes_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if !self.map.writable() {
            return None;
        }
        let _guard = self.lock();
        let ptr = self
            .map
            .ptr_at(0, self.map.len())
            .expect("the whole mapping is in bounds");
        // SAFETY: as for `with_bytes`; the lock means no other slice of this mapping exists
        // in this process while this one lives, and the mapping is writable (checked above).
        Some(f(unsafe {
            std::slice::from_raw_parts_mut(ptr, self.map.len())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn bytes_are_lent_under_the_lock_and_read_only_maps_refuse_writes() {
        let fd = crate::memfd_create("locked", 4096).unwrap();
        let rw = LockedMapping::new(Mapping::new(fd.as_fd(), 4096, true).unwrap());
        rw.with_bytes_mut(|b| b[10] = 7).unwrap();
        let ro = LockedMapping::new(Mapping::new(fd.as_fd(), 4096, false).unwrap());
        assert_eq!(ro.with_bytes(|b| (b.len(), b[10])), (4096, 7));
        assert!(ro.with_bytes_mut(|_| ()).is_none());
    }
}
