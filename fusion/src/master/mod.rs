//! The master: the process that owns a world.
//!
//! A [`Master`] holds the world's lock and listening socket, admits slaves (checking their
//! API/ABI and credentials), and keeps every piece of shared state: pools, the lock table,
//! calls, reactors, refs, properties, arenas and objects. It is single-threaded and
//! event-driven: [`Master::dispatch`] waits on one epoll fd ([`Master::as_fd`], so it plugs
//! into `calloop` or any loop) and handles whatever is ready. Nothing a slave sends can make
//! it panic: malformed packets get an error reply and, if they keep coming, a disconnect.
//!
//! When a slave leaves or dies (its socket hangs up), the master, in this order: releases the
//! locks it held (the next locker is told `OwnerDied`), answers every call waiting on it with
//! `PeerGone` (a late answer to a call whose caller left is dropped quietly), detaches its
//! reactor subscriptions and destroys the reactors it created, cedes its properties, drops
//! its local refs (firing watches), hands over arenas it was initialising, frees every
//! shared-memory block it allocated, and tells everybody else it left.
//!
//! A slave that leaves while its process lives on keeps its mappings, so its locks and blocks
//! are released only when that process exits: the master watches one pidfd per such process
//! (however often it entered and left), with at most [`MAX_DEPARTED_PER_PROCESS`] fusionees
//! waiting per process and [`MAX_DEPARTED_PROCESSES_PER_UID`] processes per uid; past either
//! cap the oldest is released at once, with a warning. Churn cannot exhaust the master's
//! descriptors or pools.
//!
//! ```no_run
//! use fusion::{Master, WorldConfig};
//! let mut master = Master::create(WorldConfig::new("example")).unwrap();
//! let echo = master.call_create("echo", |_m, call| fusion::CallOutcome::Return(call.payload.clone(), vec![]));
//! master.set_root(echo.0.to_le_bytes().to_vec());
//! loop {
//!     master.dispatch(None).unwrap();
//! }
//! ```

mod arena;
mod conn;
mod handle;
mod listen;
mod local;
mod objects;
mod property;
mod reactors;
mod refs;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

pub use crate::call::{CallIn, CallOutcome};
use crate::pool::{PoolAccess, ShmPool};
use crate::skirmish;
use crate::sys;
use crate::wire::{CallId, CallSerial, FusioneeId, PoolId, SkirmishId, MASTER_ID};
use crate::world::WorldConfig;
use crate::{Error, Result};

pub(crate) use conn::Conn;
pub use objects::Destructor;

/// Size of the master's main (read-only for slaves) pool.
pub const MAIN_POOL_SIZE: usize = 64 << 20;
/// Size of the lock pool (writable by every fusionee).
pub const LOCK_POOL_SIZE: usize = 1 << 20;
/// Slots in the lock table.
pub const LOCK_SLOTS: u32 = 4096;
/// Connections that may be in their handshake at once; beyond, the oldest is dropped.
pub const MAX_HANDSHAKES: usize = 64;
/// Most executions of queued master calls waiting for the program at once (a flood of one-way
/// calls beyond it is refused with `Quota`).
pub const MAX_QUEUED_CALLS: usize = 4096;
/// Default limit of pending calls per caller and call.
pub const DEFAULT_CALL_QUOTA: u32 = 256;
/// The caller id of calls the world makes by itself (ref watches, dispatch callbacks).
pub(crate) const SYSTEM: FusioneeId = crate::wire::SYSTEM_ID;
/// Most abandoned calls remembered (beyond that, a late answer counts as a violation).
const MAX_ORPHANS: usize = 1 << 16;
/// Departed fusionees of one live process whose release waits for its exit; beyond, the
/// oldest is released at once (a process that enters and leaves in a loop cannot grow the
/// table).
pub const MAX_DEPARTED_PER_PROCESS: usize = 16;
/// Departed live processes of one uid whose release waits for their exit; beyond, the
/// oldest process's fusionees are released at once (each waiting process costs the master
/// one pidfd).
pub const MAX_DEPARTED_PROCESSES_PER_UID: usize = 64;

/// Pool id of the main pool.
pub const MAIN_POOL: PoolId = PoolId(0);
/// Pool id of the lock pool.
pub const LOCK_POOL: PoolId = PoolId(1);

const TOKEN_LISTENER: u64 = 0;
const KIND_SOCKET: u64 = 1;
const KIND_DOORBELL: u64 = 2;
const KIND_PIDFD: u64 = 4;

/// A master call handler.
pub type Handler = Box<dyn FnMut(&mut Master, CallIn) -> CallOutcome>;

/// What happened in the world, for the program that runs the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterEvent {
    /// A slave entered.
    Joined(FusioneeId),
    /// A slave left or died; everything it held has been released.
    Left(FusioneeId),
    /// A call the master executed in a slave (see [`Master::call_execute_async`]) returned.
    CallReturned {
        /// The serial `call_execute_async` gave.
        serial: CallSerial,
        /// What the slave answered.
        result: Result<Vec<u8>, Error>,
    },
}

#[derive(Debug)]
pub(crate) struct CallEntry {
    pub name: String,
    pub owner: FusioneeId,
    pub quota: HashMap<FusioneeId, u32>,
    pub default_quota: u32,
    pub executions: u64,
}

/// A call waiting for its answer.
#[derive(Debug)]
pub(crate) struct Pending {
    pub caller: FusioneeId,
    pub caller_serial: u32,
    pub callee: FusioneeId,
    pub call: CallId,
    /// The answer goes into the caller's call slot, not over its socket.
    pub via_slot: bool,
}

/// A live process whose fusionees left: one pidfd (one poller registration, token
/// `(pid << 8) | KIND_PIDFD`) however often it entered, and the fusionees (oldest first)
/// whose locks and blocks wait for its exit.
struct Departed {
    pidfd: OwnedFd,
    uid: u32,
    ids: VecDeque<FusioneeId>,
    /// When it was added (`departed_seq`), for "oldest" under the per-uid cap.
    seq: u64,
    /// Whether the per-process cap was reported already (once per process, not per cycle).
    warned: bool,
}

