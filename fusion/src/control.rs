//! The control area: the small memfd each slave shares writable with the master alone.
//!
//! It holds what a slave must write to cooperate and nothing the master trusts blindly:
//! its reactor cursor blocks (where it has read up to, whether it sleeps) and the flags it
//! uses to tell the master it made progress. Another slave never sees it, so a hostile slave
//! can only disturb its own deliveries; the master validates every value it reads here.
//!
//! Layout (byte offsets):
//!
//! | offset | what |
//! |---|---|
//! | 0 | magic `FSNC` |
//! | 4 | the slave's fusionee id |
//! | 8 | `want_progress`: the master sets it while a lossless dispatch waits; a slave that consumed messages clears it and rings the master's doorbell |
//! | 64.. | the synchronous call slot, to [`crate::slot::SLOT_END`] |
//! | [`CURSOR_BASE`].. | [`MAX_CURSORS`] reactor cursor blocks of [`CURSOR_SIZE`] bytes |
//!
//! ```
//! use fusion::control;
//! assert!(control::cursor_offset(0) >= fusion::slot::SLOT_END);
//! assert_eq!(control::cursor_offset(control::MAX_CURSORS), control::CONTROL_SIZE);
//! ```

/// Magic at offset 0.
pub const MAGIC: u32 = u32::from_le_bytes(*b"FSNC");
/// Offset of the fusionee id.
pub const ID_OFFSET: usize = 4;
/// Offset of the `want_progress` flag.
pub const WANT_PROGRESS: usize = 8;
/// Offset of the synchronous call slot.
pub const CALL_SLOT: usize = 64;
/// Offset of the first cursor block.
pub const CURSOR_BASE: usize = 16 * 1024;
/// Size of a cursor block.
pub const CURSOR_SIZE: usize = 64;
/// Most reactors one slave may attach to at once.
pub const MAX_CURSORS: usize = 1024;
/// Size of a control area.
pub const CONTROL_SIZE: usize = CURSOR_BASE + CURSOR_SIZE * MAX_CURSORS;

/// Offset of cursor block `i`.
pub fn cursor_offset(i: usize) -> usize {
    CURSOR_BASE + i * CURSOR_SIZE
}
