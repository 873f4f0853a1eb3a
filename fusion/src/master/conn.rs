//! One admitted slave as the master sees it, the handshake that admits it, and the reading
//! of its packets.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

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
            lock_table: self.lock_table as u64,
            lock_slots: super::LOCK_SLOTS,
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

    pub(super) fn doorbell(&mut self, id: FusioneeId) {
        // The doorbell is edge-triggered: nothing to drain.
        self.serve_slot(id);
        self.retry_blocked();
        self.check_dispatch_callbacks();
    }

    /// Executes a synchronous call posted in a slave's call slot (see [`crate::slot`]).
    fn serve_slot(&mut self, id: FusioneeId) {
        let Some(c) = self.conns.get(&id) else { return };
        let taken = match crate::slot::take(&c.control) {
            None => return,
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                if crate::slot::answer(&c.control, Err(e.clone())) {
                    c.wake();
                }
                return self.strike(id, e);
            }
        };
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
            Ok(None) => return, // answered later, into the slot
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
        if let Some(c) = self.conns.get(&id) {
            if crate::slot::answer(&c.control, result) {
                c.wake();
            }
        }
    }
}
