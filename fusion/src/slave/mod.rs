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
    self, CallId, CallSerial, Event, FusioneeId, Message, ObjectId, ObjectInfo, PoolId, PoolInfo,
    PropertyId, ReactionId, ReactorId, RefId, Request, Response, SkirmishId, API_MAJOR, API_MINOR,
};
use crate::world::WorldConfig;
use crate::{Error, Result};

mod arenas;
mod calls;
mod properties;
mod reactors;
mod refs;
mod shm;

/// How long entering waits for the master's welcome.
const ENTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Queued one-way calls sent together at most.
const BATCH_MAX: usize = 64;
/// Bytes of queued one-way calls sent together at most.
const BATCH_BYTES: usize = 32 * 1024;
/// How long a synchronous call waits for the master to take its request before it sleeps.
const SPIN: Duration = Duration::from_micros(20);
/// How long it waits for the answer once the master works on the request.
const SPIN_TAKEN: Duration = Duration::from_micros(50);
/// How long of that it spins before it starts yielding the CPU.
const SPIN_HOT: Duration = Duration::from_micros(3);
/// Calls in a row that had to sleep before the next ones sleep after [`SPIN_HOT`].
const SLEEPS: u32 = 4;
/// Of the calls that sleep early, every this many spins in full all the same.
const PROBE_EVERY: u32 = 32;

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
    reactions: Vec<(ReactionId, u32, SlaveReaction)>,
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
    pools: BTreeMap<PoolId, (PoolInfo, Arc<Mapping>)>,
    lock_table: crate::skirmish::Table,
    serial: u32,
    inbox: VecDeque<Message>,
    gone: bool,
    attachments: BTreeMap<ReactorId, Attachment>,
    next_reaction: ReactionId,
    handlers: HashMap<CallId, SlaveHandler>,
    events: VecDeque<SlaveEvent>,
    batch: Vec<Request>,
    batch_bytes: usize,
    /// Packets went out on the socket since the last call-slot request.
    sent_on_socket: bool,
    /// Time the stages of synchronous calls (`Slave::set_call_tracing`).
    trace_calls: bool,
    /// Synchronous calls in a row whose answer came only after sleeping.
    slept_in_a_row: u32,
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
                // takes us. Only when the world is known to be there (the one directory asked
                // for, or a world directory we can see): a directory we cannot even search
                // (a root service's /run/fusionfb) says nothing about a mistyped name, and is
                // listed as "cannot list" in `NoMaster` instead.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    if dirs.len() == 1 || std::fs::metadata(at.dir()).is_ok() {
                        denied.get_or_insert(at.socket_path());
                    }
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
        debug!(world = %cfg.name, id = %welcome.id, "entered");
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
            lock_table: crate::skirmish::Table::new(
                welcome.lock_table as usize,
                welcome.lock_slots,
            ),
            serial: 0,
            inbox: VecDeque::new(),
            gone: false,
            attachments: BTreeMap::new(),
            next_reaction: ReactionId(0),
            handlers: HashMap::new(),
            events: VecDeque::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            sent_on_socket: true,
            trace_calls: false,
            slept_in_a_row: 0,
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
                    return unseal(result?, r.fds);
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
        serial: CallSerial,
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
                        let origin = FusioneeId(origin);
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

    // ---- the rest (calls, reactors, refs, properties, arenas and shared memory have a
    // module each) ---------------------------------------------------------------------------

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
            Response::Ids(v) => Ok(v.into_iter().map(ObjectId).collect()),
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

    /// Sends `req` and reads the id it answers as the kind of id `kind` makes.
    fn id_of<T>(&mut self, req: Request, kind: fn(u32) -> T) -> Result<T> {
        match self.request(req)? {
            Response::Id(id) => Ok(kind(id)),
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

/// A reply as the caller sees it: one the master sent in a sealed memfd, the last of `fds`,
/// because it was too large for a packet, read back into the response it stands for.
fn unseal(resp: Response, mut fds: Vec<OwnedFd>) -> Result<(Response, Vec<OwnedFd>)> {
    let len = match resp {
        Response::BytesFd(len) | Response::JsonFd(len) => len,
        resp => return Ok((resp, fds)),
    };
    let memfd = fds
        .pop()
        .ok_or_else(|| Error::Malformed("a reply in a memfd without the memfd".into()))?;
    let bytes = read_sealed(memfd, len)?;
    let resp = if matches!(resp, Response::JsonFd(_)) {
        Response::Json(
            String::from_utf8(bytes).map_err(|e| Error::Malformed(format!("a JSON reply: {e}")))?,
        )
    } else {
        Response::Bytes(bytes)
    };
    Ok((resp, fds))
}

/// The first `len` bytes of a memfd the master sealed (a snapshot or a call's answer too
/// large for a packet; never more than the memfd holds, nor more than [`MAX_SEALED`]).
fn read_sealed(fd: OwnedFd, len: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::from(fd);
    let size = file
        .metadata()
        .map_err(|e| Error::io("sealed memfd", &e))?
        .len();
    if len > size || len > MAX_SEALED {
        return Err(Error::Malformed(format!(
            "{len} bytes in a memfd of {size} (at most {MAX_SEALED} taken)"
        )));
    }
    let mut buf = vec![0; len as usize];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, 0)
        .map_err(|e| Error::io("sealed memfd", &e))?;
    Ok(buf)
}

/// The largest document a slave reads from a memfd the master sends.
const MAX_SEALED: u64 = 256 << 20;
