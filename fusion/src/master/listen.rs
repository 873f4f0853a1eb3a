//! Listening to a slave's call slot after answering it: how long is worth it.
//!
//! A slave that makes calls back to back (a client setting up, a benchmark, an application
//! answering input) posts its next request a microsecond or two after it got the last
//! answer. Sleeping in the poller in between costs the slave a doorbell (an eventfd write)
//! and the master a wake-up, several microseconds each way; watching the slot instead costs
//! neither ([`crate::slot::listen`]). Watching only pays, though, while the slave runs on
//! another core: on a machine with one CPU, or when the slave was descheduled, the master
//! burns its budget for nothing and keeps the slave's core busy too.
//!
//! So the budget adapts per slave: it starts at [`START`]; a hit (the next request came
//! while watching) sets it to four times the gap seen, within [`START`]..=[`MAX`]; [`MISSES`]
//! misses in a row turn watching off for the next [`COOLDOWN`] calls, after which it is
//! tried again. On a machine with one CPU it never watches. Written by hand: this is the
//! policy of an adaptive mutex (glibc's `PTHREAD_MUTEX_ADAPTIVE_NP`), applied to a slot.

use std::time::Duration;

/// The budget a slave starts with, and gets again after a cool-down.
pub const START: Duration = Duration::from_micros(10);
/// The largest budget.
pub const MAX: Duration = Duration::from_micros(40);
/// Misses in a row that stop the watching.
pub const MISSES: u32 = 3;
/// Calls served without watching after [`MISSES`] misses.
pub const COOLDOWN: u32 = 64;

/// One slave's listening budget.
#[derive(Debug, Clone)]
pub struct Listen {
    budget: Duration,
    misses: u32,
    cooldown: u32,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            budget: START,
            misses: 0,
            cooldown: 0,
        }
    }
}

/// Whether the machine has more than one CPU online (else watching never pays; a master
/// pinned to one CPU may still serve a slave on another, so not its affinity).
fn several_cpus() -> bool {
    static SEVERAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEVERAL.get_or_init(|| crate::sys::online_cpus() > 1)
}

impl Listen {
    /// How long to watch after this call (zero: not at all); counts a call served.
    pub fn budget(&mut self) -> Duration {
        if !several_cpus() {
            return Duration::ZERO;
        }
        if self.cooldown > 0 {
            self.cooldown -= 1;
            if self.cooldown == 0 {
                self.budget = START;
                self.misses = 0;
            }
            return Duration::ZERO;
        }
        self.budget
    }

    /// The next request came `after` watching began.
    pub fn hit(&mut self, after: Duration) {
        self.misses = 0;
        self.budget = (after * 4).clamp(START, MAX);
    }

    /// Nothing came within the budget.
    pub fn miss(&mut self) {
        self.misses += 1;
        if self.misses >= MISSES {
            self.cooldown = COOLDOWN;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_keep_it_watching_and_misses_cool_it_down() {
        let mut l = Listen::default();
        if !several_cpus() {
            assert_eq!(l.budget(), Duration::ZERO);
            return;
        }
        assert_eq!(l.budget(), START);
        l.hit(Duration::from_micros(1));
        assert_eq!(l.budget(), START, "a quick hit keeps the budget");
        l.hit(Duration::from_micros(30));
        assert_eq!(l.budget(), MAX, "a late hit widens it, up to MAX");
        l.hit(Duration::from_micros(1));
        assert_eq!(l.budget(), START, "a quick hit narrows it again");
        l.hit(Duration::from_micros(30));
        for _ in 0..MISSES {
            l.miss();
        }
        for _ in 0..COOLDOWN {
            assert_eq!(l.budget(), Duration::ZERO);
        }
        assert_eq!(l.budget(), START, "tried again after the cool-down");
        l.miss();
        l.hit(Duration::from_micros(1));
        l.miss();
        l.miss();
        assert_eq!(l.budget(), START, "misses count only in a row");
    }
}
