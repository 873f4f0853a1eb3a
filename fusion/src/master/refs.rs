//! Refs: distributed reference counters kept by the master.
//!
//! A ref has a *global* count (anonymous, survives whoever took it) and *local* counts kept
//! per fusionee, which the master drops when that fusionee leaves or dies — so nothing a dead
//! process held stays counted (DirectFB's kernel module did this for local counts only; it
//! never cleaned up global ones either, and neither do we: global means "owned by the world").
//! A ref may *inherit* another: its total includes the other's total. When a total reaches
//! zero, the *watch* (a call executed in its owner) fires, and a waiting *zero-lock* is granted.
//!
//! This module is plain state with no I/O: it returns what must happen ([`Fired`]) and the
//! master carries it out.

use std::collections::BTreeMap;

use crate::wire::{CallId, FusioneeId, ObjectId, RefId};
use crate::{Error, Result};

/// What a ref's watch does at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    /// Execute a call (one-way) with this argument.
    Call(CallId, i32),
    /// Destroy an object of the registry.
    Object(ObjectId),
}

#[derive(Debug)]
pub(crate) struct RefEntry {
    pub name: String,
    pub creator: FusioneeId,
    pub global: i64,
    pub local: BTreeMap<FusioneeId, i64>,
    pub zero_locked_by: Option<FusioneeId>,
    pub zero_waiters: Vec<(FusioneeId, u32)>,
    pub watch: Option<Watch>,
    pub inherits: Option<RefId>,
}

/// Something the master must do after a ref operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fired {
    /// A watch reached zero.
    Watch(RefId, Watch),
    /// A zero-lock waiter got the lock: reply `Unit` to (fusionee, serial).
    Granted(FusioneeId, u32),
}

/// All refs of a world.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    pub refs: BTreeMap<RefId, RefEntry>,
    next: RefId,
}

impl Refs {
    pub fn create(&mut self, name: &str, creator: FusioneeId) -> RefId {
        self.next = self.next.next();
        let id = self.next;
        self.refs.insert(
            id,
            RefEntry {
                name: name.to_string(),
                creator,
                global: 0,
                local: BTreeMap::new(),
                zero_locked_by: None,
                zero_waiters: Vec::new(),
                watch: None,
                inherits: None,
            },
        );
        id
    }

    fn get(&self, r: RefId) -> Result<&RefEntry> {
        self.refs
            .get(&r)
            .ok_or_else(|| Error::NotFound(format!("ref {r}")))
    }

    fn get_mut(&mut self, r: RefId) -> Result<&mut RefEntry> {
        self.refs
            .get_mut(&r)
            .ok_or_else(|| Error::NotFound(format!("ref {r}")))
    }

    /// The total count: global + locals + the inherited ref's total.
    pub fn total(&self, r: RefId) -> i64 {
        let mut sum = 0;
        let mut cur = Some(r);
        let mut hops = 0;
        while let Some(id) = cur {
            let Some(e) = self.refs.get(&id) else { break };
            sum += e.global + e.local.values().sum::<i64>();
            cur = e.inherits;
            hops += 1;
            if hops > 64 {
                break;
            }
        }
        sum
    }

    pub fn up(&mut self, r: RefId, who: FusioneeId, global: bool) -> Result<()> {
        let e = self.get_mut(r)?;
        if e.zero_locked_by.is_some() {
            return Err(Error::Locked);
        }
        if global {
            e.global += 1;
        } else {
            *e.local.entry(who).or_insert(0) += 1;
        }
        Ok(())
    }

