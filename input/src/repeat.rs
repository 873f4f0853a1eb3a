//! Key repeat scheduling: which held key repeats when. Pure bookkeeping on `CLOCK_MONOTONIC`
//! nanoseconds; the [`crate::InputSource`] arms a timerfd at [`Repeat::deadline`].
//!
//! As on every desktop: the last key pressed (if its keymap says it repeats) repeats after
//! `delay`, then `rate` times a second, until it is released or another key is pressed. A
//! timer that fires late produces the repeats it missed, with the times they were due (capped,
//! so a stalled master does not flood the focused window).

/// Most repeats produced by one late timer.
const MAX_CATCH_UP: usize = 8;

/// The repeat state of one keyboard seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    delay_ns: u64,
    interval_ns: Option<u64>,
    held: Option<(u32, u64)>,
}

impl Repeat {
    /// Repeat after `delay_ms`, then `rate` times a second (0: never).
    pub fn new(delay_ms: u32, rate: u32) -> Self {
        Repeat {
            delay_ns: delay_ms as u64 * 1_000_000,
            interval_ns: (rate > 0).then(|| 1_000_000_000 / rate as u64),
            held: None,
        }
    }

    /// A key went down at `time_ns`; `repeats` says whether the keymap lets it repeat.
    pub fn press(&mut self, key: u32, repeats: bool, time_ns: u64) {
        self.held = (repeats && self.interval_ns.is_some())
            .then_some((key, time_ns.saturating_add(self.delay_ns)));
    }

    /// A key went up.
    pub fn release(&mut self, key: u32) {
        if self.held.is_some_and(|(k, _)| k == key) {
            self.held = None;
        }
    }

    /// When the next repeat is due.
    pub fn deadline(&self) -> Option<u64> {
        self.held.map(|(_, at)| at)
    }

    /// The repeats due at `now_ns`: `(key, time due)`, oldest first.
    pub fn due(&mut self, now_ns: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let (Some((key, mut at)), Some(interval)) = (self.held, self.interval_ns) else {
            return out;
        };
        while at <= now_ns {
            if out.len() < MAX_CATCH_UP {
                out.push((key, at));
            }
            at += interval;
        }
        self.held = Some((key, at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn repeats_after_the_delay_at_the_rate_until_released() {
        let mut r = Repeat::new(600, 25);
        r.press(30, true, 1000 * MS);
        assert_eq!(r.deadline(), Some(1600 * MS));
        assert!(r.due(1599 * MS).is_empty());
        assert_eq!(r.due(1600 * MS), vec![(30, 1600 * MS)]);
        assert_eq!(r.deadline(), Some(1640 * MS));
        // A late timer catches up with the times the repeats were due.
        assert_eq!(
            r.due(1721 * MS),
            vec![(30, 1640 * MS), (30, 1680 * MS), (30, 1720 * MS)]
        );
        r.release(31);
        assert!(
            r.deadline().is_some(),
            "another key's release changes nothing"
        );
        r.release(30);
        assert_eq!(r.deadline(), None);
        assert!(r.due(9000 * MS).is_empty());
    }

    #[test]
    fn a_new_key_takes_over_and_non_repeating_keys_or_rate_zero_never_repeat() {
        let mut r = Repeat::new(500, 10);
        r.press(30, true, 0);
        r.press(31, true, 100 * MS);
        assert_eq!(r.due(600 * MS), vec![(31, 600 * MS)]);
        r.press(42, false, 700 * MS); // a modifier: stops the repeat
        assert_eq!(r.deadline(), None);
        let mut off = Repeat::new(500, 0);
        off.press(30, true, 0);
        assert_eq!(off.deadline(), None);
    }

    #[test]
    fn a_stalled_timer_is_capped() {
        let mut r = Repeat::new(0, 1000);
        r.press(30, true, 0);
        assert_eq!(r.due(10_000 * MS).len(), MAX_CATCH_UP);
        assert!(r.deadline().unwrap() > 10_000 * MS);
    }
}