/// The process that owns a world. See the module docs.
pub struct Master {
    pub(crate) cfg: WorldConfig,
    _lock: File,
    listener: OwnedFd,
    poller: sys::Poller,
    pid: u32,
    next_id: FusioneeId,
    next_serial: CallSerial,
    pub(crate) conns: BTreeMap<FusioneeId, Conn>,
    /// Departed fusionees whose process still runs, by pid: their locks and blocks are
    /// released when the process's one pidfd says it exited.
    departed: BTreeMap<u32, Departed>,
    /// Orders departed processes by age (for the per-uid cap).
    departed_seq: u64,
    handshaking: Vec<(OwnedFd, sys::PeerCred, Instant)>,
    /// When accepting failed for lack of descriptors: listen again at this time.
    listener_paused: Option<Instant>,
    /// Handshakes dropped for the flood cap since the last warning, and when that was: a
    /// flood is one warning a second, not one per connection.
    handshakes_dropped: (u64, Option<Instant>),
    pub(crate) pools: BTreeMap<PoolId, ShmPool>,
    /// The lock table's slots in use: name and creator, by slot (sparse: a world uses a few
    /// of its [`LOCK_SLOTS`], and a dense table of names would cost 128 KiB idle).
    pub(crate) lock_names: BTreeMap<u32, (String, FusioneeId)>,
    pub(crate) lock_table: skirmish::Table,
    pub(crate) calls: BTreeMap<CallId, CallEntry>,
    handlers: HashMap<CallId, Handler>,
    /// Calls whose executions wait in `calls_in` for the program ([`Master::call_create_queued`]).
    queued_calls: std::collections::HashSet<CallId>,
    /// Executions of queued calls, oldest first ([`Master::next_call`]).
    calls_in: VecDeque<CallIn>,
    next_call: CallId,
    pub(crate) pending: HashMap<CallSerial, Pending>,
    /// Calls whose caller left before the answer: serial → callee. A late answer to one is
    /// dropped quietly instead of counting as a protocol violation of the (innocent) callee.
    pub(crate) orphans: HashMap<CallSerial, FusioneeId>,
    pub(crate) reactors: reactors::Reactors,
    pub(crate) refs: refs::Refs,
    pub(crate) properties: property::Properties,
    pub(crate) arenas: arena::Arenas,
    pub(crate) objects: objects::Objects,
    events: VecDeque<MasterEvent>,
    /// Set while a call taken from a call slot executes: a deferred answer goes to the slot.
    executing_from_slot: bool,
    /// A slave traces its calls' stages: read the clock on waking (see `crate::slot`).
    trace_wakes: bool,
    /// The slot call answered last (to listen to, see [`Master::listen`]).
    slot_answered: Option<conn::SlotAnswered>,
    /// The slave whose slot says the master listens (see [`Master::listen`]).
    listening: Option<FusioneeId>,
    /// Requests taken by listening in this dispatch.
    listen_turn: u32,
    /// Stamp reactor writes (`Master::stamp_publishes`).
    stamp_publishes: bool,
    /// The last stamped reactor write.
    last_publish_ns: u64,
    root: Vec<u8>,
    started: Instant,
    ready: Vec<u64>,
    /// What was cleaned up after departed fusionees ([`Master::cleanup`]).
    cleanup: crate::status::CleanupStats,
    /// The lock and socket came from a supervisor ([`Master::create_from`] with a handover
    /// from the environment): the socket stays when this master goes.
    handed_down: bool,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("world", &self.cfg.name)
            .field("fusionees", &self.conns.len())
            .finish()
    }
}

impl Master {
    /// Creates the world `cfg` names and becomes its master.
    ///
    /// Fails with [`Error::WorldBusy`] when a live master holds it. A world left behind by a
    /// dead master is detected by its free lock and replaced.
    ///
    /// With a configured group, the base directory gets traverse permission for it (g+x if
    /// it is the group's, else o+x) and the world directory becomes 0770 and the group's,
    /// also when an earlier master left them closed; without one the world directory is
    /// 0700. Each change is logged; a directory above the base that keeps the group out
    /// (not ours to change) is warned about.
    ///
    /// When this process was started with the world's lock and socket handed down
    /// ([`crate::handover::ENV`] names this world), it takes those over instead.
    pub fn create(cfg: WorldConfig) -> Result<Self> {
        match crate::handover::Handover::from_env(&cfg.name) {
            Some(h) => {
                cfg.validate()?;
                let mut m = Self::create_from(cfg, h)?;
                m.handed_down = true;
                Ok(m)
            }
            None => {
                let h = crate::handover::Handover::take(&cfg)?;
                Self::create_from(cfg, h)
            }
        }
    }

    /// Becomes the master of `cfg`'s world with its lock and socket taken already (by a
    /// supervising parent: see [`crate::handover`]). [`Master::create`] does this with the
    /// handover its parent left in the environment, if any.
    pub fn create_from(cfg: WorldConfig, handover: crate::handover::Handover) -> Result<Self> {
        let dir = cfg.dir();
        let crate::handover::Handover { lock, listener, .. } = handover;
        let handed_down = false;
        let poller = sys::Poller::new()?;
        poller.add(listener.as_fd(), TOKEN_LISTENER)?;

        let mut pools = BTreeMap::new();
        let main = ShmPool::create(
            MAIN_POOL,
            "fusion/main",
            MAIN_POOL_SIZE,
            PoolAccess::ReadOnly,
        )?;
        let mut locks = ShmPool::create(
            LOCK_POOL,
            "fusion/locks",
            LOCK_POOL_SIZE,
            PoolAccess::Writable,
        )?;
        let table = locks.calloc(MASTER_ID, skirmish::Table::new(0, LOCK_SLOTS).size())?;
        pools.insert(MAIN_POOL, main);
        pools.insert(LOCK_POOL, locks);

        info!(world = %cfg.name, dir = %dir.display(), "master up");
        Ok(Self {
            cfg,
            _lock: lock,
            listener,
            poller,
            pid: sys::getpid(),
            next_id: MASTER_ID,
            next_serial: CallSerial(0),
            conns: BTreeMap::new(),
            departed: BTreeMap::new(),
            departed_seq: 0,
            handshaking: Vec::new(),
            listener_paused: None,
            handshakes_dropped: (0, None),
            pools,
            lock_names: BTreeMap::new(),
            lock_table: skirmish::Table::new(table.offset as usize, LOCK_SLOTS),
            calls: BTreeMap::new(),
            handlers: HashMap::new(),
            queued_calls: Default::default(),
            calls_in: VecDeque::new(),
            next_call: CallId(0),
            pending: HashMap::new(),
            orphans: HashMap::new(),
            reactors: Default::default(),
            refs: Default::default(),
            properties: Default::default(),
            arenas: Default::default(),
            objects: Default::default(),
            events: VecDeque::new(),
            executing_from_slot: false,
            trace_wakes: false,
            slot_answered: None,
            listening: None,
            listen_turn: 0,
            stamp_publishes: false,
            last_publish_ns: 0,
            root: Vec::new(),
            started: Instant::now(),
            ready: Vec::with_capacity(64),
            cleanup: Default::default(),
            handed_down,
        })
    }

