//! Fusion's rows: the case traits implemented by Fusion's primitives, and one provider
//! function per case (listed in `registry`).
//!
//! Every case runs in a fresh world in its own temporary directory ([`TempWorld`]).
//! Fork safety: a forked partner never uses a `Master` or `Slave` made before the fork.
//! Where the partner is a slave it enters the world after the fork (its object is built
//! lazily, [`Caller`], [`ReactorSubscriber`], or in the handoff `open` callback); where
//! the partner is the master it creates the world after the fork ([`Callee`], oneway).
//! A master made before a fork stays in the parent and is the only one used.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fusion::master::MAIN_POOL;
use fusion::pool::{ShmHandle, ShmPool};
use fusion::reactor::Reaction;
use fusion::skirmish::Skirmish;
use fusion::wire::{CallId, ReactorId};
use fusion::{CallOutcome, Master, MasterEvent, Slave, WorldConfig};

use crate::fusion_bench::cases::alloc::{self, BenchAlloc};
use crate::fusion_bench::cases::fanout::{self, Publisher, Subscriber};
use crate::fusion_bench::cases::handoff::{self, Side};
use crate::fusion_bench::cases::lock;
use crate::fusion_bench::cases::roundtrip::{self, Duplex, Msg};
use crate::fusion_bench::child;
use crate::fusion_bench::locks::BenchLock;
use crate::fusion_bench::stats::{time_batches, Budget, Row};

/// How long a partner may take to enter a world or to come up as its master.
const SETUP: Duration = Duration::from_secs(10);

fn io_err(e: fusion::Error) -> io::Error {
    io::Error::other(e)
}

/// A world in a fresh temporary directory, removed on drop (in the parent only: forked
/// partners leave with `_exit` and never drop it).
struct TempWorld {
    dir: PathBuf,
    cfg: WorldConfig,
}

impl TempWorld {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fusion-bench-{}-{name}", std::process::id()));
        let cfg = WorldConfig::new(name).runtime_dir(&dir);
        Self { dir, cfg }
    }

    fn master(&self) -> io::Result<Master> {
        Master::create(self.cfg.clone()).map_err(io_err)
    }
}

impl Drop for TempWorld {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Enters `cfg` as a slave, retrying while its master (a partner process) comes up.
fn enter_when_up(cfg: &WorldConfig) -> io::Result<Slave> {
    let end = Instant::now() + SETUP;
    loop {
        match Slave::enter(cfg.clone()) {
            Err(fusion::Error::NoMaster { .. }) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(1));
            }
            r => return r.map_err(io_err),
        }
    }
}

// ---- lock, handoff: skirmish ---------------------------------------------------------

/// A skirmish handle; on a slave's side it keeps the slave (its world membership) alive.
struct FusionLock {
    lock: Skirmish,
    _slave: Option<Slave>,
    /// Whether a dismiss failed: one flag read per lock, as the futex baseline's harness
    /// pays nothing (the error itself, rare, waits in `error`).
    failed: Cell<bool>,
    /// The failed dismiss's error, reported by the next lock (`BenchLock::unlock` cannot
    /// fail).
    error: Cell<Option<fusion::Error>>,
}

impl FusionLock {
    fn new(lock: Skirmish, slave: Option<Slave>) -> Self {
        Self {
            lock,
            _slave: slave,
            failed: Cell::new(false),
            error: Cell::new(None),
        }
    }
}

impl FusionLock {
    /// The failed dismiss's error, as the next lock reports it.
    #[cold]
    #[inline(never)]
    fn dismiss_error(&self) -> io::Error {
        let e = self.error.take().map(|e| e.to_string()).unwrap_or_default();
        io::Error::other(format!("skirmish dismiss: {e}"))
    }

    /// Keeps a failed dismiss's error for the next lock.
    #[cold]
    #[inline(never)]
    fn keep_error(&self, e: fusion::Error) {
        self.failed.set(true);
        self.error.set(Some(e));
    }
}

/// The harness inlines like the baselines' (whose lock and unlock are inlined into the
/// measured loop): the error paths are out of line, the skirmish's own fast paths inline.
impl BenchLock for FusionLock {
    #[inline]
    fn lock(&self) -> io::Result<()> {
        if self.failed.get() {
            return Err(self.dismiss_error());
        }
        match self.lock.prevail() {
            Ok(_) => Ok(()),
            Err(e) => Err(cold_io_err(e)),
        }
    }

