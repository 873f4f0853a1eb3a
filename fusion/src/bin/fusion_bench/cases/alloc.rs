//! Case `alloc`: allocation churn, one free + one allocation per op.
//!
//! 256 slots are kept full of live blocks; each op frees the block in a pseudo-random
//! slot and allocates a new one of a pseudo-random size there. Sizes are log-uniform
//! over 16 B – 64 KiB. The pattern comes from a fixed-seed PRNG and is generated before
//! timing, so every variant replays the same sequence.

use std::io;

use crate::fusion_bench::stats::{time_batches, Budget, Row};

/// The case name on the rows.
pub const CASE: &str = "alloc";

/// Live blocks kept.
pub const LIVE: usize = 256;

/// An allocator the alloc case can measure.
pub trait BenchAlloc {
    /// A live allocation.
    type Block;
    /// Allocates `size` bytes.
    fn alloc(&mut self, size: usize) -> io::Result<Self::Block>;
    /// Frees a block.
    fn free(&mut self, block: Self::Block);
}

/// splitmix64: a tiny deterministic PRNG.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The op sequence: (slot, size) pairs, 16 ≤ size < 64 KiB, log-uniform.
pub fn pattern(len: usize) -> Vec<(usize, usize)> {
    let mut s = 0x5eed_f00d_u64;
    (0..len)
        .map(|_| {
            let r = splitmix(&mut s);
            let shift = 4 + (r % 12) as u32; // 16 B .. 32 KiB base
            let size = (1usize << shift) + ((r >> 8) as usize & ((1 << shift) - 1));
            ((r >> 32) as usize % LIVE, size)
        })
        .collect()
}

/// Measures the churn pattern on `a` (batched, per free+alloc op).
pub fn measure<A: BenchAlloc>(budget: &Budget, variant: &str, a: &mut A) -> io::Result<Row> {
    let ops = pattern(4096);
    let mut live: Vec<Option<A::Block>> = Vec::with_capacity(LIVE);
    for &(_, size) in ops.iter().take(LIVE) {
        live.push(Some(a.alloc(size)?));
    }
    let batch = 1024;
    let samples = budget.pick(2000, 200);
    let mut next = 0;
    let r = time_batches(budget, samples, batch, || {
        let (slot, size) = ops[next];
        next = (next + 1) % ops.len();
        if let Some(old) = live[slot].take() {
            a.free(old);
        }
        live[slot] = Some(a.alloc(size)?);
        Ok(())
    });
    for b in live.into_iter().flatten() {
        a.free(b);
    }
    Ok(Row::new(CASE, variant, r?, batch as u64))
}

/// glibc `malloc`/`free`.
pub struct Malloc;

impl BenchAlloc for Malloc {
    type Block = std::ptr::NonNull<u8>;

    fn alloc(&mut self, size: usize) -> io::Result<Self::Block> {
        // SAFETY: plain malloc; the result is checked for null.
        std::ptr::NonNull::new(unsafe { libc::malloc(size) }.cast())
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
    }

    fn free(&mut self, block: Self::Block) {
        // SAFETY: `block` came from `malloc` above and is freed once (it is moved in).
        unsafe { libc::free(block.as_ptr().cast()) }
    }
}

/// Baseline `[glibc-malloc]`.
pub fn glibc_malloc(budget: &Budget) -> io::Result<Vec<Row>> {
    Ok(vec![measure(budget, "glibc-malloc", &mut Malloc)?])
}