    /// The world's configuration.
    pub fn world(&self) -> &WorldConfig {
        &self.cfg
    }

    /// The master's fusionee id (always [`MASTER_ID`]).
    pub fn id(&self) -> FusioneeId {
        MASTER_ID
    }

    /// Ids of the slaves in the world now.
    pub fn fusionees(&self) -> Vec<FusioneeId> {
        self.conns.keys().copied().collect()
    }

    /// Slaves that left while their process still runs: their locks and blocks are released
    /// when it exits.
    pub fn departed(&self) -> Vec<FusioneeId> {
        let mut ids: Vec<FusioneeId> = self
            .departed
            .values()
            .flat_map(|d| d.ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// How many departed processes the master watches (one pidfd each).
    pub fn departed_processes(&self) -> usize {
        self.departed.len()
    }

    /// The pid of a slave.
    pub fn pid_of(&self, id: FusioneeId) -> Option<u32> {
        self.conns.get(&id).map(|c| c.cred.pid)
    }

    /// Sets the world's root value, which slaves read to find the master's entry points.
    pub fn set_root(&mut self, root: Vec<u8>) {
        self.root = root;
    }

    /// The next world event, if any.
    pub fn next_event(&mut self) -> Option<MasterEvent> {
        self.events.pop_front()
    }

    pub(crate) fn push_event(&mut self, e: MasterEvent) {
        self.events.push_back(e);
    }

    pub(crate) fn serial(&mut self) -> CallSerial {
        self.next_serial = CallSerial(self.next_serial.0.wrapping_add(1).max(1));
        self.next_serial
    }

    /// Waits up to `timeout` (`None`: until something happens) and handles everything ready:
    /// new slaves, requests, answers, deaths, expired waits.
    pub fn dispatch(&mut self, timeout: Option<Duration>) -> Result<()> {
        let timeout = self.clamp_timeout(timeout);
        self.listen_turn = 0;
        self.slot_answered = None;
        let mut ready = std::mem::take(&mut self.ready);
        self.poller.wait(timeout, &mut ready)?;
        // When a slave times its calls' stages, the wake-up is one of them.
        let woke_ns = if self.trace_wakes { sys::now_ns() } else { 0 };
        for &token in &ready {
            if token == TOKEN_LISTENER {
                self.accept_all();
                continue;
            }
            let upper = (token >> 8) as u32;
            match token & 0xff {
                KIND_SOCKET => self.read_conn(FusioneeId(upper)),
                KIND_DOORBELL => self.doorbell(FusioneeId(upper), woke_ns),
                // A departed process's pidfd: the upper bits are its pid.
                KIND_PIDFD => self.exited(upper),
                _ => {
                    // A handshaking socket: index in the upper bits.
                    self.read_handshakes();
                }
            }
        }
        self.ready = ready;
        // Calls answered here (their handlers run in this process): the next one may be on
        // its way already.
        while self.listen() {}
        if let Some(id) = self.listening.take() {
            // Never expected (`listen` clears it before it returns false); should it happen,
            // the slot stops saying so, and a slave that skipped the doorbell rings it
            // before it sleeps (see `Slave::call_execute`).
            debug_assert!(false, "the slot of {id} left listening");
            if let Some(c) = self.conns.get(&id) {
                crate::slot::listen(&c.control, false);
            }
        }
        self.timers();
        Ok(())
    }

    /// Runs [`Master::dispatch`] until `done` says so or `limit` passes; `false` on time-out.
    pub fn dispatch_until(
        &mut self,
        limit: Duration,
        done: impl FnMut(&mut Master) -> bool,
    ) -> Result<bool> {
        crate::deadline::run_until(self, limit, Duration::from_millis(50), done, |m, d| {
            m.dispatch(Some(d))
        })
    }

    fn clamp_timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        let now = Instant::now();
        let mut deadline = self.properties.next_deadline();
        for c in self.conns.values() {
            if let Some(d) = c.kill_at {
                deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
            }
        }
        if let Some(t) = self.listener_paused {
            deadline = Some(deadline.map_or(t, |x: Instant| x.min(t)));
        }
        if !self.handshaking.is_empty() {
            let d = now + Duration::from_millis(100);
            deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
        }
        if self.reactors.has_blocked() {
            let d = now + Duration::from_millis(5);
            deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
        }
        match (timeout, deadline) {
            (t, None) => t,
            (None, Some(d)) => Some(d.saturating_duration_since(now)),
            (Some(t), Some(d)) => Some(t.min(d.saturating_duration_since(now))),
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.listener_paused.is_some_and(|t| t <= now) {
            self.listener_paused = None;
            if let Err(e) = self.poller.add(self.listener.as_fd(), TOKEN_LISTENER) {
                warn!("cannot listen again: {e}");
            }
        }
        for (who, serial, result) in self.properties.expire(now) {
            self.reply(who, serial, result.map(|()| crate::wire::Response::Unit));
        }
        let overdue: Vec<FusioneeId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.kill_at.is_some_and(|d| d <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in overdue {
            warn!(fusionee = %id, "did not leave in time: killing it");
            if let Some(c) = self.conns.get_mut(&id) {
                c.kill_at = None;
                c.kill();
            }
        }
        self.handshaking.retain(|(_, cred, at)| {
            let keep = at.elapsed() < Duration::from_secs(5);
            if !keep {
                warn!(pid = cred.pid, "handshake timed out");
            }
            keep
        });
        self.retry_blocked();
    }

    fn accept_all(&mut self) {
        loop {
            let fd = match sys::accept(self.listener.as_fd()) {
                Ok(Some(fd)) => fd,
                Ok(None) => return,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE): the listener would stay readable
                    // and the loop spin; stop listening for a moment instead.
                    warn!("cannot accept a slave ({e}); pausing new connections for 100 ms");
                    self.poller.delete(self.listener.as_fd());
                    self.listener_paused = Some(Instant::now() + Duration::from_millis(100));
                    return;
                }
            };
            if self.handshaking.len() >= MAX_HANDSHAKES {
                // A flood of silent connections must not lock others out: the oldest
                // pending handshake gives way to the newest.
                let (old, cred, _) = self.handshaking.remove(0);
                self.poller.delete(old.as_fd());
                let (dropped, last) = &mut self.handshakes_dropped;
                *dropped += 1;
                if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    warn!(
                        pid = cred.pid,
                        dropped = *dropped,
                        "{MAX_HANDSHAKES} handshakes pending: dropping the oldest"
                    );
                    *dropped = 0;
                    *last = Some(Instant::now());
                }
            }
            let cred = match sys::peer_cred(fd.as_fd()) {
                Ok(c) => c,
                Err(e) => {
                    warn!("peer credentials unavailable: {e}");
                    continue;
                }
            };
            // The credentials are checked once the Hello is read (see `read_handshakes`):
            // refusing and closing now, with the Hello still unread, would make the kernel
            // report ECONNRESET to the slave instead of our refusal.
            // Handshake sockets share one token kind; they are few and short-lived.
            if self.poller.add(fd.as_fd(), 3).is_ok() {
                self.handshaking.push((fd, cred, Instant::now()));
            }
        }
    }

