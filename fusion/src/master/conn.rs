//! One admitted slave as the master sees it, the handshake that admits it, and the reading
//! of its packets.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{Master, MasterEvent, KIND_DOORBELL, KIND_SOCKET};
use crate::control;
use crate::sys::{self, Mapping, PeerCred};
use crate::wire::{self, FusioneeId, Message, PoolInfo, Welcome, API_MAJOR, API_MINOR};
use crate::Error;

/// Malformed packets tolerated before a slave is disconnected.
const MAX_STRIKES: u32 = 8;
/// Packets read from one slave per wake-up (fairness between slaves).
const BURST: usize = 64;
/// Requests [`Master::listen`] takes per [`Master::dispatch`].
pub(super) const LISTEN_TURN: u32 = 32;

/// A slot call just answered (see [`Master::listen`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotAnswered {
    id: FusioneeId,
    budget: Duration,
    slept: bool,
}

/// An admitted slave.
pub(crate) struct Conn {
    pub id: FusioneeId,
    pub cred: PeerCred,
    pub exe: String,
    pub name: String,
    pub sock: OwnedFd,
    pub pidfd: Option<OwnedFd>,
    pub control: Arc<Mapping>,
    pub doorbell: OwnedFd,
    pub wake: OwnedFd,
    pub cursors: Vec<bool>,
    pub strikes: u32,
    pub kill_at: Option<Instant>,
    pub joined: Instant,
    pub api_minor: u16,
    /// How long to watch its call slot after answering (see [`super::listen`]).
    pub listen: super::listen::Listen,
}

impl Conn {
    /// Kills the slave's process (through its pidfd, so never a recycled pid).
    pub fn kill(&self) {
        if let Some(p) = &self.pidfd {
            let _ = sys::pidfd_kill(p.as_fd());
        }
    }

    /// Rings the slave's wake-up eventfd.
    pub fn wake(&self) {
        sys::eventfd_signal(self.wake.as_fd());
    }

    /// Takes a free cursor block index.
    pub fn take_cursor(&mut self) -> Option<usize> {
        let i = self.cursors.iter().position(|u| !u)?;
        self.cursors[i] = true;
        Some(i)
    }
}