    #[inline]
    fn unlock(&self) {
        if let Err(e) = self.lock.dismiss() {
            self.keep_error(e);
        }
    }
}

#[cold]
#[inline(never)]
fn cold_io_err(e: fusion::Error) -> io::Error {
    io_err(e)
}

/// `[fusion]` lock: uncontended prevail + dismiss of a master-side skirmish.
pub fn lock(budget: &Budget) -> io::Result<Vec<Row>> {
    let world = TempWorld::new("bench-lock");
    let mut master = world.master()?;
    let l = FusionLock::new(master.skirmish_create("bench").map_err(io_err)?, None);
    Ok(vec![lock::uncontended(budget, "fusion", &l)?])
}

/// `[fusion]` handoff: the parent is the master, the partner enters as a slave after the
/// fork and opens the skirmish by index. The parent's `open` admits it first.
pub fn handoff(budget: &Budget) -> io::Result<Vec<Row>> {
    let world = TempWorld::new("bench-handoff");
    let master = RefCell::new(world.master()?);
    let skirmish = master
        .borrow_mut()
        .skirmish_create("bench")
        .map_err(io_err)?;
    let index = lock_index(&master.borrow(), "bench")?;
    let row = handoff::measure(budget, "fusion", |side| match side {
        Side::Partner => {
            let mut slave = Slave::enter(world.cfg.clone()).map_err(io_err)?;
            let l = slave.skirmish_open(index).map_err(io_err)?;
            Ok(FusionLock::new(l, Some(slave)))
        }
        Side::Parent => {
            let joined = master
                .borrow_mut()
                .dispatch_until(SETUP, |m| !m.fusionees().is_empty())
                .map_err(io_err)?;
            if !joined {
                return Err(io::Error::other("handoff: the partner did not enter"));
            }
            Ok(FusionLock::new(skirmish.clone(), None))
        }
    })?;
    Ok(vec![row])
}

/// The lock-table index of the skirmish called `name` (what a slave opens it by).
fn lock_index(master: &Master, name: &str) -> io::Result<fusion::SkirmishId> {
    master
        .snapshot()
        .locks
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.index)
        .ok_or_else(|| io::Error::other(format!("skirmish {name:?} not in the lock table")))
}

// ---- roundtrip, call-oneway: calls ---------------------------------------------------

/// The master's echo call: answers the payload with its last byte flipped, as the
/// roundtrip partner does.
const ECHO: &str = "echo";

/// The master's side of the call round trip, in the partner process. It creates the world
/// on its first `recv` (after the fork) and serves the echo call: its handler answers
/// inside `dispatch`, so `recv` returns once the next call was served and `send` has
/// nothing left to do.
struct Callee {
    cfg: WorldConfig,
    master: Option<Master>,
    served: Rc<Cell<u64>>,
    expected: u64,
}

impl Callee {
    fn master(&mut self) -> io::Result<&mut Master> {
        if self.master.is_none() {
            let mut m = Master::create(self.cfg.clone()).map_err(io_err)?;
            let served = self.served.clone();
            m.call_create(ECHO, move |_, mut call| {
                served.set(served.get() + 1);
                if let Some(b) = call.payload.last_mut() {
                    *b ^= 0xff;
                }
                CallOutcome::Return(call.payload, Vec::new())
            });
            self.master = Some(m);
        }
        Ok(self.master.as_mut().expect("created above"))
    }
}

/// Dispatches until `done`; an error when a slave leaves first (the caller died).
fn serve(m: &mut Master, done: impl Fn() -> bool) -> io::Result<()> {
    while !done() {
        m.dispatch(None).map_err(io_err)?;
        while let Some(e) = m.next_event() {
            if let MasterEvent::Left(id) = e {
                return Err(io::Error::other(format!("fusionee {id} left early")));
            }
        }
    }
    Ok(())
}

impl Duplex for Callee {
    fn send(&mut self, _msg: &Msg) -> io::Result<()> {
        Ok(())
    }