    /// Whether the world's policy admits a peer; the refusal says why and what would admit
    /// it.
    pub(crate) fn admits(&self, cred: &sys::PeerCred) -> std::result::Result<(), String> {
        let me = rustix::process::getuid().as_raw();
        if cred.uid == me || cred.uid == 0 {
            return Ok(());
        }
        if let Some(g) = self.cfg.group {
            if cred.gid == g || supplementary_groups(cred.pid).contains(&g) {
                return Ok(());
            }
            let group = crate::world::group_label(g);
            return Err(format!(
                "uid {} is neither uid {me} nor a member of group {group}, which world {:?} \
                 admits: add the user to that group (e.g. `usermod -aG {} <user>`) and log \
                 in again",
                cred.uid,
                self.cfg.name,
                crate::world::group_name(g).unwrap_or_else(|| g.to_string()),
            ));
        }
        Err(format!(
            "uid {} may not enter world {:?}: it admits only uid {me} (and root); to admit a \
             group, set `[world] group = \"video\"` (or another group) in the master's config \
             and make the user a member of it",
            cred.uid, self.cfg.name
        ))
    }

    pub(crate) fn send_raw(
        &self,
        sock: BorrowedFd<'_>,
        msg: &crate::wire::Message,
        fds: &[BorrowedFd<'_>],
    ) -> Result<()> {
        let bytes = crate::wire::encode(msg)?;
        sys::send_msg(sock, &bytes, fds)?;
        Ok(())
    }

    /// Sends a message to a slave; a failure to send means it is going away (its hang-up
    /// follows). A reply too large for a packet goes in a sealed memfd when the slave can
    /// take it ([`oversized`]); any other that does not fit goes as its error instead, so that
    /// the slave waiting for it is told, not left waiting.
    pub(crate) fn send(&self, to: FusioneeId, msg: &crate::wire::Message, fds: &[BorrowedFd<'_>]) {
        use crate::wire::Message;
        let Some(c) = self.conns.get(&to) else {
            return;
        };
        let bytes = match crate::wire::encode(msg) {
            Ok(b) => b,
            Err(e) => {
                let Message::Reply { serial, result } = msg else {
                    warn!(fusionee = %to, "not sent: {e}");
                    return;
                };
                let e = match oversized(c.api_minor, result, e) {
                    Ok((resp, memfd)) => {
                        let mut all = fds.to_vec();
                        all.push(memfd.as_fd());
                        let instead = Message::Reply {
                            serial: *serial,
                            result: Ok(resp),
                        };
                        if let Err(e) = self.send_raw(c.sock.as_fd(), &instead, &all) {
                            debug!(fusionee = %to, "send failed: {e}");
                        }
                        return;
                    }
                    Err(e) => e,
                };
                warn!(fusionee = %to, "not sent: {e}");
                let instead = Message::Reply {
                    serial: *serial,
                    result: Err(e),
                };
                if let Err(e) = self.send_raw(c.sock.as_fd(), &instead, &[]) {
                    debug!(fusionee = %to, "send failed: {e}");
                }
                return;
            }
        };
        if let Err(e) = sys::send_msg(c.sock.as_fd(), &bytes, fds) {
            debug!(fusionee = %to, "send failed: {e}");
        }
    }

    pub(crate) fn reply(&self, to: FusioneeId, serial: u32, result: Result<crate::wire::Response>) {
        self.send(to, &crate::wire::Message::Reply { serial, result }, &[]);
    }

    /// Creates a call owned by the master: slaves execute it and `handler` answers.
    pub fn call_create(
        &mut self,
        name: &str,
        handler: impl FnMut(&mut Master, CallIn) -> CallOutcome + 'static,
    ) -> CallId {
        let id = self.new_call(name, MASTER_ID);
        self.handlers.insert(id, Box::new(handler));
        id
    }

    /// Creates a call owned by the master whose executions are handed to the program that
    /// runs it: [`Master::next_call`] gives them out after [`Master::dispatch`], and the
    /// program answers each with [`Master::call_return`] (or not at all for a one-way call).
    /// For a program whose state cannot be borrowed by a stored handler (the display server,
    /// which owns its master): it answers in the same turn of its loop that received the call.
    pub fn call_create_queued(&mut self, name: &str) -> CallId {
        let id = self.new_call(name, MASTER_ID);
        self.queued_calls.insert(id);
        id
    }

    /// The executions of queued calls not yet taken, oldest first (to look at, not take).
    pub fn queued_calls(&self) -> impl Iterator<Item = &CallIn> {
        self.calls_in.iter()
    }

    /// The oldest execution of a queued call not yet taken ([`Master::call_create_queued`]).
    pub fn next_call(&mut self) -> Option<CallIn> {
        self.calls_in.pop_front()
    }

    pub(crate) fn new_call(&mut self, name: &str, owner: FusioneeId) -> CallId {
        self.next_call = self.next_call.next();
        self.calls.insert(
            self.next_call,
            CallEntry {
                name: name.to_string(),
                owner,
                quota: HashMap::new(),
                default_quota: DEFAULT_CALL_QUOTA,
                executions: 0,
            },
        );
        self.next_call
    }

    /// Limits how many calls `caller` (0: everyone) may have pending on `call`.
    pub fn call_set_quota(&mut self, call: CallId, caller: FusioneeId, limit: u32) -> Result<()> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or_else(|| Error::NotFound(format!("call {call}")))?;
        if caller == SYSTEM {
            c.default_quota = limit;
        } else {
            c.quota.insert(caller, limit);
        }
        Ok(())
    }

    /// Destroys a call; callers waiting on it get `Destroyed`.
    pub fn call_destroy(&mut self, call: CallId) -> Result<()> {
        self.calls
            .remove(&call)
            .ok_or_else(|| Error::NotFound(format!("call {call}")))?;
        self.handlers.remove(&call);
        self.queued_calls.remove(&call);
        let waiting = self.pending_where(|p| p.call == call);
        for s in waiting {
            // The owner may still answer calls already forwarded to it.
            if let Some(p) = self.pending.get(&s) {
                self.orphan(s, p.callee);
            }
            self.finish_pending(s, Err(Error::Destroyed), Vec::new());
        }
        Ok(())
    }

    /// Remembers that the answer to `serial` from `callee` is no longer awaited.
    pub(crate) fn orphan(&mut self, serial: CallSerial, callee: FusioneeId) {
        if self.orphans.len() < MAX_ORPHANS {
            self.orphans.insert(serial, callee);
        }
    }

    /// Answers a call whose handler returned [`CallOutcome::Later`].
    pub fn call_return(
        &mut self,
        serial: CallSerial,
        result: Result<Vec<u8>>,
        fds: Vec<OwnedFd>,
    ) -> Result<()> {
        match self.pending.get(&serial) {
            Some(p) if p.callee == MASTER_ID => {
                self.finish_pending(serial, result, fds);
                Ok(())
            }
            // The caller left meanwhile: nobody to answer, nothing wrong.
            _ if self.orphans.get(&serial) == Some(&MASTER_ID) => {
                self.orphans.remove(&serial);
                Ok(())
            }
            _ => Err(Error::NotFound(format!("pending call {serial}"))),
        }
    }

    /// Executes a slave-owned call one-way (nothing comes back).
    pub fn call_oneway(&mut self, call: CallId, arg: i32, payload: Vec<u8>) -> Result<()> {
        self.execute(MASTER_ID, 0, call, arg, payload, Vec::new(), true)
            .map(|_| ())
    }

    /// Executes a call asynchronously; its answer arrives as [`MasterEvent::CallReturned`]
    /// with the returned serial (or `PeerGone` if the owner dies first).
    pub fn call_execute_async(
        &mut self,
        call: CallId,
        arg: i32,
        payload: Vec<u8>,
    ) -> Result<CallSerial> {
        let serial = self.serial();
        // The master is the caller: its "request serial" is this call serial (see
        // `finish_pending`).
        self.execute(MASTER_ID, serial.0, call, arg, payload, Vec::new(), false)?;
        Ok(serial)
    }

    /// Runs or forwards a call. `caller_serial` is where the answer goes.
    /// Returns `Ok(Some(answer))` when it completed synchronously.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn execute(
        &mut self,
        caller: FusioneeId,
        caller_serial: u32,
        call: CallId,
        arg: i32,
        payload: Vec<u8>,
        fds: Vec<OwnedFd>,
        oneway: bool,
    ) -> Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
        // Consumed here so calls a handler makes itself answer the usual way.
        let via_slot = std::mem::take(&mut self.executing_from_slot);
        let entry = self
            .calls
            .get_mut(&call)
            .ok_or_else(|| Error::NotFound(format!("call {call}")))?;
        let owner = entry.owner;
        let limit = *entry.quota.get(&caller).unwrap_or(&entry.default_quota);
        entry.executions += 1;
        let waiting = self
            .pending
            .values()
            .filter(|p| p.call == call && p.caller == caller)
            .count() as u32;
        if !oneway && caller != MASTER_ID && waiting >= limit {
            return Err(Error::Quota(format!(
                "{waiting} calls of fusionee {caller} pending on call {call}"
            )));
        }
        let serial = self.serial();
        // Where the master's answer goes, when it comes later (a queued call, or `Later`).
        let answer_to_master = Pending {
            caller,
            caller_serial,
            callee: MASTER_ID,
            call,
            via_slot,
        };
        if owner == MASTER_ID && self.queued_calls.contains(&call) {
            if self.calls_in.len() >= MAX_QUEUED_CALLS {
                return Err(Error::Quota(format!(
                    "{MAX_QUEUED_CALLS} executions of master calls wait already"
                )));
            }
            if !oneway {
                self.pending.insert(serial, answer_to_master);
            }
            self.calls_in.push_back(CallIn {
                caller,
                serial,
                arg,
                payload,
                fds,
                oneway,
            });
            return Ok(None);
        }
        if owner == MASTER_ID {
            let Some(mut h) = self.handlers.remove(&call) else {
                return Err(Error::NotFound(format!("handler of call {call}")));
            };
            let out = h(
                self,
                CallIn {
                    caller,
                    serial,
                    arg,
                    payload,
                    fds,
                    oneway,
                },
            );
            if self.calls.contains_key(&call) {
                self.handlers.entry(call).or_insert(h);
            }
            return match out {
                CallOutcome::Return(b, f) => Ok(Some((b, f))),
                CallOutcome::Fail(e) => Err(e),
                CallOutcome::Later => {
                    if !oneway {
                        self.pending.insert(serial, answer_to_master);
                    }
                    Ok(None)
                }
            };
        }
        // Owned by a slave: forward.
        let Some(c) = self.conns.get(&owner) else {
            self.cleanup.peer_gone += 1;
            return Err(Error::PeerGone(owner));
        };
        let msg = crate::wire::Message::Event(crate::wire::Event::Call {
            serial,
            call,
            caller,
            arg,
            payload,
            oneway,
        });
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        if self.send_raw(c.sock.as_fd(), &msg, &borrowed).is_err() {
            self.cleanup.peer_gone += 1;
            return Err(Error::PeerGone(owner));
        }
        if !oneway {
            self.pending.insert(
                serial,
                Pending {
                    caller,
                    caller_serial,
                    callee: owner,
                    call,
                    via_slot,
                },
            );
        }
        Ok(None)
    }

    /// Serials of the pending calls that match.
    fn pending_where(&self, pred: impl Fn(&Pending) -> bool) -> Vec<CallSerial> {
        self.pending
            .iter()
            .filter(|(_, p)| pred(p))
            .map(|(&s, _)| s)
            .collect()
    }

    /// Delivers a call's answer to whoever waits for it.
    pub(crate) fn finish_pending(
        &mut self,
        serial: CallSerial,
        result: Result<Vec<u8>>,
        fds: Vec<OwnedFd>,
    ) {
        let Some(p) = self.pending.remove(&serial) else {
            return;
        };
        if p.caller == MASTER_ID {
            // The master's calls wait under the serial `call_execute_async` gave.
            self.push_event(MasterEvent::CallReturned {
                serial: CallSerial(p.caller_serial),
                result,
            });
            return;
        }
        if p.via_slot {
            let turn_left = self.listen_turn < conn::LISTEN_TURN;
            if let Some(c) = self.conns.get_mut(&p.caller) {
                let budget = if turn_left {
                    c.listen.budget()
                } else {
                    Duration::ZERO
                };
                let slept = crate::slot::answer(&c.control, result);
                if slept {
                    c.wake();
                }
                self.answered_in_slot(p.caller, budget, slept);
            }
            return;
        }
        let msg = crate::wire::Message::Reply {
            serial: p.caller_serial,
            result: result.map(crate::wire::Response::Bytes),
        };
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        self.send(p.caller, &msg, &borrowed);
    }

    /// Asks one slave (or all, with `None`) to leave within `timeout`; those still there
    /// afterwards are killed.
    pub fn kill(&mut self, target: Option<FusioneeId>, timeout: Duration) {
        let ids: Vec<FusioneeId> = match target {
            Some(id) => vec![id],
            None => self.fusionees(),
        };
        let msg = crate::wire::Message::Event(crate::wire::Event::LeaveRequested {
            timeout_ms: timeout.as_millis().min(u32::MAX as u128) as u32,
        });
        for id in ids {
            self.send(id, &msg, &[]);
            if let Some(c) = self.conns.get_mut(&id) {
                c.kill_at = Some(Instant::now() + timeout);
            }
        }
    }

    /// Removes a slave and releases everything it held (see the module docs).
    pub(crate) fn remove(&mut self, id: FusioneeId, why: &str) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        self.poller.delete(conn.sock.as_fd());
        self.poller.delete(conn.doorbell.as_fd());
        info!(fusionee = %id, pid = conn.cred.pid, exe = %conn.exe, "left: {why}");
        self.cleanup.departed += 1;
        // 1. Locks and 7. shared memory: at once if its process is gone (or is our own); a
        // live process keeps its mappings, so it could still write where it held a lock or
        // a block: those wait until it has exited (its pidfd tells us).
        let alive = conn.cred.pid != self.pid
            && conn
                .pidfd
                .as_ref()
                .is_some_and(|p| !sys::pidfd_exited(p.as_fd()));
        let deferred_release = alive && self.defer_release(id, &mut conn);
        if !deferred_release {
            self.release_locks(id);
        }
        // 2. Calls it owned: callers get PeerGone; calls it made: answers are dropped.
        let owned: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.owner == id)
            .map(|(&k, _)| k)
            .collect();
        for k in owned {
            self.calls.remove(&k);
        }
        let waiting = self.pending_where(|p| p.callee == id);
        self.cleanup.peer_gone += waiting.len() as u64;
        for s in waiting {
            self.finish_pending(s, Err(Error::PeerGone(id)), Vec::new());
        }
        let abandoned: Vec<(CallSerial, FusioneeId)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.caller == id)
            .map(|(&s, p)| (s, p.callee))
            .collect();
        for (s, callee) in abandoned {
            self.pending.remove(&s);
            self.orphan(s, callee);
        }
        self.orphans.retain(|_, callee| *callee != id);
        // 3. Reactor subscriptions, and the reactors it created.
        self.reactors_fusionee_gone(id);
        // 4. Properties.
        for (who, serial, result) in self.properties.fusionee_gone(id, Instant::now()) {
            self.reply(who, serial, result.map(|()| crate::wire::Response::Unit));
        }
        // 5. Refs (may fire watches and destroy objects).
        let fired = self.refs.fusionee_gone(id);
        self.carry_out(fired);
        // 6. Arenas.
        for (who, serial, first) in self.arenas.fusionee_gone(id) {
            self.reply(who, serial, Ok(crate::wire::Response::Bool(first)));
        }
        // 7. Shared memory (see 1).
        if !deferred_release {
            self.reclaim_memory(id);
        }
        // 8. Lock names it created stay (the lock is world state), objects it owned lose it.
        self.objects.fusionee_gone(id);
        // 9. Tell the others.
        let msg = crate::wire::Message::Event(crate::wire::Event::Left(id));
        for other in self.fusionees() {
            self.send(other, &msg, &[]);
        }
        self.push_event(MasterEvent::Left(id));
        drop(conn);
    }

    /// Releases the locks a departed fusionee held (the next locker is told `OwnerDied`).
    fn release_locks(&mut self, id: FusioneeId) {
        if let Some(pool) = self.pools.get(&LOCK_POOL) {
            let released = skirmish::release_dead(pool.map(), self.lock_table, id);
            self.cleanup.owner_died += released.len() as u64;
            if !released.is_empty() {
                warn!(fusionee = %id, locks = ?released, "released locks of a departed owner");
            }
        }
    }

    /// Frees every block a departed fusionee allocated.
    fn reclaim_memory(&mut self, id: FusioneeId) {
        for pool in self.pools.values_mut() {
            let (blocks, bytes) = pool.reclaim(id);
            self.cleanup.blocks_reclaimed += blocks as u64;
            self.cleanup.bytes_reclaimed += bytes;
            if blocks > 0 {
                debug!(
                    fusionee = %id,
                    pool = pool.name(),
                    blocks,
                    bytes,
                    "reclaimed"
                );
            }
        }
    }

    /// Makes the release of `id`'s locks and blocks wait for the exit of its (live) process;
    /// `false` if that cannot be watched (then the caller releases at once).
    ///
    /// One pidfd per process: a process that enters again and leaves again adds its new id
    /// to the same entry. At most [`MAX_DEPARTED_PER_PROCESS`] ids wait per process and
    /// [`MAX_DEPARTED_PROCESSES_PER_UID`] processes per uid; beyond, the oldest is released
    /// at once, with a warning.
    fn defer_release(&mut self, id: FusioneeId, conn: &mut Conn) -> bool {
        let pid = conn.cred.pid;
        // An entry whose process exited (and whose pid a new process now has) is released
        // first: its exit may simply not have been dispatched yet.
        if self
            .departed
            .get(&pid)
            .is_some_and(|d| sys::pidfd_exited(d.pidfd.as_fd()))
        {
            self.exited(pid);
        }
        if let Some(d) = self.departed.get_mut(&pid) {
            d.ids.push_back(id);
            debug!(fusionee = %id, pid, "its locks and memory wait for its exit");
            if d.ids.len() > MAX_DEPARTED_PER_PROCESS {
                let oldest = d.ids.pop_front().expect("over the cap");
                if !std::mem::replace(&mut d.warned, true) {
                    warn!(
                        pid,
                        fusionee = %oldest,
                        "process keeps entering and leaving: releasing the locks and memory \
                         of its oldest departed fusionees while it still runs (at most \
                         {MAX_DEPARTED_PER_PROCESS} wait for its exit)"
                    );
                }
                self.release_now(oldest);
            }
            return true;
        }
        // The connection's own pidfd moves here (the connection is gone): no new descriptor.
        let Some(fd) = conn.pidfd.take() else {
            return false;
        };
        if self
            .poller
            .add(fd.as_fd(), ((pid as u64) << 8) | KIND_PIDFD)
            .is_err()
        {
            conn.pidfd = Some(fd);
            return false;
        }
        debug!(fusionee = %id, pid, "its locks and memory wait for its exit");
        self.departed_seq += 1;
        self.departed.insert(
            pid,
            Departed {
                pidfd: fd,
                uid: conn.cred.uid,
                ids: VecDeque::from([id]),
                seq: self.departed_seq,
                warned: false,
            },
        );
        let uid = conn.cred.uid;
        let mut of_uid: Vec<(u64, u32)> = self
            .departed
            .iter()
            .filter(|(_, d)| d.uid == uid)
            .map(|(&p, d)| (d.seq, p))
            .collect();
        if of_uid.len() > MAX_DEPARTED_PROCESSES_PER_UID {
            of_uid.sort_unstable();
            let (_, oldest) = of_uid[0];
            warn!(
                uid,
                pid = oldest,
                "more than {MAX_DEPARTED_PROCESSES_PER_UID} departed processes of one uid \
                 wait for their exit: releasing the locks and memory of the oldest now"
            );
            self.exited(oldest);
        }
        true
    }

    /// Releases a departed fusionee's locks and blocks.
    fn release_now(&mut self, id: FusioneeId) {
        self.release_locks(id);
        self.reclaim_memory(id);
    }

    /// What this master cleaned up after departed fusionees since it started.
    pub fn cleanup(&self) -> crate::status::CleanupStats {
        self.cleanup
    }

    /// The departed process `pid` exited (or is evicted): release what waited for that.
    fn exited(&mut self, pid: u32) {
        if let Some(d) = self.departed.remove(&pid) {
            self.poller.delete(d.pidfd.as_fd());
            for id in d.ids {
                self.release_now(id);
            }
        }
    }

    /// Carries out what ref operations fired.
    pub(crate) fn carry_out(&mut self, fired: Vec<refs::Fired>) {
        for f in fired {
            match f {
                refs::Fired::Granted(who, serial) => {
                    if who == MASTER_ID {
                        continue;
                    }
                    self.reply(who, serial, Ok(crate::wire::Response::Unit));
                }
                refs::Fired::Watch(_, refs::Watch::Call(call, arg)) => {
                    // Caller 0: the system, not the master (see `CallIn::caller`).
                    if let Err(e) = self.execute(SYSTEM, 0, call, arg, Vec::new(), Vec::new(), true)
                    {
                        debug!(%call, "ref watch call failed: {e}");
                    }
                }
                refs::Fired::Watch(_, refs::Watch::Object(obj)) => {
                    self.object_zero(obj);
                }
            }
        }
    }

    /// How long this master has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The root value slaves read.
    pub fn root(&self) -> &[u8] {
        &self.root
    }

    /// A pool by id.
    pub fn pool(&self, id: PoolId) -> Option<&ShmPool> {
        self.pools.get(&id)
    }

    /// A pool by id, mutably (allocations by the master itself).
    pub fn pool_mut(&mut self, id: PoolId) -> Option<&mut ShmPool> {
        self.pools.get_mut(&id)
    }

    /// Creates a pool; slaves map it on first use.
    pub fn pool_create(&mut self, name: &str, size: usize, access: PoolAccess) -> Result<PoolId> {
        let id = self
            .pools
            .keys()
            .next_back()
            .map_or(PoolId(0), |k| k.next());
        let pool = ShmPool::create(id, name, size, access)?;
        self.pools.insert(id, pool);
        Ok(id)
    }

    /// Creates a lock (skirmish) in the world's lock table, usable by the master.
    pub fn skirmish_create(&mut self, name: &str) -> Result<skirmish::Skirmish> {
        let idx = self.lock_alloc(name, MASTER_ID)?;
        let pool = self.pools.get(&LOCK_POOL).expect("lock pool");
        skirmish::Skirmish::new(pool.shared_map(), self.lock_table, idx, MASTER_ID)
    }

    pub(crate) fn lock_alloc(&mut self, name: &str, creator: FusioneeId) -> Result<SkirmishId> {
        // The lowest free slot: the first gap in the (sorted) slots in use.
        let free = (0u32..)
            .zip(self.lock_names.keys())
            .find(|(want, used)| want != *used)
            .map_or(self.lock_names.len() as u32, |(want, _)| want);
        if free >= LOCK_SLOTS {
            return Err(Error::Quota("lock table full".into()));
        }
        let idx = SkirmishId(free);
        let pool = self.pools.get(&LOCK_POOL).expect("lock pool");
        skirmish::init_slot(pool.map(), self.lock_table.offset, idx, name)?;
        self.lock_names.insert(idx.0, (name.to_string(), creator));
        Ok(idx)
    }

    pub(crate) fn conn_fd(&self, id: FusioneeId) -> Option<BorrowedFd<'_>> {
        self.conns.get(&id).map(|c| c.sock.as_fd())
    }

    pub(crate) fn poller(&self) -> &sys::Poller {
        &self.poller
    }

    pub(crate) fn take_handshakes(&mut self) -> Vec<(OwnedFd, sys::PeerCred, Instant)> {
        std::mem::take(&mut self.handshaking)
    }

    pub(crate) fn put_handshake(&mut self, h: (OwnedFd, sys::PeerCred, Instant)) {
        self.handshaking.push(h);
    }

    pub(crate) fn next_fusionee_id(&mut self) -> FusioneeId {
        self.next_id = self.next_id.next();
        self.next_id
    }
}