    pub fn down(&mut self, r: RefId, who: FusioneeId, global: bool) -> Result<Vec<Fired>> {
        let e = self.get_mut(r)?;
        if e.zero_locked_by.is_some() {
            return Err(Error::Locked);
        }
        if global {
            if e.global <= 0 {
                return Err(Error::Invalid(format!(
                    "ref {r}: global count already zero"
                )));
            }
            e.global -= 1;
        } else {
            match e.local.get_mut(&who) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    if *n == 0 {
                        e.local.remove(&who);
                    }
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "ref {r}: fusionee {who} holds no local reference"
                    )))
                }
            }
        }
        Ok(self.check_zero(r))
    }

    /// After a count dropped: fire watches / grant zero-locks of `r` and its inheritors.
    fn check_zero(&mut self, r: RefId) -> Vec<Fired> {
        let mut out = Vec::new();
        let mut todo = vec![r];
        let mut seen = 0;
        while let Some(id) = todo.pop() {
            seen += 1;
            if seen > 256 {
                break;
            }
            if self.total(id) == 0 {
                if let Some(e) = self.refs.get_mut(&id) {
                    if e.zero_locked_by.is_none() && !e.zero_waiters.is_empty() {
                        let (who, serial) = e.zero_waiters.remove(0);
                        e.zero_locked_by = Some(who);
                        out.push(Fired::Granted(who, serial));
                    } else if let Some(w) = e.watch {
                        out.push(Fired::Watch(id, w));
                    }
                }
            }
            for (&other, e) in &self.refs {
                if e.inherits == Some(id) {
                    todo.push(other);
                }
            }
        }
        out
    }

    pub fn zero_trylock(&mut self, r: RefId, who: FusioneeId) -> Result<()> {
        let total = self.total(r);
        let e = self.get_mut(r)?;
        if e.zero_locked_by.is_some() {
            return Err(Error::Locked);
        }
        if total != 0 {
            return Err(Error::Busy);
        }
        e.zero_locked_by = Some(who);
        Ok(())
    }

    /// Zero-lock: `Ok(true)` when locked now, `Ok(false)` when queued (reply later).
    pub fn zero_lock(&mut self, r: RefId, who: FusioneeId, serial: u32) -> Result<bool> {
        match self.zero_trylock(r, who) {
            Ok(()) => Ok(true),
            Err(Error::Busy) | Err(Error::Locked) => {
                self.get_mut(r)?.zero_waiters.push((who, serial));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub fn unlock(&mut self, r: RefId, who: FusioneeId) -> Result<Vec<Fired>> {
        let e = self.get_mut(r)?;
        if e.zero_locked_by != Some(who) {
            return Err(Error::Access(format!(
                "ref {r} is not zero-locked by {who}"
            )));
        }
        e.zero_locked_by = None;
        Ok(self.check_zero_waiters_only(r))
    }

    fn check_zero_waiters_only(&mut self, r: RefId) -> Vec<Fired> {
        let total = self.total(r);
        let mut out = Vec::new();
        if let Some(e) = self.refs.get_mut(&r) {
            if total == 0 && !e.zero_waiters.is_empty() {
                let (who, serial) = e.zero_waiters.remove(0);
                e.zero_locked_by = Some(who);
                out.push(Fired::Granted(who, serial));
            }
        }
        out
    }

    pub fn watch(&mut self, r: RefId, who: FusioneeId, w: Watch) -> Result<()> {
        let e = self.get_mut(r)?;
        if e.creator != who {
            return Err(Error::Access(format!("only the creator may watch ref {r}")));
        }
        if e.watch.is_some() {
            return Err(Error::Busy);
        }
        e.watch = Some(w);
        Ok(())
    }

    pub fn inherit(&mut self, r: RefId, from: RefId) -> Result<()> {
        self.get(from)?;
        // Refuse cycles.
        let mut cur = Some(from);
        while let Some(id) = cur {
            if id == r {
                return Err(Error::Invalid("ref inheritance cycle".into()));
            }
            cur = self.refs.get(&id).and_then(|e| e.inherits);
        }
        let e = self.get_mut(r)?;
        if e.inherits.is_some() {
            return Err(Error::Busy);
        }
        e.inherits = Some(from);
        Ok(())
    }

    pub fn destroy(
        &mut self,
        r: RefId,
        who: FusioneeId,
        is_master: bool,
    ) -> Result<Vec<(FusioneeId, u32)>> {
        let e = self.get(r)?;
        if e.creator != who && !is_master {
            return Err(Error::Access(format!("ref {r} belongs to {}", e.creator)));
        }
        let e = self.refs.remove(&r).expect("checked");
        for other in self.refs.values_mut() {
            if other.inherits == Some(r) {
                other.inherits = None;
            }
        }
        Ok(e.zero_waiters)
    }

    /// Drops everything `dead` held: local counts, zero-locks, queued zero-lock waits.
    pub fn fusionee_gone(&mut self, dead: FusioneeId) -> Vec<Fired> {
        let mut touched = Vec::new();
        for (&id, e) in self.refs.iter_mut() {
            let mut t = false;
            if e.local.remove(&dead).is_some() {
                t = true;
            }
            if e.zero_locked_by == Some(dead) {
                e.zero_locked_by = None;
                t = true;
            }
            e.zero_waiters.retain(|(w, _)| *w != dead);
            if t {
                touched.push(id);
            }
        }
        let mut out = Vec::new();
        for id in touched {
            for f in self.check_zero(id) {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_counts_die_with_their_holder() {
        let mut refs = Refs::default();
        let r = refs.create("r", FusioneeId(1));
        refs.watch(r, FusioneeId(1), Watch::Call(CallId(9), 42))
            .unwrap();
        refs.up(r, FusioneeId(2), false).unwrap();
        refs.up(r, FusioneeId(3), false).unwrap();
        refs.up(r, FusioneeId(3), false).unwrap();
        assert_eq!(refs.total(r), 3);
        assert!(refs.fusionee_gone(FusioneeId(3)).is_empty());
        assert_eq!(refs.total(r), 1);
        assert_eq!(
            refs.fusionee_gone(FusioneeId(2)),
            vec![Fired::Watch(r, Watch::Call(CallId(9), 42))]
        );
    }

    #[test]
    fn down_below_zero_and_foreign_down_refused() {
        let mut refs = Refs::default();
        let r = refs.create("r", FusioneeId(1));
        assert!(refs.down(r, FusioneeId(2), false).is_err());
        assert!(refs.down(r, FusioneeId(2), true).is_err());
        refs.up(r, FusioneeId(2), false).unwrap();
        assert!(refs.down(r, FusioneeId(3), false).is_err());
        assert_eq!(refs.total(r), 1);
    }

    #[test]
    fn zero_lock_waits_and_blocks_up() {
        let mut refs = Refs::default();
        let r = refs.create("r", FusioneeId(1));
        refs.up(r, FusioneeId(2), true).unwrap();
        assert_eq!(refs.zero_trylock(r, FusioneeId(5)), Err(Error::Busy));
        assert!(!refs.zero_lock(r, FusioneeId(5), 77).unwrap());
        assert_eq!(
            refs.down(r, FusioneeId(2), true).unwrap(),
            vec![Fired::Granted(FusioneeId(5), 77)]
        );
        assert_eq!(refs.up(r, FusioneeId(2), true), Err(Error::Locked));
        refs.unlock(r, FusioneeId(5)).unwrap();
        refs.up(r, FusioneeId(2), true).unwrap();
    }

    #[test]
    fn inheritance_counts_and_fires() {
        let mut refs = Refs::default();
        let surface = refs.create("surface", FusioneeId(1));
        let window = refs.create("window", FusioneeId(1));
        refs.watch(surface, FusioneeId(1), Watch::Object(ObjectId(4)))
            .unwrap();
        refs.inherit(surface, window).unwrap();
        assert!(refs.inherit(window, surface).is_err());
        refs.up(window, FusioneeId(7), false).unwrap();
        assert_eq!(refs.total(surface), 1);
        let fired = refs.fusionee_gone(FusioneeId(7));
        assert!(fired.contains(&Fired::Watch(surface, Watch::Object(ObjectId(4)))));
    }
}
