//! Properties: lease (short hold) and purchase (long hold), DirectFB's arbitration primitive.
//!
//! States: available → leased or purchased; both re-entrant for their holder. A lease waits
//! while someone else leases; if the property is purchased it waits at most 100 ms past the
//! purchase, then gives `Busy`. A purchase waits while leased; if purchased by someone else
//! it waits at most 1 s, then `Busy`. Cede makes it available and wakes the waiters. Holdup
//! (master only) takes it back from a purchaser, who is killed. A dead fusionee's holds are
//! ceded. Plain state with no I/O: waits are queued here and answered by the master.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::wire::{FusioneeId, PropertyId};
use crate::{Error, Result};

/// How long a lease waits for a purchaser (DirectFB: 100 ms).
pub const LEASE_WAIT: Duration = Duration::from_millis(100);
/// How long a purchase waits for another purchaser (DirectFB: 1 s).
pub const PURCHASE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    Available,
    Leased(FusioneeId, u32),
    Purchased(FusioneeId, u32, Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Lease,
    Purchase,
}

#[derive(Debug)]
pub(crate) struct Waiter {
    pub who: FusioneeId,
    pub serial: u32,
    pub want: Want,
    pub deadline: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct PropEntry {
    pub name: String,
    pub creator: FusioneeId,
    pub hold: Hold,
    pub waiters: Vec<Waiter>,
}

/// The outcome of a lease or purchase.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// Held now.
    Now,
    /// Queued: answer later.
    Queued,
}

/// Replies the master owes: (fusionee, serial, result).
pub(crate) type Answers = Vec<(FusioneeId, u32, Result<()>)>;

/// All properties of a world.
#[derive(Debug, Default)]
pub(crate) struct Properties {
    pub props: BTreeMap<PropertyId, PropEntry>,
    next: PropertyId,
}

impl Properties {
    pub fn create(&mut self, name: &str, creator: FusioneeId) -> PropertyId {
        self.next = self.next.next();
        self.props.insert(
            self.next,
            PropEntry {
                name: name.into(),
                creator,
                hold: Hold::Available,
                waiters: Vec::new(),
            },
        );
        self.next
    }

    fn try_take(p: &mut PropEntry, who: FusioneeId, want: Want, now: Instant) -> Result<bool> {
        match (p.hold, want) {
            (Hold::Available, Want::Lease) => p.hold = Hold::Leased(who, 1),
            (Hold::Available, Want::Purchase) => p.hold = Hold::Purchased(who, 1, now),
            (Hold::Leased(o, n), Want::Lease) if o == who => p.hold = Hold::Leased(o, n + 1),
            (Hold::Purchased(o, n, t), _) if o == who => p.hold = Hold::Purchased(o, n + 1, t),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Lease or purchase; queues the caller if it must wait.
    pub fn acquire(
        &mut self,
        id: PropertyId,
        who: FusioneeId,
        serial: u32,
        want: Want,
        now: Instant,
    ) -> Result<Got> {
        let p = self
            .props
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("property {id}")))?;
        if Self::try_take(p, who, want, now)? {
            return Ok(Got::Now);
        }
        let deadline = match (p.hold, want) {
            (Hold::Purchased(_, _, t), Want::Lease) => Some((t + LEASE_WAIT).max(now)),
            (Hold::Purchased(..), Want::Purchase) => Some(now + PURCHASE_WAIT),
            _ => None,
        };
        if deadline.is_some_and(|d| d <= now) {
            return Err(Error::Busy);
        }
        p.waiters.push(Waiter {
            who,
            serial,
            want,
            deadline,
        });
        Ok(Got::Queued)
    }

