//! Software vblank pacing, shared by the backends that have no vblank event of their own
//! (`headless`, `fbdev` without `FBIO_WAITFORVSYNC`, `window`): a [`VblankClock`] that says
//! when vblank `k` falls, and a `timerfd` ([`Timer`]) armed for the next deadline, which is the
//! backend's pollable fd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

use crate::backend::Error;

/// Vblank `k` of the current mode falls at `epoch_ns + k * period_ns` and has counter
/// `base_seq + k`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VblankClock {
    pub(crate) epoch_ns: u64,
    pub(crate) period_ns: u64,
    pub(crate) base_seq: u64,
}

impl VblankClock {
    /// A clock ticking every `period_ns` (at least 1) from `now`, counter 0.
    pub(crate) fn new(now: u64, period_ns: u64) -> VblankClock {
        VblankClock {
            epoch_ns: now,
            period_ns: period_ns.max(1),
            base_seq: 0,
        }
    }

    /// The same counter, ticking every `period_ns` from `now` on (a mode change).
    pub(crate) fn retime(&mut self, now: u64, period_ns: u64) {
        let k = self.last_k(now);
        *self = VblankClock {
            epoch_ns: now,
            period_ns: period_ns.max(1),
            base_seq: self.base_seq + k,
        };
    }

    /// Index (relative to the epoch) of the last vblank at or before `t`.
    pub(crate) fn last_k(&self, t: u64) -> u64 {
        t.saturating_sub(self.epoch_ns) / self.period_ns
    }

    /// The first vblank strictly after `t`: (counter, time).
    pub(crate) fn next_after(&self, t: u64) -> (u64, u64) {
        let k = self.last_k(t) + 1;
        (self.base_seq + k, self.epoch_ns + k * self.period_ns)
    }
}

/// A non-blocking `CLOCK_MONOTONIC` timerfd armed at absolute deadlines.
#[derive(Debug)]
pub(crate) struct Timer(OwnedFd);

impl Timer {
    pub(crate) fn new() -> Result<Timer, Error> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        Ok(Timer(fd))
    }

    /// Fires once at `deadline_ns` (`CLOCK_MONOTONIC`), or never with `None`.
    pub(crate) fn arm(&self, deadline_ns: Option<u64>) -> Result<(), Error> {
        let ts = |ns: u64| Timespec {
            tv_sec: (ns / 1_000_000_000) as _,
            tv_nsec: (ns % 1_000_000_000) as _,
        };
        let spec = Itimerspec {
            it_interval: ts(0),
            // 0 disarms; a deadline is never 0 on CLOCK_MONOTONIC.
            it_value: ts(deadline_ns.map_or(0, |ns| ns.max(1))),
        };
        rustix::time::timerfd_settime(&self.0, TimerfdTimerFlags::ABSTIME, &spec)
            .map_err(std::io::Error::from)?;
        Ok(())
    }

    /// Reads the expiry count so the fd is no longer readable.
    pub(crate) fn drain(&self) -> Result<(), Error> {
        let mut ticks = [0u8; 8];
        match rustix::io::read(&self.0, &mut ticks) {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(std::io::Error::from(e).into()),
        }
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_counts_vblanks_across_a_retime() {
        let mut c = VblankClock::new(1_000, 100);
        assert_eq!(c.next_after(1_000), (1, 1_100));
        assert_eq!(c.next_after(1_099), (1, 1_100));
        assert_eq!(c.next_after(1_100), (2, 1_200));
        c.retime(1_350, 50);
        assert_eq!(c.next_after(1_350), (4, 1_400));
    }
}
