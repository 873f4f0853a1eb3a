//! Reactors on the master side: rings, subscribers, local and global reactions,
//! back-pressure and dispatch-complete callbacks.
//!
//! Each reactor owns a broadcast ring in the main pool (read-only for slaves). A dispatch —
//! by the master, or by a slave through a request — runs the global reactions (channel 0,
//! in the master, as DirectFB runs them in the dispatching process), the master's own local
//! reactions, and writes the message into the ring once; subscribers read it from there.
//! Only subscribers that sleep get a wake-up. A lossless reactor never overwrites: a slave's
//! dispatch into a full ring is answered only once it fits (back-pressure reaches the
//! dispatcher), the master's own gets [`Error::WouldBlock`].
//!
//! # One bell for all sleepers, and why dispatch is not flat
//!
//! A dispatch that finds sleepers writes the reactor's one bell, an eventfd every
//! subscriber's epoll watches edge-triggered: one system call, but the kernel wakes every
//! sleeper inside it, so the dispatcher's own time grows with their number (on 2 vCPUs,
//! `fusion-bench --only fanout`: 7 µs for one sleeper, 45–60 µs for 16). The woken
//! subscribers run on the other CPU while the dispatcher is still waking the rest, so the
//! last of 16 has the message about when the dispatcher is done (44–67 µs, about half the
//! time of a unix socket per subscriber).
//!
//! Handing the waking to a subscriber keeps the dispatcher flat but delays the last
//! receiver, because the woken subscriber's hop to its CPU (`fanout-first`, about 20 µs
//! here) now comes before the other wake-ups instead of beside them:
//!
//! * a wake chain (each woken subscriber wakes the next; session 10): dispatcher 3 µs at
//!   N=16, last receiver 78–143 µs;
//! * a lead bell (`EPOLLEXCLUSIVE`, wakes one sleeper, which writes the group bell; in two
//!   bands of subscribers so two leaders share the work; the master covers a leader that
//!   dies or stalls; session 12, code on branch `fanout-lead-experiment`):
//!   dispatcher 7.7–8 µs at N=16 with one band, 9–21 µs with two, last receiver 73–79 µs
//!   with one, 59–100 µs with two, against 44–67 µs here.
//!
//! On two CPUs the wake-ups cost the same whoever does them, and a relay adds its hop. Worth
//! trying again where the master's time matters more than the last subscriber's latency, or
//! on boards with more cores.
//!
//! Nor is the bell the cost. A plain C program on the same machine (session 17: 16 processes
//! asleep, one event every 0.5 ms, medians) pays as much or more for the bare kernel
//! primitives: an eventfd watched by 16 epolls costs its writer 48–69 µs, a pipe 63–67 µs,
//! one `FUTEX_WAKE` of 16 futex sleepers 62 µs (the last one has the event 66–73 µs after
//! the write). Part of that is the woken processes preempting the writer: a writer under
//! `SCHED_FIFO` spends 26 µs, still 3.5 times its 7.3 µs for one sleeper, while the last
//! sleeper then waits longer (53–64 µs). What remains is the kernel's wake-up of each
//! sleeper on a virtual machine's CPUs, about 1.3 µs apiece even unpreempted.
//!
//! Rings are the master's allocations (whoever created the reactor). A reactor dies with its
//! creator: when the creator leaves, the reactor is destroyed and its ring freed once the
//! last subscriber detached.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;

use tracing::debug;

use super::{Master, MAIN_POOL};
use crate::control;
use crate::pool::ShmHandle;
pub use crate::reactor::Delivery;
use crate::reactor::{FLAG_EXCLUDE_ORIGIN, FLAG_WANT_CONSUMED, MAX_CHANNELS};
use crate::ring::{self, CursorBlock, RingWriter};
use crate::wire::{Attached, CallId, FusioneeId, ReactionId, ReactorId, Response, MASTER_ID};
use crate::{Error, Result};

/// Bytes of reactor rings one slave may have the master hold for reactors it created.
pub const SLAVE_RING_BYTES: u64 = 4 << 20;
/// Dispatches a lossless reactor queues while its ring is full.
const MAX_BLOCKED: usize = 256;