    pub fn cede(&mut self, id: PropertyId, who: FusioneeId, now: Instant) -> Result<Answers> {
        let p = self
            .props
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("property {id}")))?;
        match p.hold {
            Hold::Leased(o, n) | Hold::Purchased(o, n, _) if o == who => {
                if n > 1 {
                    p.hold = match p.hold {
                        Hold::Leased(..) => Hold::Leased(o, n - 1),
                        Hold::Purchased(_, _, t) => Hold::Purchased(o, n - 1, t),
                        Hold::Available => Hold::Available,
                    };
                    return Ok(Vec::new());
                }
                p.hold = Hold::Available;
            }
            _ => return Err(Error::Access(format!("property {id} is not held by {who}"))),
        }
        Ok(Self::serve(p, now))
    }

    /// Master only: takes a purchased property back; returns the purchaser to kill.
    pub fn holdup(
        &mut self,
        id: PropertyId,
        now: Instant,
    ) -> Result<(Option<FusioneeId>, Answers)> {
        let p = self
            .props
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("property {id}")))?;
        let victim = match p.hold {
            Hold::Purchased(o, ..) => Some(o),
            _ => None,
        };
        if victim.is_some() {
            p.hold = Hold::Available;
        }
        Ok((victim, Self::serve(p, now)))
    }

    /// Hands the property to waiters that can have it now, in order.
    fn serve(p: &mut PropEntry, now: Instant) -> Answers {
        let mut out = Vec::new();
        let mut i = 0;
        while i < p.waiters.len() {
            let w = &p.waiters[i];
            if Self::try_take(p, w.who, w.want, now).unwrap_or(false) {
                let w = p.waiters.remove(i);
                out.push((w.who, w.serial, Ok(())));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Expires waits whose deadline passed; returns `Busy` answers.
    pub fn expire(&mut self, now: Instant) -> Answers {
        let mut out = Vec::new();
        for p in self.props.values_mut() {
            p.waiters.retain(|w| {
                if w.deadline.is_some_and(|d| d <= now) {
                    out.push((w.who, w.serial, Err(Error::Busy)));
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    /// The earliest wait deadline, for the master's poll timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.props
            .values()
            .flat_map(|p| p.waiters.iter().filter_map(|w| w.deadline))
            .min()
    }

    pub fn destroy(&mut self, id: PropertyId, who: FusioneeId, is_master: bool) -> Result<Answers> {
        let p = self
            .props
            .get(&id)
            .ok_or_else(|| Error::NotFound(format!("property {id}")))?;
        if p.creator != who && !is_master {
            return Err(Error::Access(format!(
                "property {id} belongs to {}",
                p.creator
            )));
        }
        let p = self.props.remove(&id).expect("checked");
        Ok(p.waiters
            .into_iter()
            .map(|w| (w.who, w.serial, Err(Error::Destroyed)))
            .collect())
    }

    /// Cedes everything `dead` held and drops its waits.
    pub fn fusionee_gone(&mut self, dead: FusioneeId, now: Instant) -> Answers {
        let mut out = Vec::new();
        for p in self.props.values_mut() {
            p.waiters.retain(|w| w.who != dead);
            if matches!(p.hold, Hold::Leased(o, _) | Hold::Purchased(o, _, _) if o == dead) {
                p.hold = Hold::Available;
                out.extend(Self::serve(p, now));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_purchase_cede() {
        let mut ps = Properties::default();
        let t = Instant::now();
        let p = ps.create("p", FusioneeId(1));
        assert_eq!(
            ps.acquire(p, FusioneeId(2), 1, Want::Lease, t).unwrap(),
            Got::Now
        );
        assert_eq!(
            ps.acquire(p, FusioneeId(2), 2, Want::Lease, t).unwrap(),
            Got::Now
        );
        assert_eq!(
            ps.acquire(p, FusioneeId(3), 3, Want::Purchase, t).unwrap(),
            Got::Queued
        );
        assert!(ps.cede(p, FusioneeId(2), t).unwrap().is_empty());
        assert_eq!(
            ps.cede(p, FusioneeId(2), t).unwrap(),
            vec![(FusioneeId(3), 3, Ok(()))]
        );
        // Purchased by 3: a lease waits at most 100 ms past the purchase.
        assert_eq!(
            ps.acquire(p, FusioneeId(4), 4, Want::Lease, t).unwrap(),
            Got::Queued
        );
        assert_eq!(ps.next_deadline(), Some(t + LEASE_WAIT));
        assert_eq!(
            ps.expire(t + LEASE_WAIT),
            vec![(FusioneeId(4), 4, Err(Error::Busy))]
        );
        assert!(ps.cede(p, FusioneeId(4), t).is_err());
    }

    #[test]
    fn death_cedes_and_holdup_names_the_victim() {
        let mut ps = Properties::default();
        let t = Instant::now();
        let p = ps.create("p", FusioneeId(1));
        ps.acquire(p, FusioneeId(2), 1, Want::Purchase, t).unwrap();
        assert_eq!(
            ps.acquire(p, FusioneeId(3), 9, Want::Purchase, t).unwrap(),
            Got::Queued
        );
        assert_eq!(
            ps.fusionee_gone(FusioneeId(2), t),
            vec![(FusioneeId(3), 9, Ok(()))]
        );
        let (victim, _) = ps.holdup(p, t).unwrap();
        assert_eq!(victim, Some(FusioneeId(3)));
    }
}
