//! The slave: a process that joined a master's world.
//!
//! [`Slave::enter`] connects to the world's socket, says hello (API and ABI), and maps what
//! the master hands over: the pools (master state read-only), the lock table, and its own
//! control area. From then on a slave calls the master's (or other slaves') calls, takes locks
//! directly in shared memory, reads reactor messages straight from the broadcast rings, and
//! handles calls it owns.
//!
//! There is no dispatcher thread: [`Slave::dispatch`] handles whatever is ready, and
//! [`Slave::as_fd`] is one pollable fd for any event loop (see [`crate::source`] for calloop).
//! Synchronous requests wait for their own answer and queue everything else for the next
//! `dispatch`, except calls to this slave's own handlers, which run while it waits, so two
//! slaves calling each other cannot deadlock.
//!
//! When the master dies, the slave sees [`SlaveEvent::MasterGone`] once and every later
//! operation fails with [`Error::MasterGone`]; no signal is sent to it. It can enter again
//! when a new master comes up.
//!
//! ```no_run
//! use fusion::{Slave, WorldConfig};
//! let mut slave = Slave::enter(WorldConfig::new("example")).unwrap();
//! println!("I am fusionee {}", slave.id());
//! let r = slave.ref_create("mine").unwrap();
//! slave.ref_up(r, false).unwrap(); // dropped automatically if this process dies
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::call::{CallIn, CallOutcome};
use crate::control;
use crate::pool::ShmHandle;
use crate::reactor::{Delivery, Reaction, FLAG_EXCLUDE_ORIGIN, FLAG_WANT_CONSUMED};
use crate::ring::{CursorBlock, ReadResult, RingReader, SleepMode};
use crate::skirmish::Skirmish;
use crate::slot;
use crate::status::WorldSnapshot;
use crate::sys::{self, Mapping};
use crate::wire::{
    self, CallId, Event, FusioneeId, Message, ObjectId, ObjectInfo, PoolInfo, PropertyId,
    ReactorId, RefId, Request, Response, API_MAJOR, API_MINOR,
};
use crate::world::WorldConfig;
use crate::{Error, Result};

/// How long entering waits for the master's welcome.
const ENTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Queued one-way calls sent together at most.
const BATCH_MAX: usize = 64;
/// Bytes of queued one-way calls sent together at most.
const BATCH_BYTES: usize = 32 * 1024;
/// How long a synchronous call waits for its answer before it sleeps.
const SPIN: Duration = Duration::from_micros(20);
/// How long of that it spins before it starts yielding the CPU.
const SPIN_HOT: Duration = Duration::from_micros(3);

/// What happened in the world, as a slave sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaveEvent {
    /// Another fusionee left or died.
    Left(FusioneeId),
    /// The master asks us to leave within this time (then we are killed).
    LeaveRequested(Duration),
    /// A lossy reactor overwrote messages before we read them.
    Overrun {
        /// Which reactor.
        reactor: ReactorId,
        /// How many messages were lost.
        lost: u64,
    },
    /// The master died or closed the world. Every later operation fails.
    MasterGone,
}

/// A slave's call handler.
pub type SlaveHandler = Box<dyn FnMut(CallIn) -> CallOutcome + Send>;
type SlaveReaction = Box<dyn FnMut(&Delivery<'_>) -> Reaction + Send>;

struct Attachment {
    reader: RingReader,
    bell: OwnedFd,
    reactions: Vec<(u32, u32, SlaveReaction)>,
}

/// A process in a master's world. See the module docs.
pub struct Slave {
    cfg: WorldConfig,
    id: FusioneeId,
    master_pid: u32,
    master_minor: u16,
    sock: OwnedFd,
    control: Arc<Mapping>,
    doorbell: OwnedFd,
    wake: OwnedFd,
    poller: sys::Poller,
    pools: BTreeMap<u32, (PoolInfo, Arc<Mapping>)>,
    lock_table: usize,
    serial: u32,
    inbox: VecDeque<Message>,
    gone: bool,
    attachments: BTreeMap<ReactorId, Attachment>,
    next_reaction: u32,
    handlers: HashMap<CallId, SlaveHandler>,
    events: VecDeque<SlaveEvent>,
    batch: Vec<Request>,
    batch_bytes: usize,
    /// Packets went out on the socket since the last call-slot request.
    sent_on_socket: bool,
    buf: Vec<u8>,
    ready: Vec<u64>,
}

impl std::fmt::Debug for Slave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slave")
            .field("world", &self.cfg.name)
            .field("id", &self.id)
            .finish()
    }
}

const TOKEN_SOCK: u64 = 1;
const TOKEN_WAKE: u64 = 2;
const TOKEN_BELL: u64 = 3;