impl AsFd for Master {
    /// The epoll fd: readable whenever [`Master::dispatch`] has work.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }
}

impl Drop for Master {
    /// Shuts the world down: objects still referenced are destroyed as zombies (their
    /// destructors are told), and the socket goes; slaves see their connection close.
    fn drop(&mut self) {
        for class in self.objects.class_names() {
            let _ = self.object_class_destroy(&class);
        }
        // A handed-down socket is the supervisor's: it outlives this master.
        if !self.handed_down {
            let _ = std::fs::remove_file(self.cfg.socket_path());
        }
    }
}

pub(crate) fn create_dir(dir: &std::path::Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(format!("creating {}", dir.display()), &e)),
    }
}

/// Gives group `gid` traverse permission on the base directory `base` if it is ours and
/// lacks it (g+x when the directory belongs to that group, else o+x); warns when it is not
/// ours, or when a directory above it keeps the group out.
pub(crate) fn open_base_for_group(base: &std::path::Path, gid: u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let me = rustix::process::geteuid().as_raw();
    let Ok(meta) = std::fs::metadata(base) else {
        return;
    };
    let mode = meta.mode() & 0o7777;
    let bit = if meta.gid() == gid { 0o010 } else { 0o001 };
    if mode & bit == 0 {
        let what = if bit == 0o010 { "g+x" } else { "o+x" };
        if meta.uid() == me {
            let new = mode | bit;
            match std::fs::set_permissions(base, std::fs::Permissions::from_mode(new)) {
                Ok(()) => info!(
                    dir = %base.display(),
                    "added {what} (mode {mode:o} -> {new:o}) so group {gid} can reach the world"
                ),
                Err(e) => warn!(
                    dir = %base.display(),
                    "cannot add {what} for group {gid}: {e}; its members cannot reach the world"
                ),
            }
        } else {
            warn!(
                dir = %base.display(),
                owner = meta.uid(),
                "mode {mode:o} keeps group {gid} out and the directory is not ours: \
                 its owner must `chmod {what}` it"
            );
        }
    }
    // Directories above (e.g. a 0700 $XDG_RUNTIME_DIR) are not ours to change: say so.
    for up in base.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(up) else {
            continue;
        };
        let mode = m.mode();
        let traverse = mode & 0o001 != 0 || (m.gid() == gid && mode & 0o010 != 0);
        if !traverse {
            warn!(
                dir = %up.display(),
                "mode {:o} keeps members of group {gid} from reaching {}: run the master \
                 with FUSIONFB_RUNTIME_DIR in a directory they can traverse (e.g. \
                 /run/fusionfb)",
                mode & 0o7777,
                base.display()
            );
            break;
        }
    }
}