impl Master {
    pub(super) fn read_handshakes(&mut self) {
        for (fd, cred, at) in self.take_handshakes() {
            match sys::recv_msg(fd.as_fd(), wire::MAX_MESSAGE, true) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.put_handshake((fd, cred, at));
                }
                Ok(Some(r)) if !r.truncated => {
                    self.poller().delete(fd.as_fd());
                    match wire::decode(&r.data) {
                        Ok(Message::Hello {
                            api_major,
                            api_minor,
                            abi,
                            name,
                        }) => match self.admits(&cred) {
                            Ok(()) => self.admit(fd, cred, api_major, api_minor, abi, name),
                            Err(reason) => {
                                warn!(pid = cred.pid, uid = cred.uid, "refused: {reason}");
                                let _ = self.send_raw(
                                    fd.as_fd(),
                                    &Message::Refused(Error::Refused(reason)),
                                    &[],
                                );
                            }
                        },
                        Ok(other) => {
                            warn!(pid = cred.pid, "first packet was not Hello: {other:?}");
                            let _ = self.send_raw(
                                fd.as_fd(),
                                &Message::Refused(Error::Malformed("expected Hello".into())),
                                &[],
                            );
                        }
                        Err(e) => {
                            warn!(pid = cred.pid, "bad handshake: {e}");
                            let _ = self.send_raw(fd.as_fd(), &Message::Refused(e), &[]);
                        }
                    }
                }
                _ => {
                    self.poller().delete(fd.as_fd());
                    debug!(pid = cred.pid, "hung up during handshake");
                }
            }
        }
    }

    fn admit(
        &mut self,
        sock: OwnedFd,
        cred: PeerCred,
        major: u16,
        minor: u16,
        abi: u32,
        name: String,
    ) {
        let refuse = |m: &Master, e: Error| {
            warn!(pid = cred.pid, "refused: {e}");
            let _ = m.send_raw(sock.as_fd(), &Message::Refused(e), &[]);
        };
        if major != API_MAJOR {
            return refuse(
                self,
                Error::VersionMismatch(format!(
                    "slave speaks Fusion API {major}.{minor}, master {API_MAJOR}.{API_MINOR}"
                )),
            );
        }
        if abi != self.cfg.abi {
            return refuse(
                self,
                Error::VersionMismatch(format!(
                    "slave ABI {abi}, world {:?} runs ABI {}",
                    self.cfg.name, self.cfg.abi
                )),
            );
        }
        let id = self.next_fusionee_id();
        let built = (|| -> crate::Result<(OwnedFd, Arc<Mapping>, OwnedFd, OwnedFd)> {
            let fd = sys::memfd_create("fusion/control", control::CONTROL_SIZE)?;
            let map = Arc::new(Mapping::new(fd.as_fd(), control::CONTROL_SIZE, true)?);
            map.atomic_u32(0)
                .expect("header")
                .store(control::MAGIC, std::sync::atomic::Ordering::Relaxed);
            map.atomic_u32(control::ID_OFFSET)
                .expect("header")
                .store(id.0, std::sync::atomic::Ordering::Relaxed);
            Ok((fd, map, sys::eventfd()?, sys::eventfd()?))
        })();
        let (control_fd, control, doorbell, wake) = match built {
            Ok(b) => b,
            Err(e) => return refuse(self, e),
        };
        let pools: Vec<PoolInfo> = self
            .pools
            .values()
            .map(|p| PoolInfo {
                id: p.id(),
                name: p.name().to_string(),
                writable: p.access() == crate::pool::PoolAccess::Writable,
            })
            .collect();
        let welcome = Message::Welcome(Welcome {
            id,
            master_pid: self.pid(),
            api_minor: API_MINOR,
            pools,
            lock_table: self.lock_table.offset as u64,
            lock_slots: self.lock_table.slots,
            control_size: control::CONTROL_SIZE as u64,
        });
        let mut fds: Vec<BorrowedFd<'_>> = vec![control_fd.as_fd(), doorbell.as_fd(), wake.as_fd()];
        for p in self.pools.values() {
            fds.push(p.fd());
        }
        // SCM_RIGHTS carries at most sys::MAX_FDS; later pools are opened on demand.
        fds.truncate(sys::MAX_FDS);
        if let Err(e) = self.send_raw(sock.as_fd(), &welcome, &fds) {
            warn!(pid = cred.pid, "welcome failed: {e}");
            return;
        }
        drop(fds);
        let _ = self
            .poller()
            .add(sock.as_fd(), (u64::from(id.0) << 8) | KIND_SOCKET);
        let _ = self
            .poller()
            .add_edge(doorbell.as_fd(), (u64::from(id.0) << 8) | KIND_DOORBELL);
        let exe = sys::exe_of(cred.pid);
        info!(fusionee = %id, pid = cred.pid, %exe, name = %name, "entered");
        self.conns.insert(
            id,
            Conn {
                id,
                cred,
                exe,
                name,
                sock,
                pidfd: sys::pidfd_open(cred.pid).ok(),
                control,
                doorbell,
                wake,
                cursors: vec![false; control::MAX_CURSORS],
                strikes: 0,
                kill_at: None,
                joined: Instant::now(),
                api_minor: minor,
                listen: Default::default(),
            },
        );
        self.push_event(MasterEvent::Joined(id));
    }

    /// Reads everything queued on a slave's socket (not just one burst).
    fn read_conn_all(&mut self, id: FusioneeId) {
        while let Some(fd) = self.conn_fd(id) {
            if sys::poll_readable(&[fd], Some(std::time::Duration::ZERO)).is_none() {
                return;
            }
            self.read_conn(id);
        }
    }

    pub(super) fn read_conn(&mut self, id: FusioneeId) {
        for _ in 0..BURST {
            let Some(fd) = self.conn_fd(id) else { return };
            match sys::recv_msg(fd, wire::MAX_MESSAGE, true) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => return self.remove(id, &format!("socket error: {e}")),
                // Zero bytes: the slave hung up, or sent an empty packet (a violation).
                Ok(None) if sys::peer_hung_up(fd) => return self.remove(id, "hung up"),
                Ok(None) => self.strike(id, Error::Malformed("empty packet".into())),
                Ok(Some(r)) if r.truncated => {
                    return self.remove(id, "sent an oversized packet (protocol violation)")
                }
                Ok(Some(r)) => match wire::decode(&r.data) {
                    Ok(msg) => self.handle_message(id, msg, r.fds),
                    Err(e) => self.strike(id, e),
                },
            }
        }
    }

    /// Counts a protocol violation: an error reply, and a disconnect after too many.
    pub(crate) fn strike(&mut self, id: FusioneeId, e: Error) {
        warn!(fusionee = %id, "protocol violation: {e}");
        self.reply(id, 0, Err(e));
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.strikes += 1;
        if c.strikes >= MAX_STRIKES {
            self.remove(id, "too many protocol violations");
        }
    }

    pub(super) fn doorbell(&mut self, id: FusioneeId, woke_ns: u64) {
        // The doorbell is edge-triggered: nothing to drain.
        self.stamp_woke(id, woke_ns);
        self.serve_slot(id, false);
        self.retry_blocked();
        self.check_dispatch_callbacks();
    }

    /// Stamps [`crate::slot::Stage::Woke`] into `id`'s slot if it traces its calls (and
    /// remembers to read the clock on waking from now on).
    fn stamp_woke(&mut self, id: FusioneeId, woke_ns: u64) {
        let Some(c) = self.conns.get(&id) else { return };
        if crate::slot::tracing(&c.control) {
            let ns = if woke_ns == 0 { sys::now_ns() } else { woke_ns };
            crate::slot::stamp_at(&c.control, crate::slot::Stage::Woke, ns);
            self.trace_wakes = true;
        }
    }

    /// Watches the call slot of the slave answered last, if it waited for the answer awake
    /// (a slave that slept takes a wake-up before it can post again), for its next request
    /// while that is likely to pay (see the `listen` module); the slave skips the doorbell
    /// meanwhile. A request that comes is served (answered at once when its handler runs
    /// here, or queued for the program: then call again once it is answered); `true` if one
    /// came. At most `LISTEN_TURN` requests are taken this way per [`Master::dispatch`],
    /// so other work is never starved.
    ///
    /// While requests keep coming, the slot says "listening" without a gap: the answer to
    /// each goes out with the flag already set for the next, so a slave quick to post again
    /// never rings. Whenever the flag is set, this runs before the dispatch ends, and it
    /// clears the flag (then looks at the slot once more) before it returns `false`.
    pub fn listen(&mut self) -> bool {
        let Some(a) = self.slot_answered.take() else {
            return false;
        };
        let Some(c) = self.conns.get_mut(&a.id) else {
            self.listening = None;
            return false;
        };
        let start = Instant::now();
        let hit = !a.slept && !a.budget.is_zero() && {
            if self.listening != Some(a.id) {
                crate::slot::listen(&c.control, true);
                self.listening = Some(a.id);
            }
            let mut spins = 0u32;
            loop {
                if crate::slot::pending(&c.control) {
                    break true;
                }
                spins = spins.wrapping_add(1);
                if spins % 16 == 0 && start.elapsed() >= a.budget {
                    break false;
                }
                std::hint::spin_loop();
            }
        };
        if hit {
            c.listen.hit(start.elapsed());
        } else {
            if self.listening.take().is_some() {
                crate::slot::listen(&c.control, false);
                if !a.slept {
                    c.listen.miss();
                }
            }
            // Posted just as the watch ended, without a doorbell: serve it all the same.
            if !crate::slot::pending(&c.control) {
                return false;
            }
        }
        if crate::slot::tracing(&c.control) {
            crate::slot::stamp(&c.control, crate::slot::Stage::Woke);
        }
        self.listen_turn += 1;
        self.serve_slot(a.id, true);
        self.retry_blocked();
        self.check_dispatch_callbacks();
        true
    }

    /// Notes that `id`'s slot call was just answered (`slept`: its slave had to be woken
    /// for it), for [`Master::listen`]; `budget` is how long to watch, as decided.
    pub(super) fn answered_in_slot(&mut self, id: FusioneeId, budget: Duration, slept: bool) {
        self.slot_answered = Some(SlotAnswered { id, budget, slept });
    }

    /// Executes a synchronous call posted in a slave's call slot (see [`crate::slot`]).
    /// `listening`: called by [`Master::listen`], which goes on listening to this slot after
    /// an answer given here (so the slot may say so before the answer goes out).
    fn serve_slot(&mut self, id: FusioneeId, listening: bool) {
        let Some(c) = self.conns.get(&id) else { return };
        let taken = match crate::slot::take(&c.control) {
            None => return,
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                self.stop_listening(id);
                let Some(c) = self.conns.get(&id) else { return };
                if crate::slot::answer(&c.control, Err(e.clone())) {
                    c.wake();
                }
                return self.strike(id, e);
            }
        };
        let traced = crate::slot::tracing(&c.control);
        if traced {
            crate::slot::stamp(&c.control, crate::slot::Stage::Taken);
        }
        // Packets the slave sent before posting this call are handled first, all of them.
        if taken.socket_first {
            self.read_conn_all(id);
            if !self.conns.contains_key(&id) {
                return;
            }
        }
        self.executing_from_slot = true;
        let out = self.execute(
            id,
            taken.serial,
            taken.call,
            taken.arg,
            taken.payload,
            Vec::new(),
            false,
        );
        let result = match out {
            // Answered later, into the slot: nobody listens to it meanwhile.
            Ok(None) => return self.stop_listening(id),
            Ok(Some((bytes, fds))) => {
                if !fds.is_empty() {
                    debug!(
                        fusionee = %id,
                        "descriptors in a call-slot answer are dropped"
                    );
                }
                Ok(bytes)
            }
            Err(e) => Err(e),
        };
        let listen_turn = self.listen_turn;
        let Some(c) = self.conns.get_mut(&id) else {
            self.listening = None;
            return;
        };
        if traced {
            crate::slot::stamp(&c.control, crate::slot::Stage::Handled);
        }
        let budget = if listen_turn < LISTEN_TURN {
            c.listen.budget()
        } else {
            Duration::ZERO
        };
        // Listening on after this answer: say so before it goes out (see `listen`).
        let keep = listening && !budget.is_zero();
        if listening && self.listening == Some(id) && !keep {
            crate::slot::listen(&c.control, false);
            self.listening = None;
        }
        let slept = crate::slot::answer(&c.control, result);
        if slept {
            c.wake();
        }
        if traced {
            crate::slot::stamp(&c.control, crate::slot::Stage::Answered);
        }
        self.answered_in_slot(id, budget, slept);
    }

    /// Stops listening to `id`'s slot if [`Master::listen`] left it listening.
    fn stop_listening(&mut self, id: FusioneeId) {
        if self.listening == Some(id) {
            self.listening = None;
            if let Some(c) = self.conns.get(&id) {
                crate::slot::listen(&c.control, false);
            }
        }
    }
}