    fn recv(&mut self, _buf: &mut Msg) -> io::Result<()> {
        // One dispatch may serve the next call too (the caller sends it as soon as it has
        // its answer), so count calls, not dispatches.
        self.expected += 1;
        let (served, target) = (self.served.clone(), self.expected);
        serve(self.master()?, || served.get() >= target)
    }
}

/// The slave's side, in the measuring process: enters (after the fork) on its first
/// `recv`; `send` + `recv` are one `call_execute`.
struct Caller {
    cfg: WorldConfig,
    slave: Option<(Slave, CallId)>,
    out: Msg,
}

impl Duplex for Caller {
    fn send(&mut self, msg: &Msg) -> io::Result<()> {
        self.out = *msg;
        Ok(())
    }

    fn recv(&mut self, buf: &mut Msg) -> io::Result<()> {
        if self.slave.is_none() {
            let mut s = enter_when_up(&self.cfg)?;
            let echo = s.call_lookup(ECHO).map_err(io_err)?;
            self.slave = Some((s, echo));
        }
        let (s, echo) = self.slave.as_mut().expect("entered above");
        let reply = s.call_execute(*echo, 0, &self.out).map_err(io_err)?;
        *buf = reply
            .as_slice()
            .try_into()
            .map_err(|_| io::Error::other("echo: reply of the wrong length"))?;
        Ok(())
    }
}

/// `[fusion]` roundtrip: a slave's `call_execute` of the master's echo call, 64 bytes
/// each way. The master runs in the partner process.
pub fn call(budget: &Budget) -> io::Result<Vec<Row>> {
    let world = TempWorld::new("bench-call");
    let caller = Caller {
        cfg: world.cfg.clone(),
        slave: None,
        out: [0; 64],
    };
    let callee = Callee {
        cfg: world.cfg.clone(),
        master: None,
        served: Rc::new(Cell::new(0)),
        expected: 0,
    };
    Ok(vec![roundtrip::measure(
        budget,
        "fusion",
        (caller, callee),
    )?])
}

/// The case name of the `--explain` rows.
pub const STAGES_CASE: &str = "call stages";

/// [`Caller`] with its calls' stages timed ([`Slave::set_call_tracing`]): each call's stage
/// times go to `traces`.
struct TracingCaller {
    caller: Caller,
    traces: Rc<RefCell<Vec<[u64; 8]>>>,
}

impl Duplex for TracingCaller {
    fn send(&mut self, msg: &Msg) -> io::Result<()> {
        self.caller.send(msg)
    }

    fn recv(&mut self, buf: &mut Msg) -> io::Result<()> {
        if self.caller.slave.is_none() {
            let mut s = enter_when_up(&self.caller.cfg)?;
            let echo = s.call_lookup(ECHO).map_err(io_err)?;
            s.set_call_tracing(true);
            self.caller.slave = Some((s, echo));
        }
        self.caller.recv(buf)?;
        if let Some((s, _)) = &self.caller.slave {
            self.traces.borrow_mut().push(s.call_trace());
        }
        Ok(())
    }
}

/// `--explain`: the fusion round trip again with each call's stages timed
/// ([`fusion::slot::Stage`]: slot write, doorbell, master wake, dispatch, handler, answer,
/// caller wake), one row per stage (`Rows` of the time from the stage before), plus the
/// traced round trip itself (tracing costs a few clock reads).
pub fn call_stages(budget: &Budget) -> io::Result<Vec<Row>> {
    use fusion::slot::Stage;
    let world = TempWorld::new("bench-stages");
    let traces = Rc::new(RefCell::new(Vec::new()));
    let caller = TracingCaller {
        caller: Caller {
            cfg: world.cfg.clone(),
            slave: None,
            out: [0; 64],
        },
        traces: traces.clone(),
    };
    let callee = Callee {
        cfg: world.cfg.clone(),
        master: None,
        served: Rc::new(Cell::new(0)),
        expected: 0,
    };
    let whole = roundtrip::measure(budget, "fusion traced", (caller, callee))?;
    let traces = traces.borrow();
    // The warm-up calls come first.
    let samples = whole.stats.samples.min(traces.len());
    let traces = &traces[traces.len() - samples..];
    let mut rows: Vec<Row> = Stage::ALL[1..]
        .iter()
        .map(|&stage| {
            let i = stage as usize;
            let ns: Vec<u64> = traces
                .iter()
                .filter(|t| t[i] != 0 && t[i - 1] != 0)
                .map(|t| t[i].saturating_sub(t[i - 1]))
                .collect();
            Row::new(
                STAGES_CASE,
                format!("{i} {}", stage.about()),
                crate::fusion_bench::stats::Stats::from_samples(ns),
                1,
            )
        })
        .collect();
    rows.push(Row::new(STAGES_CASE, "all (traced)", whole.stats, 1));
    Ok(rows)
}