/// Sets a world directory's group and mode: 0770 with the configured group, 0700 without
/// (a directory an earlier master left with other modes is corrected, and the change
/// logged).
pub(crate) fn set_world_dir_mode(dir: &std::path::Path, group: Option<u32>) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    if let Some(gid) = group {
        if meta.gid() != gid {
            match std::os::unix::fs::chown(dir, None, Some(gid)) {
                Ok(()) => info!(
                    dir = %dir.display(),
                    "group {} -> {gid}",
                    meta.gid()
                ),
                Err(e) => warn!(
                    dir = %dir.display(),
                    "cannot give the world to group {gid}: {e}; its members cannot enter"
                ),
            }
        }
    }
    let want = if group.is_some() { 0o770 } else { 0o700 };
    let mode = meta.mode() & 0o7777;
    if mode != want {
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(want)) {
            Ok(()) => info!(dir = %dir.display(), "mode {mode:o} -> {want:o}"),
            Err(e) => warn!(dir = %dir.display(), "cannot set mode {want:o}: {e}"),
        }
    }
}

fn supplementary_groups(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Groups:")).map(|l| {
                l[7..]
                    .split_whitespace()
                    .filter_map(|g| g.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// A reply `result` that did not encode (`too_big`), as a slave of API minor `minor` can take
/// it: a snapshot's JSON in a sealed memfd from minor 2 ([`Response::JsonFd`]), a call's
/// answer from minor 3 ([`Response::BytesFd`]); else the error to reply with instead.
fn oversized(
    minor: u16,
    result: &Result<crate::wire::Response>,
    too_big: Error,
) -> Result<(crate::wire::Response, OwnedFd)> {
    use crate::wire::Response;
    let (bytes, since, what) = match result {
        Ok(Response::Json(j)) => (j.as_bytes(), 2, "the snapshot"),
        Ok(Response::Bytes(b)) => (&b[..], 3, "the answer"),
        _ => return Err(too_big),
    };
    if minor < since {
        return Err(Error::Invalid(format!(
            "{what} ({} bytes) is larger than a packet, and this slave (API minor below \
             {since}) cannot take it in a memfd",
            bytes.len()
        )));
    }
    let memfd = sealed_memfd("fusion reply", bytes).map_err(|e| Error::io("reply memfd", &e))?;
    let len = bytes.len() as u64;
    let resp = match result {
        Ok(Response::Json(_)) => Response::JsonFd(len),
        _ => Response::BytesFd(len),
    };
    Ok((resp, memfd))
}

/// `bytes` in a new memfd sealed against any change.
fn sealed_memfd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = sys::memfd_create(name, bytes.len())?;
    std::os::unix::fs::FileExt::write_all_at(&std::fs::File::from(fd.try_clone()?), bytes, 0)?;
    sys::memfd_seal_readonly(fd.as_fd())?;
    sys::memfd_seal_final(fd.as_fd())?;
    Ok(fd)
}
