//! The page-flip watchdog: notices a flip whose completion event has not come.
//!
//! A commit arms it; the flip's event disarms it. If the event is late by
//! [`Watchdog::limit_ns`] (ten refresh intervals, at least 500 ms) the backend reports
//! [`crate::BackendEvent::Stuck`] — once per flip — instead of waiting forever; the flip may
//! still complete later (then it is reported as usual), or the compositor may commit again,
//! which abandons the stuck flip and modesets afresh. Pure logic on `CLOCK_MONOTONIC`
//! nanoseconds, unit-tested here.

use std::time::Duration;

/// The shortest time a flip may take before it counts as stuck.
pub const MIN_LIMIT: Duration = Duration::from_millis(500);

/// How many refresh intervals a flip may take before it counts as stuck.
pub const INTERVALS: u64 = 10;

/// One output's watchdog.
#[derive(Debug, Clone, Default)]
pub struct Watchdog {
    armed_at: Option<u64>,
    limit_ns: u64,
    reported: bool,
}

impl Watchdog {
    /// The limit for a refresh interval of `refresh_ns`.
    pub fn limit_ns(refresh_ns: u64) -> u64 {
        (refresh_ns.saturating_mul(INTERVALS)).max(MIN_LIMIT.as_nanos() as u64)
    }

    /// A flip was queued at `now_ns`; returns when to look again (the deadline).
    pub fn arm(&mut self, now_ns: u64, refresh_ns: u64) -> u64 {
        self.limit_ns = Self::limit_ns(refresh_ns);
        self.armed_at = Some(now_ns);
        self.reported = false;
        now_ns + self.limit_ns
    }

    /// The flip completed (or was abandoned). Returns how long it had been stuck, if it had
    /// been reported stuck, so the backend can log the recovery.
    pub fn disarm(&mut self, now_ns: u64) -> Option<Duration> {
        let at = self.armed_at.take()?;
        std::mem::take(&mut self.reported).then(|| Duration::from_nanos(now_ns - at))
    }

    /// Whether the flip is overdue at `now_ns` and not reported yet: returns how long it has
    /// waited, once.
    pub fn check(&mut self, now_ns: u64) -> Option<Duration> {
        let at = self.armed_at?;
        let waited = now_ns.saturating_sub(at);
        if self.reported || waited < self.limit_ns {
            return None;
        }
        self.reported = true;
        Some(Duration::from_nanos(waited))
    }

    /// When the armed flip becomes overdue (`None` when unarmed or already reported).
    pub fn deadline_ns(&self) -> Option<u64> {
        let at = self.armed_at?;
        (!self.reported).then_some(at + self.limit_ns)
    }

    /// Whether the armed flip has been reported stuck.
    pub fn is_stuck(&self) -> bool {
        self.armed_at.is_some() && self.reported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn limit_is_ten_intervals_at_least_half_a_second() {
        assert_eq!(Watchdog::limit_ns(16_666_667), 500 * MS);
        assert_eq!(Watchdog::limit_ns(100 * MS), 1000 * MS);
        assert_eq!(Watchdog::limit_ns(0), 500 * MS);
    }

    #[test]
    fn reports_once_then_recovers() {
        let mut w = Watchdog::default();
        assert_eq!(w.check(10 * MS), None, "unarmed");
        let deadline = w.arm(1000 * MS, 16 * MS);
        assert_eq!(deadline, 1500 * MS);
        assert_eq!(w.deadline_ns(), Some(1500 * MS));
        assert_eq!(w.check(1499 * MS), None);
        assert_eq!(w.check(1600 * MS), Some(Duration::from_millis(600)));
        assert!(w.is_stuck());
        assert_eq!(w.deadline_ns(), None, "nothing more to wake up for");
        assert_eq!(w.check(2000 * MS), None, "reported once");
        assert_eq!(w.disarm(2500 * MS), Some(Duration::from_millis(1500)));
        assert!(!w.is_stuck());
        assert_eq!(w.check(9000 * MS), None, "disarmed");
    }

    #[test]
    fn a_timely_flip_is_no_recovery() {
        let mut w = Watchdog::default();
        w.arm(0, 16 * MS);
        assert_eq!(w.check(16 * MS), None);
        assert_eq!(w.disarm(17 * MS), None);
        // Re-arming clears an old report.
        w.arm(0, 16 * MS);
        assert!(w.check(600 * MS).is_some());
        w.arm(700 * MS, 16 * MS);
        assert!(!w.is_stuck());
    }
}
