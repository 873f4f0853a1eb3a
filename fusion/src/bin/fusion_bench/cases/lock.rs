//! Case `lock`: uncontended lock+unlock in one process (batched, per pair).

use std::io;

use crate::fusion_bench::locks::{BenchLock, FutexMutex, RobustPthreadMutex};
use crate::fusion_bench::shm;
use crate::fusion_bench::stats::{time_batches, Budget, Row};

/// The case name on the rows.
pub const CASE: &str = "lock";

/// Measures `lock` + `unlock` of `l` with nobody else around.
pub fn uncontended<L: BenchLock>(budget: &Budget, variant: &str, l: &L) -> io::Result<Row> {
    let batch = 1000;
    let samples = budget.pick(2000, 200);
    let stats = time_batches(budget, samples, batch, || {
        l.lock()?;
        l.unlock();
        Ok(())
    })?;
    Ok(Row::new(CASE, variant, stats, batch as u64))
}

/// Baseline `[futex]`: Drepper's mutex2 on a word in shared memory.
pub fn futex(budget: &Budget) -> io::Result<Vec<Row>> {
    let map = shm::shared(4096)?;
    let m = FutexMutex::new(shm::u32_at(&map, 0));
    Ok(vec![uncontended(budget, "futex", &m)?])
}

/// Baseline `[pthread-robust]`: a robust, process-shared glibc mutex in shared memory.
pub fn pthread_robust(budget: &Budget) -> io::Result<Vec<Row>> {
    let map = shm::shared(4096)?;
    let m = RobustPthreadMutex::init(&map, 0)?;
    Ok(vec![uncontended(budget, "pthread-robust", &m)?])
}