/// The case name of the one-way call rows.
pub const ONEWAY_CASE: &str = "call-oneway 64B";

/// `[fusion]` call-oneway: 64-byte one-way calls a slave queues (sent in batches of 64)
/// to a master in the partner process; each batch of 1024 ends with a synchronous call
/// that returns once the master has run them all, so a sample covers sending and running.
pub fn call_oneway(budget: &Budget) -> io::Result<Vec<Row>> {
    let world = TempWorld::new("bench-oneway");
    let cfg = world.cfg.clone();
    let partner = child::spawn(move || serve_oneway(cfg))?;
    let mut slave = enter_when_up(&world.cfg)?;
    let sink = slave.call_lookup("sink").map_err(io_err)?;
    let sync = slave.call_lookup("sync").map_err(io_err)?;
    let batch = 1024;
    let msg = [0u8; 64];
    let mut sent = 0u64;
    let stats = time_batches(budget, budget.pick(2000, 200), batch, || {
        slave.call_queue(sink, 0, &msg).map_err(io_err)?;
        sent += 1;
        if sent % batch as u64 == 0 {
            let ran = slave.call_execute(sync, 0, &[]).map_err(io_err)?;
            if ran != sent.to_le_bytes() {
                return Err(io::Error::other("call-oneway: calls lost"));
            }
        }
        Ok(())
    })?;
    drop(slave); // the master leaves when we do
    partner.wait(budget.partner_timeout())?;
    Ok(vec![Row::new(ONEWAY_CASE, "fusion", stats, batch as u64)])
}

/// The partner of `call_oneway`: a master counting `sink` calls, until the slave leaves.
fn serve_oneway(cfg: WorldConfig) -> io::Result<()> {
    let mut m = Master::create(cfg).map_err(io_err)?;
    let ran = Rc::new(Cell::new(0u64));
    let r = ran.clone();
    m.call_create("sink", move |_, _| {
        r.set(r.get() + 1);
        CallOutcome::Return(Vec::new(), Vec::new())
    });
    m.call_create("sync", move |_, _| {
        CallOutcome::Return(ran.get().to_le_bytes().to_vec(), Vec::new())
    });
    loop {
        m.dispatch(None).map_err(io_err)?;
        while let Some(e) = m.next_event() {
            if matches!(e, MasterEvent::Left(_)) {
                return Ok(()); // the slave left: done
            }
        }
    }
}

// ---- fanout: reactor -------------------------------------------------------------------

/// The master dispatching on a reactor. Its first `publish` first admits the subscribers
/// (they enter after the fork, attach, and say so with the `ready` call); that event is
/// part of the warm-up.
struct ReactorPublisher {
    master: Master,
    reactor: ReactorId,
    want: usize,
    ready: Rc<Cell<usize>>,
}

impl Publisher for ReactorPublisher {
    fn publish(&mut self, msg: &Msg) -> io::Result<()> {
        if self.ready.get() < self.want {
            let (ready, want) = (self.ready.clone(), self.want);
            if !self
                .master
                .dispatch_until(SETUP, |_| ready.get() >= want)
                .map_err(io_err)?
            {
                return Err(io::Error::other("fan-out: subscribers did not attach"));
            }
        }
        self.master
            .reactor_dispatch(self.reactor, 0, msg, false)
            .map_err(io_err)
    }
}

type Inbox = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// A subscriber process: enters and attaches on its first `next` (after the fork).
struct ReactorSubscriber {
    cfg: WorldConfig,
    reactor: ReactorId,
    ready_call: CallId,
    entered: Option<(Slave, Inbox)>,
}