impl Slave {
    /// Enters the world `cfg` names as a slave.
    ///
    /// Without a `runtime_dir`, every directory a master can live in is tried in turn (see
    /// [`WorldConfig::search_dirs`]) and the first live master's world entered. When none
    /// answers, [`Error::NoMaster`] names the directories tried and the worlds in them.
    pub fn enter(cfg: WorldConfig) -> Result<Self> {
        cfg.validate()?;
        let dirs = cfg.search_dirs();
        let mut stale = Vec::new();
        let mut denied = None;
        for dir in &dirs {
            let at = cfg.clone().runtime_dir(dir);
            match sys::connect_seqpacket(&at.socket_path()) {
                Ok(sock) => return Self::handshake(at, sock),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // A socket nobody listens on: a dead master's world.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    stale.push(dir.clone())
                }
                // A world this user may not reach: said clearly unless a master elsewhere
                // takes us.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    denied.get_or_insert(at.socket_path());
                }
                Err(e) => {
                    let op = format!("connecting to {}", at.socket_path().display());
                    return Err(Error::io(op, &e));
                }
            }
        }
        if let Some(sock) = denied {
            let text = crate::world::access_denied_text(&cfg.name, &sock);
            warn!(world = %cfg.name, "{text}");
            return Err(Error::Access(text));
        }
        let looked = dirs
            .iter()
            .map(|d| {
                let mut l = crate::world::look_in(d);
                if stale.contains(d) {
                    l.note = Some(format!("{:?}: its master is gone", cfg.name));
                }
                l
            })
            .collect();
        Err(Error::NoMaster {
            world: cfg.name.clone(),
            looked,
        })
    }

    /// Says hello on `sock`, connected to `cfg`'s master, and maps what the welcome brings.
    fn handshake(cfg: WorldConfig, sock: OwnedFd) -> Result<Self> {
        let hello = Message::Hello {
            api_major: API_MAJOR,
            api_minor: API_MINOR,
            abi: cfg.abi,
            name: cfg.client_name.clone(),
        };
        sys::send_msg(sock.as_fd(), &wire::encode(&hello)?, &[])?;
        if sys::poll_readable(&[sock.as_fd()], Some(ENTER_TIMEOUT)).is_none() {
            return Err(Error::TimedOut);
        }
        let r = sys::recv_msg(sock.as_fd(), wire::MAX_MESSAGE, false)?.ok_or_else(|| {
            Error::NoMaster {
                world: cfg.name.clone(),
                looked: vec![crate::Looked {
                    dir: cfg.base_dir().display().to_string(),
                    worlds: vec![cfg.name.clone()],
                    note: Some("the master hung up during the handshake".into()),
                }],
            }
        })?;
        let welcome = match wire::decode(&r.data)? {
            Message::Welcome(w) => w,
            Message::Refused(e) => {
                warn!(world = %cfg.name, "the master refused us: {e}");
                return Err(e);
            }
            other => return Err(Error::Malformed(format!("expected Welcome, got {other:?}"))),
        };
        let mut fds = r.fds.into_iter();
        let (Some(control_fd), Some(doorbell), Some(wake)) = (fds.next(), fds.next(), fds.next())
        else {
            return Err(Error::Malformed("welcome without its descriptors".into()));
        };
        let control = Arc::new(Mapping::new(
            control_fd.as_fd(),
            welcome.control_size as usize,
            true,
        )?);
        let mut pools = BTreeMap::new();
        for (info, fd) in welcome.pools.iter().zip(fds) {
            let len = sys::fd_size(fd.as_fd())?;
            let map = Arc::new(Mapping::new(fd.as_fd(), len, info.writable)?);
            pools.insert(info.id, (info.clone(), map));
        }
        let poller = sys::Poller::new()?;
        poller.add(sock.as_fd(), TOKEN_SOCK)?;
        poller.add(wake.as_fd(), TOKEN_WAKE)?;
        debug!(world = %cfg.name, id = welcome.id, "entered");
        Ok(Self {
            cfg,
            id: welcome.id,
            master_pid: welcome.master_pid,
            master_minor: welcome.api_minor,
            sock,
            control,
            doorbell,
            wake,
            poller,
            pools,
            lock_table: welcome.lock_table as usize,
            serial: 0,
            inbox: VecDeque::new(),
            gone: false,
            attachments: BTreeMap::new(),
            next_reaction: 0,
            handlers: HashMap::new(),
            events: VecDeque::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            sent_on_socket: true,
            buf: Vec::with_capacity(4096),
            ready: Vec::with_capacity(4),
        })
    }

    /// Our fusionee id.
    pub fn id(&self) -> FusioneeId {
        self.id
    }

    /// The master's pid.
    pub fn master_pid(&self) -> u32 {
        self.master_pid
    }

    /// The master's API minor version (the newer side adapts).
    pub fn master_api_minor(&self) -> u16 {
        self.master_minor
    }

    /// The world we are in.
    pub fn world(&self) -> &WorldConfig {
        &self.cfg
    }

    /// Whether the master is gone.
    pub fn master_gone(&self) -> bool {
        self.gone
    }

    /// The next world event, if any (call [`Slave::dispatch`] to receive them).
    pub fn next_event(&mut self) -> Option<SlaveEvent> {
        self.events.pop_front()
    }

    fn lost_master(&mut self) {
        if !self.gone {
            self.gone = true;
            warn!(world = %self.cfg.name, "the master is gone");
            self.events.push_back(SlaveEvent::MasterGone);
        }
    }

    fn send(&mut self, msg: &Message, fds: &[BorrowedFd<'_>]) -> Result<()> {
        if self.gone {
            return Err(Error::MasterGone);
        }
        let bytes = wire::encode(msg)?;
        self.sent_on_socket = true;
        if sys::send_msg(self.sock.as_fd(), &bytes, fds).is_err() {
            self.lost_master();
            return Err(Error::MasterGone);
        }
        Ok(())
    }

    /// Sends a request and waits for its answer (running our own call handlers meanwhile).
    pub fn request(&mut self, req: Request) -> Result<Response> {
        self.request_fds(req, &[]).map(|(r, _)| r)
    }

    /// Sends a request with descriptors and waits for the answer and its descriptors.
    pub fn request_fds(
        &mut self,
        req: Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Vec<OwnedFd>)> {
        self.flush()?;
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        self.send(&Message::Request { serial, req }, fds)?;
        loop {
            let r = match sys::recv_msg(self.sock.as_fd(), wire::MAX_MESSAGE, false) {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => {
                    self.lost_master();
                    return Err(Error::MasterGone);
                }
            };
            match wire::decode(&r.data) {
                Ok(Message::Reply { serial: s, result }) if s == serial => {
                    return result.map(|resp| (resp, r.fds))
                }
                Ok(Message::Reply {
                    serial: 0,
                    result: Err(e),
                }) => warn!("the master reports a protocol error: {e}"),
                Ok(Message::Event(Event::Call {
                    serial,
                    call,
                    caller,
                    arg,
                    payload,
                    oneway,
                })) => self.run_handler(serial, call, caller, arg, payload, r.fds, oneway),
                Ok(other) => self.inbox.push_back(other),
                Err(e) => warn!("undecodable packet from the master: {e}"),
            }
        }
    }

    /// Sends queued one-way calls now.
    pub fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.send(&Message::OneWay(batch), &[])
    }

    #[allow(clippy::too_many_arguments)]
    fn run_handler(
        &mut self,
        serial: u32,
        call: CallId,
        caller: FusioneeId,
        arg: i32,
        payload: Vec<u8>,
        fds: Vec<OwnedFd>,
        oneway: bool,
    ) {
        let outcome = match self.handlers.get_mut(&call) {
            Some(h) => h(CallIn {
                caller,
                serial,
                arg,
                payload,
                fds,
                oneway,
            }),
            None => CallOutcome::Fail(Error::NotFound(format!("handler of call {call}"))),
        };
        if oneway {
            return;
        }
        let (result, fds) = match outcome {
            CallOutcome::Return(b, f) => (Ok(b), f),
            CallOutcome::Fail(e) => (Err(e), Vec::new()),
            CallOutcome::Later => return,
        };
        let b: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        let _ = self.send(&Message::CallReturn { serial, result }, &b);
    }

    /// Handles everything ready: world events, calls to our handlers, reactor messages.
    /// Waits up to `timeout` for something (`None`: until something happens) when nothing
    /// was ready. Returns how many things were handled.
    ///
    /// On return the reactor sleep flags are armed, so the master rings our fd for the next
    /// message: an outer event loop polling [`Slave::as_fd`] never misses one.
    pub fn dispatch(&mut self, timeout: Option<Duration>) -> Result<usize> {
        // What is already here costs no system call.
        let mut handled = self.drain_inbox() + self.read_reactors();
        if self.gone {
            return Ok(handled);
        }
        // Sleep only when nothing was here and no message slipped in since (arm re-checks).
        let t = if handled > 0 || timeout == Some(Duration::ZERO) || !self.arm() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let mut ready = std::mem::take(&mut self.ready);
        self.poller.wait(t, &mut ready)?;
        let (sock, wake) = (ready.contains(&TOKEN_SOCK), ready.contains(&TOKEN_WAKE));
        self.ready = ready;
        // Read only what epoll reported: a reactor bell needs neither (it is edge-triggered
        // and the messages are in the rings).
        if wake {
            sys::eventfd_drain(self.wake.as_fd());
        }
        if sock {
            handled += self.read_socket();
        }
        handled += self.drain_inbox() + self.read_reactors();
        if !self.gone && !self.arm() {
            // Messages are waiting: make our fd readable so the loop comes back at once.
            sys::eventfd_signal(self.wake.as_fd());
        }
        Ok(handled)
    }

    /// Arms every reader's sleep flag; `false` (and nothing armed) if a message is pending.
    fn arm(&mut self) -> bool {
        if self
            .attachments
            .values()
            .all(|a| a.reader.prepare_sleep(SleepMode::EventFd))
        {
            return true;
        }
        for a in self.attachments.values() {
            a.reader.cancel_sleep();
        }
        false
    }

    /// Dispatches until `done` says so or `limit` passes; `false` on time-out.
    pub fn dispatch_until(
        &mut self,
        limit: Duration,
        done: impl FnMut(&mut Slave) -> bool,
    ) -> Result<bool> {
        crate::deadline::run_until(self, limit, Duration::from_millis(50), done, |s, d| {
            s.dispatch(Some(d)).map(drop)
        })
    }

    fn read_socket(&mut self) -> usize {
        let mut n = 0;
        loop {
            match sys::recv_msg(self.sock.as_fd(), wire::MAX_MESSAGE, true) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return n,
                Ok(Some(r)) => {
                    n += 1;
                    match wire::decode(&r.data) {
                        Ok(Message::Event(Event::Call {
                            serial,
                            call,
                            caller,
                            arg,
                            payload,
                            oneway,
                        })) => self.run_handler(serial, call, caller, arg, payload, r.fds, oneway),
                        Ok(m) => self.inbox.push_back(m),
                        Err(e) => warn!("undecodable packet from the master: {e}"),
                    }
                }
                Ok(None) | Err(_) => {
                    self.lost_master();
                    return n + 1;
                }
            }
        }
    }

    fn drain_inbox(&mut self) -> usize {
        let mut n = 0;
        while let Some(m) = self.inbox.pop_front() {
            n += 1;
            match m {
                Message::Event(Event::Left(id)) => self.events.push_back(SlaveEvent::Left(id)),
                Message::Event(Event::LeaveRequested { timeout_ms }) => {
                    self.events
                        .push_back(SlaveEvent::LeaveRequested(Duration::from_millis(
                            timeout_ms as u64,
                        )))
                }
                Message::Reply {
                    serial: 0,
                    result: Err(e),
                } => warn!("the master reports a protocol error: {e}"),
                other => debug!("ignored packet: {other:?}"),
            }
        }
        n
    }

    fn read_reactors(&mut self) -> usize {
        let mut n = 0;
        let mut ring_doorbell = false;
        let me = self.id;
        let mut buf = std::mem::take(&mut self.buf);
        let mut emptied = Vec::new();
        for (&rid, a) in self.attachments.iter_mut() {
            a.reader.cancel_sleep();
            // Stop at once when the last reaction removed itself: the master frees our
            // cursor block when it handles the detach, and may give it to another reactor.
            while !a.reactions.is_empty() {
                match a.reader.next(&mut buf) {
                    ReadResult::Empty => break,
                    ReadResult::Overrun { lost } => {
                        self.events
                            .push_back(SlaveEvent::Overrun { reactor: rid, lost });
                    }
                    ReadResult::Message {
                        channel,
                        origin,
                        flags,
                        ..
                    } => {
                        n += 1;
                        if flags & FLAG_WANT_CONSUMED != 0 {
                            ring_doorbell = true;
                        }
                        if flags & FLAG_EXCLUDE_ORIGIN != 0 && origin == me {
                            continue;
                        }
                        let d = Delivery {
                            reactor: rid,
                            channel,
                            origin,
                            payload: &buf,
                        };
                        let mut removed = Vec::new();
                        for (id, ch, f) in a.reactions.iter_mut() {
                            if *ch == channel && f(&d) == Reaction::Remove {
                                removed.push((*id, *ch));
                            }
                        }
                        a.reactions
                            .retain(|(id, _, _)| !removed.iter().any(|(r, _)| r == id));
                        for (_, ch) in removed {
                            self.batch.push(Request::ReactorDetach {
                                reactor: rid,
                                channel: ch,
                            });
                        }
                    }
                }
            }
            if a.reactions.is_empty() {
                emptied.push(rid);
            }
        }
        for rid in emptied {
            self.drop_attachment(rid);
        }
        self.buf = buf;
        if let Some(w) = self.control.atomic_u32(control::WANT_PROGRESS) {
            if n > 0 && w.swap(0, Ordering::SeqCst) != 0 {
                ring_doorbell = true;
            }
        }
        if ring_doorbell {
            sys::eventfd_signal(self.doorbell.as_fd());
        }
        if !self.batch.is_empty() {
            let _ = self.flush();
        }
        n
    }

    // ---- calls ----------------------------------------------------------------------------

    /// Creates a call this slave owns; `handler` runs in this process.
    pub fn call_create(
        &mut self,
        name: &str,
        handler: impl FnMut(CallIn) -> CallOutcome + Send + 'static,
    ) -> Result<CallId> {
        let id = self.id_of(Request::CallCreate { name: name.into() })?;
        self.handlers.insert(id, Box::new(handler));
        Ok(id)
    }

    /// Destroys a call this slave owns.
    pub fn call_destroy(&mut self, call: CallId) -> Result<()> {
        self.unit(Request::CallDestroy(call))?;
        self.handlers.remove(&call);
        Ok(())
    }

    /// Finds a call by name.
    pub fn call_lookup(&mut self, name: &str) -> Result<CallId> {
        self.id_of(Request::CallLookup(name.into()))
    }

    /// Executes a call and waits for its answer.
    ///
    /// Payloads and answers of at most [`crate::slot::SLOT_PAYLOAD`] bytes travel through
    /// the call slot in shared memory (the fast path); larger ones over the socket.
    /// Descriptors an answer carries are dropped: use [`Slave::call_execute_fds`] for those.
    pub fn call_execute(&mut self, call: CallId, arg: i32, payload: &[u8]) -> Result<Vec<u8>> {
        if payload.len() > slot::SLOT_PAYLOAD {
            return self
                .call_execute_fds(call, arg, payload, &[])
                .map(|(b, _)| b);
        }
        self.flush()?;
        if self.gone {
            return Err(Error::MasterGone);
        }
        self.serial = self.serial.wrapping_add(1).max(1);
        let socket_first = std::mem::take(&mut self.sent_on_socket);
        slot::post(&self.control, self.serial, call, arg, payload, socket_first)?;
        sys::eventfd_signal(self.doorbell.as_fd());
        // Wait briefly without sleeping: a quick answer then costs no wake-up at all. Spin
        // first, then yield the CPU (the master may need this very core).
        let start = Instant::now();
        let mut spins = 0u32;
        while !slot::answered(&self.control) {
            spins = spins.wrapping_add(1);
            if spins % 32 == 0 {
                let waited = start.elapsed();
                if waited >= SPIN {
                    self.sleep_for_answer()?;
                    break;
                }
                if waited >= SPIN_HOT {
                    std::thread::yield_now();
                    continue;
                }
            }
            std::hint::spin_loop();
        }
        slot::take_answer(&self.control)
    }

    /// Sleeps until the call slot is answered, serving calls to our own handlers and
    /// noticing the master's death meanwhile.
    fn sleep_for_answer(&mut self) -> Result<()> {
        loop {
            if slot::prepare_sleep(&self.control) {
                let _ = sys::poll_readable(&[self.wake.as_fd(), self.sock.as_fd()], None);
                sys::eventfd_drain(self.wake.as_fd());
            }
            if slot::answered(&self.control) {
                return Ok(());
            }
            self.read_socket();
            if self.gone {
                return Err(Error::MasterGone);
            }
        }
    }

    /// Executes a call with descriptors; returns the answer and the descriptors it carried.
    pub fn call_execute_fds(
        &mut self,
        call: CallId,
        arg: i32,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        let (resp, fds) = self.request_fds(
            Request::CallExecute {
                call,
                arg,
                payload: payload.to_vec(),
            },
            fds,
        )?;
        match resp {
            Response::Bytes(b) => Ok((b, fds)),
            other => Err(unexpected(other)),
        }
    }

    /// Executes a call with a typed argument and a typed answer.
    pub fn call_typed<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &mut self,
        call: CallId,
        arg: i32,
        value: &A,
    ) -> Result<R> {
        crate::call::decode(&self.call_execute(call, arg, &crate::call::encode(value)?)?)
    }

    /// Executes a call one-way, now (queued calls go first).
    pub fn call_oneway(&mut self, call: CallId, arg: i32, payload: &[u8]) -> Result<()> {
        self.call_queue(call, arg, payload)?;
        self.flush()
    }

    /// Queues a one-way call; queued calls go out together when the batch fills, before any
    /// synchronous request, or on [`Slave::flush`].
    pub fn call_queue(&mut self, call: CallId, arg: i32, payload: &[u8]) -> Result<()> {
        if self.gone {
            return Err(Error::MasterGone);
        }
        if payload.len() > wire::MAX_PAYLOAD {
            return Err(Error::Invalid("payload too large".into()));
        }
        if self.batch_bytes + payload.len() + 32 > BATCH_BYTES {
            self.flush()?;
        }
        self.batch_bytes += payload.len() + 32;
        self.batch.push(Request::CallExecute {
            call,
            arg,
            payload: payload.to_vec(),
        });
        if self.batch.len() >= BATCH_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// Answers a call our handler deferred with [`CallOutcome::Later`].
    pub fn call_return(
        &mut self,
        serial: u32,
        result: Result<Vec<u8>>,
        fds: &[BorrowedFd<'_>],
    ) -> Result<()> {
        self.send(&Message::CallReturn { serial, result }, fds)
    }

    /// Limits how many calls `caller` (0: everyone) may have pending on our `call`.
    pub fn call_set_quota(&mut self, call: CallId, caller: FusioneeId, limit: u32) -> Result<()> {
        self.unit(Request::CallSetQuota {
            call,
            caller,
            limit,
        })
    }

    // ---- reactors -------------------------------------------------------------------------

    /// Creates a reactor.
    pub fn reactor_create(
        &mut self,
        name: &str,
        msg_size: u32,
        capacity: u32,
        lossless: bool,
    ) -> Result<ReactorId> {
        self.id_of(Request::ReactorCreate {
            name: name.into(),
            msg_size,
            capacity,
            lossless,
        })
    }

    /// Destroys a reactor we created.
    pub fn reactor_destroy(&mut self, r: ReactorId) -> Result<()> {
        self.unit(Request::ReactorDestroy(r))
    }

    /// Attaches a reaction to a channel; it runs in [`Slave::dispatch`].
    /// Returns an id for [`Slave::detach`].
    pub fn attach(
        &mut self,
        r: ReactorId,
        channel: u32,
        reaction: impl FnMut(&Delivery<'_>) -> Reaction + Send + 'static,
    ) -> Result<u32> {
        let (resp, mut fds) = self.request_fds(
            Request::ReactorAttach {
                reactor: r,
                channel,
            },
            &[],
        )?;
        let att = match resp {
            Response::Attached(a) => a,
            other => return Err(unexpected(other)),
        };
        if !self.attachments.contains_key(&r) {
            let ring = self.pool_map(att.pool)?;
            let block = CursorBlock::new(self.control.clone(), att.cursor_offset as usize)?;
            let reader = RingReader::resume(ring, att.ring_offset as usize, block)?;
            // The reactor's bell: rung once per dispatch for all sleeping subscribers.
            let bell = fds
                .pop()
                .ok_or_else(|| Error::Malformed("attachment without its bell".into()))?;
            self.poller.add_edge(bell.as_fd(), TOKEN_BELL)?;
            // Asleep until dispatched: the first message rings our fd, whoever polls it.
            if !reader.prepare_sleep(SleepMode::EventFd) {
                sys::eventfd_signal(self.wake.as_fd());
            }
            self.attachments.insert(
                r,
                Attachment {
                    reader,
                    reactions: Vec::new(),
                    bell,
                },
            );
        }
        self.next_reaction += 1;
        let id = self.next_reaction;
        self.attachments
            .get_mut(&r)
            .expect("inserted")
            .reactions
            .push((id, channel, Box::new(reaction)));
        Ok(id)
    }

    /// Detaches a reaction.
    pub fn detach(&mut self, r: ReactorId, reaction: u32) -> Result<()> {
        let a = self
            .attachments
            .get_mut(&r)
            .ok_or_else(|| Error::NotFound(format!("attachment to reactor {r}")))?;
        let i = a
            .reactions
            .iter()
            .position(|(id, _, _)| *id == reaction)
            .ok_or_else(|| Error::NotFound(format!("reaction {reaction}")))?;
        let (_, channel, _) = a.reactions.remove(i);
        if a.reactions.is_empty() {
            self.drop_attachment(r);
        }
        self.unit(Request::ReactorDetach {
            reactor: r,
            channel,
        })
    }

    /// Forgets a reactor we no longer listen to. Its bell leaves our epoll explicitly: the
    /// master keeps the eventfd open, so closing our copy alone would not unregister it.
    fn drop_attachment(&mut self, r: ReactorId) {
        if let Some(a) = self.attachments.remove(&r) {
            self.poller.delete(a.bell.as_fd());
        }
    }

    /// Dispatches a message on a reactor's channel; with `to_self` our own reactions get it too.
    /// On a lossless reactor this waits until the message fits.
    pub fn dispatch_message(
        &mut self,
        r: ReactorId,
        channel: u32,
        payload: &[u8],
        to_self: bool,
    ) -> Result<()> {
        self.unit(Request::ReactorDispatch {
            reactor: r,
            channel,
            to_self,
            payload: payload.to_vec(),
        })
    }

    /// Has `call` executed (one-way, arg = channel) when everyone read a message.
    pub fn reactor_set_dispatch_callback(
        &mut self,
        r: ReactorId,
        call: Option<CallId>,
    ) -> Result<()> {
        self.unit(Request::ReactorSetDispatchCallback { reactor: r, call })
    }

    // ---- refs, properties, arenas ----------------------------------------------------------

    /// Creates a ref.
    pub fn ref_create(&mut self, name: &str) -> Result<RefId> {
        self.id_of(Request::RefCreate(name.into()))
    }

    /// Increases a ref; a local count is dropped by the master if we die.
    pub fn ref_up(&mut self, r: RefId, global: bool) -> Result<()> {
        self.unit(Request::RefUp { r, global })
    }

    /// Decreases a ref.
    pub fn ref_down(&mut self, r: RefId, global: bool) -> Result<()> {
        self.unit(Request::RefDown { r, global })
    }

    /// A ref's total count.
    pub fn ref_stat(&mut self, r: RefId) -> Result<i64> {
        match self.request(Request::RefStat(r))? {
            Response::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Locks a ref whose count is zero (`Busy` otherwise).
    pub fn ref_zero_trylock(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefZeroTrylock(r))
    }

    /// Waits until a ref's count is zero, then locks it.
    pub fn ref_zero_lock(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefZeroLock(r))
    }

    /// Unlocks a zero-locked ref.
    pub fn ref_unlock(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefUnlock(r))
    }

    /// Executes `call` with `arg` in its owner when the ref's count reaches zero.
    pub fn ref_watch(&mut self, r: RefId, call: CallId, arg: i32) -> Result<()> {
        self.unit(Request::RefWatch { r, call, arg })
    }

    /// Counts `from`'s references in `r` too.
    pub fn ref_inherit(&mut self, r: RefId, from: RefId) -> Result<()> {
        self.unit(Request::RefInherit { r, from })
    }

    /// Destroys a ref we created.
    pub fn ref_destroy(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefDestroy(r))
    }

    /// Creates a property.
    pub fn property_create(&mut self, name: &str) -> Result<PropertyId> {
        self.id_of(Request::PropertyCreate(name.into()))
    }

    /// Leases a property (waits as DirectFB's lease does).
    pub fn property_lease(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyLease(p))
    }

    /// Purchases a property (waits as DirectFB's purchase does).
    pub fn property_purchase(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyPurchase(p))
    }

    /// Cedes a lease or purchase.
    pub fn property_cede(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyCede(p))
    }

    /// Destroys a property we created.
    pub fn property_destroy(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyDestroy(p))
    }

    /// Enters an arena; `Ok(true)` when we are first and must initialise it, then call
    /// [`Slave::arena_ready`]. Waits while someone else initialises it.
    pub fn arena_enter(&mut self, name: &str) -> Result<bool> {
        self.bool_of(Request::ArenaEnter(name.into()))
    }

    /// Marks an arena we initialised as ready.
    pub fn arena_ready(&mut self, name: &str) -> Result<()> {
        self.unit(Request::ArenaReady(name.into()))
    }

    /// Sets an arena's shared field.
    pub fn arena_set_field(&mut self, arena: &str, field: &str, value: &[u8]) -> Result<()> {
        self.unit(Request::ArenaSetField {
            arena: arena.into(),
            field: field.into(),
            value: value.to_vec(),
        })
    }

    /// Reads an arena's shared field.
    pub fn arena_get_field(&mut self, arena: &str, field: &str) -> Result<Vec<u8>> {
        self.bytes_of(Request::ArenaGetField {
            arena: arena.into(),
            field: field.into(),
        })
    }

    /// Leaves an arena; `Ok(true)` when we were the last.
    pub fn arena_exit(&mut self, name: &str) -> Result<bool> {
        self.bool_of(Request::ArenaExit(name.into()))
    }

    // ---- shared memory and locks ------------------------------------------------------------

    /// Allocates in a writable pool (accounted to us, reclaimed when we leave or die);
    /// read-only pools (master state) give [`Error::Access`].
    pub fn shm_alloc(&mut self, pool: u32, size: usize, zeroed: bool) -> Result<ShmHandle> {
        match self.request(Request::ShmAlloc {
            pool,
            size: size as u64,
            zeroed,
        })? {
            Response::Block(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Resizes an allocation (contents kept).
    pub fn shm_realloc(&mut self, block: ShmHandle, size: usize) -> Result<ShmHandle> {
        match self.request(Request::ShmRealloc {
            block,
            size: size as u64,
        })? {
            Response::Block(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Frees an allocation.
    pub fn shm_free(&mut self, block: ShmHandle) -> Result<()> {
        self.unit(Request::ShmFree(block))
    }

    /// The mapping of a pool (opened on first use).
    pub fn pool_map(&mut self, pool: u32) -> Result<Arc<Mapping>> {
        if let Some((_, m)) = self.pools.get(&pool) {
            return Ok(m.clone());
        }
        let (resp, mut fds) = self.request_fds(Request::PoolOpen(pool), &[])?;
        let (Response::Pool(info), Some(fd)) = (resp, fds.pop()) else {
            return Err(Error::Malformed("pool answer without its fd".into()));
        };
        let len = sys::fd_size(fd.as_fd())?;
        let map = Arc::new(Mapping::new(fd.as_fd(), len, info.writable)?);
        self.pools.insert(pool, (info, map.clone()));
        Ok(map)
    }

    /// Reads a block's bytes.
    pub fn shm_read(&mut self, block: ShmHandle) -> Result<Vec<u8>> {
        let map = self.pool_map(block.pool)?;
        let mut out = vec![0; block.len as usize];
        if !map.read(block.offset as usize, &mut out) {
            return Err(Error::Invalid("block outside its pool".into()));
        }
        Ok(out)
    }

    /// Writes bytes into a block of a writable pool.
    pub fn shm_write(&mut self, block: ShmHandle, at: usize, data: &[u8]) -> Result<()> {
        let map = self.pool_map(block.pool)?;
        if at + data.len() > block.len as usize || !map.write(block.offset as usize + at, data) {
            return Err(Error::Access(
                "block not writable here or out of bounds".into(),
            ));
        }
        Ok(())
    }

    /// Creates a lock (skirmish) in the world's lock table.
    pub fn skirmish_create(&mut self, name: &str) -> Result<Skirmish> {
        let idx = self.id_of(Request::SkirmishCreate(name.into()))?;
        self.skirmish_open(idx)
    }

    /// Opens an existing lock by its index.
    pub fn skirmish_open(&mut self, index: u32) -> Result<Skirmish> {
        let map = self.pool_map(crate::master::LOCK_POOL)?;
        Skirmish::new(map, self.lock_table, index, self.id)
    }

    /// Destroys a lock we created.
    pub fn skirmish_destroy(&mut self, index: u32) -> Result<()> {
        self.unit(Request::SkirmishDestroy(index))
    }

    // ---- the rest ------------------------------------------------------------------------

    /// The world's root value (where the master publishes its entry points).
    pub fn root(&mut self) -> Result<Vec<u8>> {
        self.bytes_of(Request::GetRoot)
    }

    /// A round trip to the master.
    pub fn ping(&mut self) -> Result<()> {
        self.unit(Request::Ping)
    }

    /// Looks an object up.
    pub fn object_get(&mut self, id: ObjectId) -> Result<ObjectInfo> {
        match self.request(Request::ObjectGet(id))? {
            Response::Object(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }

    /// Lists the active objects of a class.
    pub fn object_list(&mut self, class: &str) -> Result<Vec<ObjectId>> {
        match self.request(Request::ObjectList(class.into()))? {
            Response::Ids(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// The world snapshot (introspection).
    pub fn snapshot(&mut self) -> Result<WorldSnapshot> {
        match self.request(Request::Snapshot)? {
            Response::Json(j) => {
                serde_json::from_str(&j).map_err(|e| Error::Malformed(e.to_string()))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Sends raw bytes as if they were a packet (for robustness tests and fuzzing the master).
    pub fn send_raw_packet(&mut self, bytes: &[u8]) -> Result<()> {
        sys::send_msg(self.sock.as_fd(), bytes, &[]).map_err(|_| Error::MasterGone)
    }

    fn unit(&mut self, req: Request) -> Result<()> {
        match self.request(req)? {
            Response::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn id_of(&mut self, req: Request) -> Result<u32> {
        match self.request(req)? {
            Response::Id(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    fn bool_of(&mut self, req: Request) -> Result<bool> {
        match self.request(req)? {
            Response::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    fn bytes_of(&mut self, req: Request) -> Result<Vec<u8>> {
        match self.request(req)? {
            Response::Bytes(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }
}

impl AsFd for Slave {
    /// One fd that polls readable whenever [`Slave::dispatch`] has work.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }
}

fn unexpected(r: Response) -> Error {
    Error::Malformed(format!("unexpected answer {r:?}"))
}