/// A reaction running in the master.
pub type MasterReaction = Box<dyn FnMut(&Delivery<'_>)>;

pub(crate) struct Sub {
    pub fid: FusioneeId,
    pub cursor: usize,
    pub channels: BTreeMap<u32, u32>,
    pub block: CursorBlock,
}

struct Blocked {
    from: FusioneeId,
    serial: u32,
    channel: u32,
    payload: Vec<u8>,
    to_self: bool,
}

pub(crate) struct ReactorEntry {
    pub name: String,
    pub creator: FusioneeId,
    pub block: ShmHandle,
    pub writer: RingWriter,
    pub msg_size: usize,
    pub lossless: bool,
    pub subs: Vec<Sub>,
    /// Rung once per dispatch when any subscriber sleeps: every subscriber's epoll watches it
    /// edge-triggered, so one write wakes them all (one system call, in which the kernel
    /// wakes each sleeper: see the module docs).
    bell: std::os::fd::OwnedFd,
    /// The subscribers' cursor blocks, in `subs` order (what the ring writer reads).
    blocks: Vec<CursorBlock>,
    /// The last dispatch's outcome, kept so that its list of sleepers keeps its allocation.
    published: crate::ring::Publish,
    local: Vec<(ReactionId, u32, MasterReaction)>,
    globals: Vec<MasterReaction>,
    pub dispatch_cb: Option<CallId>,
    awaiting: Vec<(u64, u32, Vec<FusioneeId>)>,
    blocked: VecDeque<Blocked>,
    pub dispatched: u64,
    pub destroyed: bool,
}

impl ReactorEntry {
    /// Slave dispatches queued behind a full lossless ring.
    pub fn blocked_count(&self) -> usize {
        self.blocked.len()
    }
}

/// All reactors of a world.
#[derive(Default)]
pub(crate) struct Reactors {
    pub map: BTreeMap<ReactorId, ReactorEntry>,
    next: ReactorId,
    next_reaction: ReactionId,
}

impl Reactors {
    pub fn has_blocked(&self) -> bool {
        self.map
            .values()
            .any(|r| !r.blocked.is_empty() || !r.awaiting.is_empty())
    }

    fn fusionee_gone(&mut self, dead: FusioneeId) {
        for r in self.map.values_mut() {
            r.subs.retain(|s| s.fid != dead);
            r.blocks = r.subs.iter().map(|s| s.block.clone()).collect();
            r.blocked.retain(|b| b.from != dead);
            for (_, _, who) in r.awaiting.iter_mut() {
                who.retain(|w| *w != dead);
            }
        }
    }
}

impl Master {
    /// A fusionee left: its subscriptions go, and the reactors it created are destroyed
    /// (their rings are freed once the last subscriber detached).
    pub(crate) fn reactors_fusionee_gone(&mut self, dead: FusioneeId) {
        self.reactors.fusionee_gone(dead);
        let created: Vec<ReactorId> = self
            .reactors
            .map
            .iter()
            .filter(|(_, e)| e.creator == dead)
            .map(|(&k, _)| k)
            .collect();
        for r in created {
            // Also frees it at once when nobody is subscribed.
            let _ = self.reactor_destroy_by(MASTER_ID, r);
        }
        // Reactors destroyed earlier whose last subscriber was the dead one (these used to
        // stay forever, ring and all).
        let idle: Vec<ReactorId> = self
            .reactors
            .map
            .iter()
            .filter(|(_, e)| e.destroyed && e.subs.is_empty())
            .map(|(&k, _)| k)
            .collect();
        for r in idle {
            self.reap_reactor(r);
        }
        // Messages that waited only for the dead one count as consumed.
        self.check_dispatch_callbacks();
    }

    /// Creates a reactor owned by the master.
    pub fn reactor_create(
        &mut self,
        name: &str,
        msg_size: usize,
        capacity: usize,
        lossless: bool,
    ) -> Result<ReactorId> {
        self.reactor_create_for(MASTER_ID, name, msg_size, capacity, lossless)
    }

    pub(crate) fn reactor_create_for(
        &mut self,
        creator: FusioneeId,
        name: &str,
        msg_size: usize,
        capacity: usize,
        lossless: bool,
    ) -> Result<ReactorId> {
        if msg_size == 0 || msg_size > 64 * 1024 {
            return Err(Error::Invalid(format!("reactor message size {msg_size}")));
        }
        if !(2..=65536).contains(&capacity) || !capacity.is_power_of_two() {
            return Err(Error::Invalid(format!(
                "reactor capacity {capacity}: use a power of two from 2 to 65536"
            )));
        }
        let slot = ring::ENTRY_HEADER_SIZE + msg_size.next_multiple_of(8);
        let size = ring::required_size(capacity as u32, slot as u32);
        if creator != MASTER_ID {
            // Rings live in the master's pool: a slave may not fill it.
            let mine: u64 = self
                .reactors
                .map
                .values()
                .filter(|e| e.creator == creator)
                .map(|e| e.block.len)
                .sum();
            if mine + size as u64 > SLAVE_RING_BYTES {
                return Err(Error::Quota(format!(
                    "reactor rings of fusionee {creator}: {} bytes would exceed {SLAVE_RING_BYTES}",
                    mine + size as u64
                )));
            }
        }
        // The ring is master state (read-only for slaves) and must live as long as the
        // reactor, so it is the master's allocation whoever created the reactor: were it
        // the creator's, its death would free a ring still in use.
        let pool = self.pools.get_mut(&MAIN_POOL).expect("main pool");
        let block = pool.calloc(MASTER_ID, size)?;
        let writer = match RingWriter::new(
            pool.shared_map(),
            block.offset as usize,
            capacity as u32,
            slot as u32,
            lossless,
        ) {
            Ok(w) => w,
            Err(e) => {
                let _ = pool.free(MASTER_ID, block);
                return Err(e);
            }
        };
        let bell = match crate::sys::eventfd() {
            Ok(b) => b,
            Err(e) => {
                if let Some(pool) = self.pools.get_mut(&MAIN_POOL) {
                    let _ = pool.free(MASTER_ID, block);
                }
                return Err(e.into());
            }
        };
        self.reactors.next = self.reactors.next.next();
        let id = self.reactors.next;
        self.reactors.map.insert(
            id,
            ReactorEntry {
                name: name.to_string(),
                creator,
                block,
                writer,
                msg_size,
                lossless,
                subs: Vec::new(),
                bell,
                blocks: Vec::new(),
                published: Default::default(),
                local: Vec::new(),
                globals: Vec::new(),
                dispatch_cb: None,
                awaiting: Vec::new(),
                blocked: VecDeque::new(),
                dispatched: 0,
                destroyed: false,
            },
        );
        Ok(id)
    }

    /// Destroys a reactor; its ring is freed once the last subscriber detached (or died).
    /// Destroying it again gives [`Error::Destroyed`].
    pub fn reactor_destroy(&mut self, r: ReactorId) -> Result<()> {
        self.reactor_destroy_by(MASTER_ID, r)
    }

    pub(crate) fn reactor_destroy_by(&mut self, who: FusioneeId, r: ReactorId) -> Result<()> {
        let e = self
            .reactors
            .map
            .get_mut(&r)
            .ok_or_else(|| Error::NotFound(format!("reactor {r}")))?;
        if e.creator != who && who != MASTER_ID {
            return Err(Error::Access(format!("reactor {r} is not yours")));
        }
        if e.destroyed {
            return Err(Error::Destroyed);
        }
        e.destroyed = true;
        let blocked: Vec<Blocked> = e.blocked.drain(..).collect();
        for b in blocked {
            self.reply(b.from, b.serial, Err(Error::Destroyed));
        }
        self.reap_reactor(r);
        Ok(())
    }

    fn reap_reactor(&mut self, r: ReactorId) {
        let done = self
            .reactors
            .map
            .get(&r)
            .is_some_and(|e| e.destroyed && e.subs.is_empty());
        if done {
            let e = self.reactors.map.remove(&r).expect("checked");
            if let Some(pool) = self.pools.get_mut(&MAIN_POOL) {
                let _ = pool.free(MASTER_ID, e.block);
            }
        }
    }

    /// Attaches a reaction that runs in the master for messages on `channel`.
    /// Returns an id for [`Master::reactor_detach_local`].
    pub fn reactor_attach_local(
        &mut self,
        r: ReactorId,
        channel: u32,
        reaction: impl FnMut(&Delivery<'_>) + 'static,
    ) -> Result<ReactionId> {
        if channel >= MAX_CHANNELS {
            return Err(Error::Invalid(format!("channel {channel}")));
        }
        self.reactors.next_reaction = self.reactors.next_reaction.next();
        let rid = self.reactors.next_reaction;
        let e = self.live_reactor(r)?;
        e.local.push((rid, channel, Box::new(reaction)));
        Ok(rid)
    }

    /// Detaches a local reaction.
    pub fn reactor_detach_local(&mut self, r: ReactorId, reaction: ReactionId) -> Result<()> {
        let e = self.live_reactor(r)?;
        let before = e.local.len();
        e.local.retain(|(id, _, _)| *id != reaction);
        if e.local.len() == before {
            return Err(Error::NotFound(format!("reaction {reaction}")));
        }
        Ok(())
    }

    /// Attaches a global reaction: it runs in the master for every channel-0 dispatch,
    /// whoever dispatches, before any subscriber sees the message.
    pub fn reactor_attach_global(
        &mut self,
        r: ReactorId,
        reaction: impl FnMut(&Delivery<'_>) + 'static,
    ) -> Result<usize> {
        let e = self.live_reactor(r)?;
        e.globals.push(Box::new(reaction));
        Ok(e.globals.len() - 1)
    }

    /// Has `call` executed (one-way, arg = channel) once every subscriber read a message.
    pub fn reactor_set_dispatch_callback(
        &mut self,
        r: ReactorId,
        call: Option<CallId>,
    ) -> Result<()> {
        self.reactor_set_dispatch_callback_by(MASTER_ID, r, call)
    }

    pub(crate) fn reactor_set_dispatch_callback_by(
        &mut self,
        who: FusioneeId,
        r: ReactorId,
        call: Option<CallId>,
    ) -> Result<()> {
        if let Some(c) = call {
            if !self.calls.contains_key(&c) {
                return Err(Error::NotFound(format!("call {c}")));
            }
        }
        let e = self.live_reactor(r)?;
        if e.creator != who && who != MASTER_ID {
            return Err(Error::Access(format!("reactor {r} is not yours")));
        }
        e.dispatch_cb = call;
        Ok(())
    }

    fn live_reactor(&mut self, r: ReactorId) -> Result<&mut ReactorEntry> {
        match self.reactors.map.get_mut(&r) {
            Some(e) if !e.destroyed => Ok(e),
            Some(_) => Err(Error::Destroyed),
            None => Err(Error::NotFound(format!("reactor {r}"))),
        }
    }

    pub(crate) fn reactor_attach_slave(
        &mut self,
        fid: FusioneeId,
        r: ReactorId,
        channel: u32,
    ) -> Result<(Attached, std::os::fd::OwnedFd)> {
        if channel >= MAX_CHANNELS {
            return Err(Error::Invalid(format!("channel {channel}")));
        }
        let ring_offset = self.live_reactor(r)?.block.offset;
        let existing = self.reactors.map[&r].subs.iter().position(|s| s.fid == fid);
        let cursor = match existing {
            Some(i) => {
                let s = &mut self.reactors.map.get_mut(&r).expect("live").subs[i];
                *s.channels.entry(channel).or_insert(0) += 1;
                s.cursor
            }
            None => {
                let conn = self
                    .conns
                    .get_mut(&fid)
                    .ok_or_else(|| Error::NotFound(format!("fusionee {fid}")))?;
                let idx = conn
                    .take_cursor()
                    .ok_or_else(|| Error::Quota("reactor attachments".into()))?;
                let off = control::cursor_offset(idx);
                conn.control.fill(off, control::CURSOR_SIZE, 0);
                let block = CursorBlock::new(conn.control.clone(), off)?;
                let e = self.reactors.map.get_mut(&r).expect("live");
                e.writer.init_cursor(&block);
                e.blocks.push(block.clone());
                e.subs.push(Sub {
                    fid,
                    cursor: idx,
                    channels: BTreeMap::from([(channel, 1)]),
                    block,
                });
                idx
            }
        };
        let bell = self.reactors.map[&r].bell.try_clone()?;
        Ok((
            Attached {
                pool: MAIN_POOL,
                ring_offset,
                cursor_offset: control::cursor_offset(cursor) as u64,
            },
            bell,
        ))
    }

    pub(crate) fn reactor_detach_slave(
        &mut self,
        fid: FusioneeId,
        r: ReactorId,
        channel: u32,
    ) -> Result<()> {
        let e = self
            .reactors
            .map
            .get_mut(&r)
            .ok_or_else(|| Error::NotFound(format!("reactor {r}")))?;
        let i = e
            .subs
            .iter()
            .position(|s| s.fid == fid)
            .ok_or_else(|| Error::NotFound(format!("attachment to reactor {r}")))?;
        let s = &mut e.subs[i];
        match s.channels.get_mut(&channel) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                s.channels.remove(&channel);
            }
            None => return Err(Error::NotFound(format!("attachment to channel {channel}"))),
        }
        if s.channels.is_empty() {
            let idx = s.cursor;
            e.subs.remove(i);
            e.blocks.remove(i);
            for (_, _, who) in e.awaiting.iter_mut() {
                who.retain(|w| *w != fid);
            }
            if let Some(c) = self.conns.get_mut(&fid) {
                c.cursors[idx] = false;
            }
        }
        self.reap_reactor(r);
        // Messages that waited only for this subscriber are consumed now.
        self.check_dispatch_callbacks();
        Ok(())
    }

    /// Stamps each reactor message's write into its ring with `CLOCK_MONOTONIC` (before the
    /// subscribers' wake-up): [`Master::last_publish_ns`] (for benchmarks: where routing ends
    /// and waking begins).
    pub fn stamp_publishes(&mut self, on: bool) {
        self.stamp_publishes = on;
    }

    /// When the last reactor message was written into its ring (0 unless
    /// [`Master::stamp_publishes`]).
    pub fn last_publish_ns(&self) -> u64 {
        self.last_publish_ns
    }

    /// Dispatches a message from the master. On a lossless reactor this never waits: a full
    /// ring, or slave dispatches still queued behind one, give [`Error::WouldBlock`].
    pub fn reactor_dispatch(
        &mut self,
        r: ReactorId,
        channel: u32,
        payload: &[u8],
        to_self: bool,
    ) -> Result<()> {
        // Slave dispatches queued behind a full ring go first (no overtaking).
        if !self.live_reactor(r)?.blocked.is_empty() {
            return Err(Error::WouldBlock);
        }
        self.publish(MASTER_ID, r, channel, payload, to_self)
    }

    /// A slave's dispatch: `Ok(false)` when queued behind a full lossless ring.
    pub(crate) fn reactor_dispatch_from(
        &mut self,
        from: FusioneeId,
        r: ReactorId,
        channel: u32,
        payload: Vec<u8>,
        to_self: bool,
        serial: u32,
    ) -> Result<bool> {
        let e = self.live_reactor(r)?;
        if !e.blocked.is_empty() {
            if e.blocked.len() >= MAX_BLOCKED || serial == 0 {
                return Err(Error::WouldBlock);
            }
            e.blocked.push_back(Blocked {
                from,
                serial,
                channel,
                payload,
                to_self,
            });
            return Ok(false);
        }
        match self.publish(from, r, channel, &payload, to_self) {
            Err(Error::WouldBlock) if serial != 0 => {
                self.want_progress(r);
                let e = self.live_reactor(r)?;
                e.blocked.push_back(Blocked {
                    from,
                    serial,
                    channel,
                    payload,
                    to_self,
                });
                Ok(false)
            }
            Err(e) => Err(e),
            Ok(()) => Ok(true),
        }
    }

    fn want_progress(&self, r: ReactorId) {
        if let Some(e) = self.reactors.map.get(&r) {
            for s in &e.subs {
                if let Some(c) = self.conns.get(&s.fid) {
                    if let Some(w) = c.control.atomic_u32(control::WANT_PROGRESS) {
                        w.store(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// Retries queued dispatches of lossless reactors.
    pub(crate) fn retry_blocked(&mut self) {
        let ids: Vec<ReactorId> = self
            .reactors
            .map
            .iter()
            .filter(|(_, e)| !e.blocked.is_empty())
            .map(|(&k, _)| k)
            .collect();
        for r in ids {
            while let Some(b) = self
                .reactors
                .map
                .get_mut(&r)
                .and_then(|e| e.blocked.pop_front())
            {
                match self.publish(b.from, r, b.channel, &b.payload, b.to_self) {
                    Err(Error::WouldBlock) => {
                        self.want_progress(r);
                        if let Some(e) = self.reactors.map.get_mut(&r) {
                            e.blocked.push_front(b);
                        }
                        break;
                    }
                    result => self.reply(b.from, b.serial, result.map(|()| Response::Unit)),
                }
            }
        }
    }

    fn publish(
        &mut self,
        origin: FusioneeId,
        r: ReactorId,
        channel: u32,
        payload: &[u8],
        to_self: bool,
    ) -> Result<()> {
        if channel >= MAX_CHANNELS {
            return Err(Error::Invalid(format!("channel {channel}")));
        }
        let stamp = self.stamp_publishes;
        let e = self.live_reactor(r)?;
        if payload.len() > e.msg_size {
            return Err(Error::Invalid(format!(
                "message of {} bytes on a reactor of {}",
                payload.len(),
                e.msg_size
            )));
        }
        let d = Delivery {
            reactor: r,
            channel,
            origin,
            payload,
        };
        // Only channel 0 runs global reactions (as in DirectFB).
        if channel == 0 {
            for g in e.globals.iter_mut() {
                g(&d);
            }
        }
        let mut flags = if to_self { 0 } else { FLAG_EXCLUDE_ORIGIN };
        if e.dispatch_cb.is_some() {
            flags |= FLAG_WANT_CONSUMED;
        }
        // Subscribers' cursor blocks live in their control areas.
        e.writer.publish_into(
            channel,
            origin.0,
            flags,
            payload,
            &e.blocks,
            &mut e.published,
        )?;
        let (seq, sleepers) = (e.published.seq, !e.published.wake.is_empty());
        let written = if stamp { crate::sys::now_ns() } else { 0 };
        e.dispatched += 1;
        if origin != MASTER_ID || to_self {
            for (_, ch, f) in e.local.iter_mut() {
                if *ch == channel {
                    f(&d);
                }
            }
        }
        if sleepers {
            crate::sys::eventfd_signal(std::os::fd::AsFd::as_fd(&e.bell));
        }
        let has_cb = e.dispatch_cb.is_some();
        if has_cb {
            let who: Vec<FusioneeId> = e
                .subs
                .iter()
                .filter(|s| to_self || s.fid != origin)
                .filter(|s| s.channels.contains_key(&channel))
                .map(|s| s.fid)
                .collect();
            e.awaiting.push((seq, channel, who));
        }
        if stamp {
            self.last_publish_ns = written;
        }
        if has_cb {
            // Nobody to wait for: the callback may fire at once.
            self.check_dispatch_callbacks();
        }
        Ok(())
    }

    /// Fires dispatch-complete callbacks for messages everybody has read.
    pub(crate) fn check_dispatch_callbacks(&mut self) {
        let mut fire = Vec::new();
        for e in self.reactors.map.values_mut() {
            let Some(cb) = e.dispatch_cb else {
                e.awaiting.clear();
                continue;
            };
            let subs = &e.subs;
            e.awaiting.retain(|(seq, channel, who)| {
                let done = who.iter().all(|fid| {
                    subs.iter()
                        .find(|s| s.fid == *fid)
                        .is_none_or(|s| s.block.cursor_value() > *seq)
                });
                if done {
                    fire.push((cb, *channel));
                }
                !done
            });
        }
        for (cb, channel) in fire {
            // The argument is the channel, which dispatch checked is below MAX_CHANNELS.
            let arg = i32::try_from(channel).expect("a channel is below MAX_CHANNELS");
            // Caller 0: the system (see `CallIn::caller`).
            if let Err(e) = self.execute(super::SYSTEM, 0, cb, arg, Vec::new(), Vec::new(), true) {
                debug!(call = %cb, "dispatch callback failed: {e}");
            }
        }
    }
}