impl ReactorSubscriber {
    fn enter(&self) -> io::Result<(Slave, Inbox)> {
        let mut s = Slave::enter(self.cfg.clone()).map_err(io_err)?;
        let inbox = Inbox::default();
        let mine = inbox.clone();
        s.attach(self.reactor, 0, move |d| {
            lock_inbox(&mine).push_back(d.payload.to_vec());
            Reaction::Keep
        })
        .map_err(io_err)?;
        s.call_execute(self.ready_call, 0, &[]).map_err(io_err)?;
        Ok((s, inbox))
    }
}

fn lock_inbox(i: &Inbox) -> std::sync::MutexGuard<'_, VecDeque<Vec<u8>>> {
    i.lock().unwrap_or_else(|e| e.into_inner())
}

impl Subscriber for ReactorSubscriber {
    fn next(&mut self, buf: &mut Msg) -> io::Result<()> {
        if self.entered.is_none() {
            self.entered = Some(self.enter()?);
        }
        let (slave, inbox) = self.entered.as_mut().expect("entered above");
        loop {
            if let Some(m) = lock_inbox(inbox).pop_front() {
                *buf = m
                    .as_slice()
                    .try_into()
                    .map_err(|_| io::Error::other("fan-out: message of the wrong length"))?;
                return Ok(());
            }
            slave.dispatch(None).map_err(io_err)?;
            if slave.master_gone() {
                return Err(io_err(fusion::Error::MasterGone));
            }
        }
    }
}

/// A world with a lossless 64-byte reactor and `n` subscribers to be.
fn reactor_fanout(
    world: &TempWorld,
    n: usize,
) -> io::Result<(ReactorPublisher, Vec<ReactorSubscriber>)> {
    let mut master = world.master()?;
    let reactor = master
        .reactor_create("bench", 64, 64, true)
        .map_err(io_err)?;
    let ready = Rc::new(Cell::new(0));
    let r = ready.clone();
    let ready_call = master.call_create("ready", move |_, _| {
        r.set(r.get() + 1);
        CallOutcome::Return(Vec::new(), Vec::new())
    });
    let subs = (0..n)
        .map(|_| ReactorSubscriber {
            cfg: world.cfg.clone(),
            reactor,
            ready_call,
            entered: None,
        })
        .collect();
    let publisher = ReactorPublisher {
        master,
        reactor,
        want: n,
        ready,
    };
    Ok((publisher, subs))
}

/// `[fusion]` fanout N=1, 4, 16: `reactor_dispatch` by the master (the parent) to N
/// slave processes attached to the reactor.
pub fn fanout(budget: &Budget) -> io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for n in fanout::SUBSCRIBERS {
        let world = TempWorld::new(&format!("bench-fanout-{n}"));
        rows.extend(fanout::measure(
            budget,
            "fusion",
            reactor_fanout(&world, n)?,
        )?);
    }
    Ok(rows)
}

// ---- alloc: shm pool -------------------------------------------------------------------

/// The master's allocations in one of its pools.
struct PoolAlloc<'a> {
    pool: &'a mut ShmPool,
    owner: fusion::FusioneeId,
}

impl BenchAlloc for PoolAlloc<'_> {
    type Block = ShmHandle;

    fn alloc(&mut self, size: usize) -> io::Result<ShmHandle> {
        self.pool.alloc(self.owner, size).map_err(io_err)
    }

    fn free(&mut self, block: ShmHandle) {
        let freed = self.pool.free(self.owner, block);
        debug_assert!(freed.is_ok(), "shm free: {freed:?}");
    }
}

/// `[fusion]` alloc: `ShmPool::alloc`/`free` in the master's main pool.
pub fn alloc(budget: &Budget) -> io::Result<Vec<Row>> {
    let world = TempWorld::new("bench-alloc");
    let mut master = world.master()?;
    let owner = master.id();
    let pool = master
        .pool_mut(MAIN_POOL)
        .ok_or_else(|| io::Error::other("no main pool"))?;
    let mut a = PoolAlloc { pool, owner };
    Ok(vec![alloc::measure(budget, "fusion", &mut a)?])
}
