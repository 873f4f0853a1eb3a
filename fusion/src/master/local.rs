//! The master's own use of refs, properties and arenas (what slaves reach through requests),
//! and the world snapshot.

use std::time::Instant;

use super::property::{Got, Want};
use super::{refs, Master, LOCK_POOL};
use crate::status::{
    ArenaInfo, CallInfo, FusioneeInfo, PropertyInfo, ReactorInfo, RefInfo, WorldSnapshot,
};
use crate::wire::{CallId, FusioneeId, PropertyId, RefId, MASTER_ID};
use crate::{Error, Result};

impl Master {
    /// Creates a ref.
    pub fn ref_create(&mut self, name: &str) -> RefId {
        self.refs.create(name, MASTER_ID)
    }

    /// Increases a ref on behalf of the master (local counts of the master live as long
    /// as the world).
    pub fn ref_up(&mut self, r: RefId, global: bool) -> Result<()> {
        self.refs.up(r, MASTER_ID, global)
    }

    /// Decreases a ref.
    pub fn ref_down(&mut self, r: RefId, global: bool) -> Result<()> {
        let fired = self.refs.down(r, MASTER_ID, global)?;
        self.carry_out(fired);
        Ok(())
    }

    /// A ref's total count.
    pub fn ref_stat(&self, r: RefId) -> Result<i64> {
        if !self.refs.refs.contains_key(&r) {
            return Err(Error::NotFound(format!("ref {r}")));
        }
        Ok(self.refs.total(r))
    }

    /// Executes `call` with `arg` when `r` reaches zero.
    pub fn ref_watch(&mut self, r: RefId, call: CallId, arg: i32) -> Result<()> {
        self.refs.watch(r, MASTER_ID, refs::Watch::Call(call, arg))
    }

    /// Counts `from`'s references in `r` too.
    pub fn ref_inherit(&mut self, r: RefId, from: RefId) -> Result<()> {
        self.refs.inherit(r, from)
    }

    /// Locks `r` if its count is zero.
    pub fn ref_zero_trylock(&mut self, r: RefId) -> Result<()> {
        self.refs.zero_trylock(r, MASTER_ID)
    }

    /// Unlocks a zero-locked ref.
    pub fn ref_unlock(&mut self, r: RefId) -> Result<()> {
        let fired = self.refs.unlock(r, MASTER_ID)?;
        self.carry_out(fired);
        Ok(())
    }

    /// Creates a property.
    pub fn property_create(&mut self, name: &str) -> PropertyId {
        self.properties.create(name, MASTER_ID)
    }

    /// Leases a property without waiting (`Busy` if it would have to wait).
    pub fn property_lease(&mut self, p: PropertyId) -> Result<()> {
        self.property_take(p, Want::Lease)
    }

    /// Purchases a property without waiting (`Busy` if it would have to wait).
    pub fn property_purchase(&mut self, p: PropertyId) -> Result<()> {
        self.property_take(p, Want::Purchase)
    }

    fn property_take(&mut self, p: PropertyId, want: Want) -> Result<()> {
        // The master never blocks its loop: a wait becomes Busy at once.
        match self
            .properties
            .acquire(p, MASTER_ID, 0, want, Instant::now())?
        {
            Got::Now => Ok(()),
            Got::Queued => {
                if let Some(e) = self.properties.props.get_mut(&p) {
                    e.waiters.retain(|w| w.who != MASTER_ID);
                }
                Err(Error::Busy)
            }
        }
    }

    /// Cedes a property the master holds.
    pub fn property_cede(&mut self, p: PropertyId) -> Result<()> {
        let answers = self.properties.cede(p, MASTER_ID, Instant::now())?;
        self.answer(answers);
        Ok(())
    }

    /// Takes a purchased property back; the purchaser is killed (DirectFB's holdup).
    pub fn property_holdup(&mut self, p: PropertyId) -> Result<Option<FusioneeId>> {
        let (victim, answers) = self.properties.holdup(p, Instant::now())?;
        if let Some(v) = victim {
            if let Some(c) = self.conns.get(&v) {
                tracing::warn!(fusionee = %v, property = %p, "holdup: killing the purchaser");
                c.kill();
            }
        }
        self.answer(answers);
        Ok(victim)
    }

    /// Enters an arena as the master; `Ok(true)` when first. The master never waits: an
    /// arena being initialised by a slave gives `Busy`.
    pub fn arena_enter(&mut self, name: &str) -> Result<bool> {
        match self.arenas.enter(name, MASTER_ID, 0)? {
            Some(first) => Ok(first),
            None => {
                if let Some(a) = self.arenas.arenas.get_mut(name) {
                    a.waiters.retain(|(w, _)| *w != MASTER_ID);
                }
                Err(Error::Busy)
            }
        }
    }

