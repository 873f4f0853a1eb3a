//! Waiting with a limit: the loop behind every `dispatch_until` (master, slave, and the
//! display server built on them).

use std::time::{Duration, Instant};

/// Calls `step` (which may wait up to the duration it is given, at most `slice`) until
/// `done` says so or `limit` passes; `Ok(false)` on time-out.
pub fn run_until<T, E>(
    t: &mut T,
    limit: Duration,
    slice: Duration,
    mut done: impl FnMut(&mut T) -> bool,
    mut step: impl FnMut(&mut T, Duration) -> Result<(), E>,
) -> Result<bool, E> {
    let end = Instant::now() + limit;
    loop {
        if done(t) {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(false);
        }
        step(t, (end - now).min(slice))?;
    }
}
