//! Giving the allocator's free memory back to the kernel: [`release_free_heap`].
//!
//! glibc's `malloc` keeps the pages of freed blocks: it returns only a free stretch at the
//! top of the heap, and only once that stretch passes its trim threshold (128 KiB). A
//! process that allocates a lot while it starts (config parsing, keymap compiles, the first
//! composition) and then idles keeps those pages resident for good. `malloc_trim(0)` hands
//! every whole free page back (`MADV_DONTNEED` inside the heap, a shrink at its top), in
//! every arena. It costs a walk of the free lists, so it belongs to a moment such as "start-up
//! is over", not to a hot path.

/// Gives the pages of freed heap memory back to the kernel (glibc `malloc_trim(0)`), in every
/// malloc arena; whether some memory was released. A no-op (`false`) with another C library.
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks and trims the allocator's own free lists, under the
        // arenas' locks; it takes no pointer and is safe to call from any thread.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