    /// Marks an arena the master initialised as ready.
    pub fn arena_ready(&mut self, name: &str) -> Result<()> {
        for (w, s, first) in self.arenas.ready(name, MASTER_ID)? {
            self.reply(w, s, Ok(crate::wire::Response::Bool(first)));
        }
        Ok(())
    }

    /// Sets a shared field of an arena the master entered.
    pub fn arena_set_field(&mut self, arena: &str, field: &str, value: Vec<u8>) -> Result<()> {
        self.arenas.set_field(arena, MASTER_ID, field, value)
    }

    /// Reads a shared field.
    pub fn arena_get_field(&self, arena: &str, field: &str) -> Result<Vec<u8>> {
        self.arenas.get_field(arena, field)
    }

    /// The whole world as it is now: what `/proc/fusion` showed for DirectFB.
    pub fn snapshot(&self) -> WorldSnapshot {
        let now = Instant::now();
        let mut fusionees = vec![FusioneeInfo {
            id: MASTER_ID,
            pid: self.pid(),
            uid: rustix::process::getuid().as_raw(),
            exe: crate::sys::exe_of(self.pid()),
            name: "master".into(),
            role: "master".into(),
            joined_ms: self.uptime().as_millis() as u64,
            reactor_attachments: 0,
            calls_pending: 0,
        }];
        for c in self.conns.values() {
            fusionees.push(FusioneeInfo {
                id: c.id,
                pid: c.cred.pid,
                uid: c.cred.uid,
                exe: c.exe.clone(),
                name: c.name.clone(),
                role: format!("slave (API {}.{})", crate::wire::API_MAJOR, c.api_minor),
                joined_ms: now.duration_since(c.joined).as_millis() as u64,
                reactor_attachments: c.cursors.iter().filter(|u| **u).count() as u32,
                calls_pending: self.pending.values().filter(|p| p.caller == c.id).count() as u32,
            });
        }
        let pools = self.pools.values().map(|p| p.stats()).collect();
        let locks = self
            .pools
            .get(&LOCK_POOL)
            .map(|p| crate::skirmish::snapshot(p.map(), self.lock_table))
            .unwrap_or_default()
            .into_iter()
            .filter(|l| self.lock_names.contains_key(&l.index.0))
            .collect();
        let calls = self
            .calls
            .iter()
            .map(|(&id, c)| CallInfo {
                id,
                name: c.name.clone(),
                owner: c.owner,
                executions: c.executions,
                pending: self.pending.values().filter(|p| p.call == id).count() as u32,
            })
            .collect();
        let reactors = self
            .reactors
            .map
            .iter()
            .map(|(&id, r)| ReactorInfo {
                id,
                name: r.name.clone(),
                creator: r.creator,
                msg_size: r.msg_size as u32,
                lossless: r.lossless,
                subscribers: r.subs.iter().map(|s| s.fid).collect(),
                dispatched: r.dispatched,
                destroyed: r.destroyed,
                blocked_dispatches: r.blocked_count() as u32,
            })
            .collect();
        let refs = self
            .refs
            .refs
            .iter()
            .map(|(&id, r)| RefInfo {
                id,
                name: r.name.clone(),
                total: self.refs.total(id),
                global: r.global,
                local: r.local.iter().map(|(&k, &v)| (k, v)).collect(),
                zero_locked_by: r.zero_locked_by,
                watched: r.watch.is_some(),
                zero_waiters: r.zero_waiters.iter().map(|&(w, _)| w).collect(),
            })
            .collect();
        let properties = self
            .properties
            .props
            .iter()
            .map(|(&id, p)| PropertyInfo {
                id,
                name: p.name.clone(),
                state: format!("{:?}", p.hold),
                waiters: p.waiters.len() as u32,
            })
            .collect();
        let arenas = self
            .arenas
            .arenas
            .iter()
            .map(|(name, a)| ArenaInfo {
                name: name.clone(),
                members: a.members.iter().copied().collect(),
                initializing: a.initializing,
                fields: a.fields.keys().cloned().collect(),
                waiting: a.waiters.iter().map(|&(w, _)| w).collect(),
            })
            .collect();
        WorldSnapshot {
            world: self.cfg.name.clone(),
            master_pid: self.pid(),
            uptime_ms: self.uptime().as_millis() as u64,
            fusionees,
            pools,
            locks,
            calls,
            reactors,
            refs,
            properties,
            arenas,
            objects: self.objects.objects.values().cloned().collect(),
            cleanup: self.cleanup(),
        }
    }
}
