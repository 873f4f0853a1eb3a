//! Case `handoff`: a lock passed back and forth between two processes.
//!
//! Both processes increment a shared counter under the lock, the parent on even values,
//! the partner on odd ones. Waiting for one's turn is lock → look at the parity →
//! unlock, so each turn acquires a lock the other process just released (often while it
//! sleeps in the lock, or is about to). After 128 fruitless looks a process yields the
//! CPU, so a partner that is not running gets to run (the machine has two cores and is
//! shared). One sample is the time between two of the parent's turns: one round trip,
//! i.e. two hand-offs.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use fusionfb_sys as sys;

use crate::fusion_bench::child::{self, Child};
use crate::fusion_bench::locks::{BenchLock, FutexMutex, RobustPthreadMutex};
use crate::fusion_bench::shm;
use crate::fusion_bench::stats::{Budget, Row, Stats};

/// The case name on the rows.
pub const CASE: &str = "handoff";

/// Which process an `open` callback runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The measuring process.
    Parent,
    /// The forked partner.
    Partner,
}

/// Measures hand-off round trips of the lock `open` returns. `open` runs after the fork,
/// once in each process (baselines return the lock they set up before forking; Fusion
/// can join its world there).
pub fn measure<L: BenchLock>(
    budget: &Budget,
    variant: &str,
    open: impl Fn(Side) -> io::Result<L>,
) -> io::Result<Row> {
    let samples = budget.pick(20_000, 1_000);
    let turns = budget.warmup(samples) + samples + 1;
    let map = shm::shared(4096)?;
    let counter = shm::u64_at(&map, 0);

    let mut partner = child::spawn(|| {
        let l = open(Side::Partner)?;
        for _ in 0..turns {
            take_turn(&l, counter, 1, None)?;
        }
        Ok(())
    })?;
    let l = open(Side::Parent)?;
    let mut stamps = Vec::with_capacity(turns);
    for _ in 0..turns {
        take_turn(&l, counter, 0, Some(&mut partner))?;
        stamps.push(sys::now_ns());
    }
    partner.wait(budget.partner_timeout())?;

    let warm = turns - samples;
    let ns = stamps[warm - 1..].windows(2).map(|w| w[1] - w[0]).collect();
    Ok(Row::new(CASE, variant, Stats::from_samples(ns), 1))
}

/// Waits until the counter has parity `mine`, then increments it; all under the lock.
/// The parent passes its partner, to notice it dying instead of waiting forever.
fn take_turn<L: BenchLock>(
    l: &L,
    counter: &AtomicU64,
    mine: u64,
    mut partner: Option<&mut Child>,
) -> io::Result<()> {
    let mut looks = 0u32;
    let mut since = None::<Instant>;
    loop {
        l.lock()?;
        let c = counter.load(Relaxed);
        if c % 2 == mine {
            counter.store(c + 1, Relaxed);
            l.unlock();
            return Ok(());
        }
        l.unlock();
        looks += 1;
        if looks % 128 == 0 {
            // SAFETY: a plain system call.
            unsafe { libc::sched_yield() };
            if let Some(p) = partner.as_deref_mut() {
                p.check_alive()?;
                let t = *since.get_or_insert_with(Instant::now);
                if t.elapsed().as_secs() >= 10 {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "partner stopped taking its turns",
                    ));
                }
            }
        }
    }
}

/// Baseline `[futex]`: Drepper's mutex2.
pub fn futex(budget: &Budget) -> io::Result<Vec<Row>> {
    let map = shm::shared(4096)?;
    let m = FutexMutex::new(shm::u32_at(&map, 0));
    Ok(vec![measure(budget, "futex", |_| Ok(m))?])
}

/// Baseline `[pthread-robust]`: robust process-shared glibc mutex.
pub fn pthread_robust(budget: &Budget) -> io::Result<Vec<Row>> {
    let map = shm::shared(4096)?;
    let m = RobustPthreadMutex::init(&map, 0)?;
    Ok(vec![measure(budget, "pthread-robust", |_| Ok(&m))?])
}
