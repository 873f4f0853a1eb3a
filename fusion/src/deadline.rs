//! Waiting with a limit: the loop behind `dispatch_until` of masters and slaves.

use std::time::{Duration, Instant};

use crate::Result;

/// Longest single wait inside [`run_until`], so `done` is checked often.
const SLICE: Duration = Duration::from_millis(50);

/// Calls `step` (which may wait up to the duration it is given) until `done` says so or
/// `limit` passes; `Ok(false)` on time-out.
pub(crate) fn run_until<T>(
    t: &mut T,
    limit: Duration,
    mut done: impl FnMut(&mut T) -> bool,
    mut step: impl FnMut(&mut T, Duration) -> Result<()>,
) -> Result<bool> {
    let end = Instant::now() + limit;
    loop {
        if done(t) {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(false);
        }
        step(t, (end - now).min(SLICE))?;
    }
}
