//! Case `roundtrip 64B`: request/reply latency between two processes, 64-byte payload
//! each way, one round trip per sample.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use fusionfb_sys::Mapping;
use rustix::event::EventfdFlags;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::fusion_bench::child;
use crate::fusion_bench::shm;
use crate::fusion_bench::stats::{time_each, Budget, Row};

/// The case name on the rows.
pub const CASE: &str = "roundtrip 64B";

/// A message.
pub type Msg = [u8; 64];

/// One end of a two-way channel between two processes.
pub trait Duplex {
    /// Sends a message to the other end.
    fn send(&mut self, msg: &Msg) -> io::Result<()>;
    /// Blocks until the other end's next message arrives and copies it into `buf`.
    fn recv(&mut self, buf: &mut Msg) -> io::Result<()>;
}

/// Measures round trips over the pair `ends`: the parent keeps `.0` and sends a tagged
/// message; a forked partner receives on `.1`, flips a byte and replies. The reply is
/// checked (a wrong one fails the case); timings never are.
pub fn measure<A: Duplex, B: Duplex>(
    budget: &Budget,
    variant: &str,
    ends: (A, B),
) -> io::Result<Row> {
    let (mut a, mut b) = ends;
    let samples = budget.pick(20_000, 1_000);
    let total = budget.warmup(samples) + samples;
    let partner = child::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..total {
            b.recv(&mut buf)?;
            buf[63] ^= 0xff;
            b.send(&buf)?;
        }
        Ok(())
    })?;
    let mut msg = [0u8; 64];
    let mut reply = [0u8; 64];
    let stats = time_each(budget, samples, |i| {
        msg[..8].copy_from_slice(&i.to_ne_bytes());
        a.send(&msg)?;
        a.recv(&mut reply)?;
        if reply[..8] != msg[..8] || reply[63] != !msg[63] {
            return Err(io::Error::other("round trip: wrong reply"));
        }
        Ok(())
    })?;
    partner.wait(budget.partner_timeout())?;
    Ok(Row::new(CASE, variant, stats, 1))
}

/// One end of the eventfd channel: the payload goes through shared memory (a 64-byte
/// slot per direction), an eventfd per direction is the doorbell (blocking read/write).
pub struct EventfdEnd {
    map: Rc<Mapping>,
    tx_slot: usize,
    rx_slot: usize,
    ring: OwnedFd,
    bell: OwnedFd,
}

/// A connected pair of eventfd ends over fresh shared memory.
pub fn eventfd_pair() -> io::Result<(EventfdEnd, EventfdEnd)> {
    let map = Rc::new(shm::shared(4096)?);
    let to_b = rustix::event::eventfd(0, EventfdFlags::CLOEXEC)?;
    let to_a = rustix::event::eventfd(0, EventfdFlags::CLOEXEC)?;
    let a = EventfdEnd {
        map: map.clone(),
        tx_slot: 0,
        rx_slot: 64,
        ring: to_b.try_clone()?,
        bell: to_a.try_clone()?,
    };
    let b = EventfdEnd {
        map,
        tx_slot: 64,
        rx_slot: 0,
        ring: to_a,
        bell: to_b,
    };
    Ok((a, b))
}

fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return Ok(r?),
        }
    }
}

impl Duplex for EventfdEnd {
    fn send(&mut self, msg: &Msg) -> io::Result<()> {
        if !self.map.write(self.tx_slot, msg) {
            return Err(io::Error::other("eventfd channel: slot out of bounds"));
        }
        retry(|| rustix::io::write(self.ring.as_fd(), &1u64.to_ne_bytes()))?;
        Ok(())
    }

    fn recv(&mut self, buf: &mut Msg) -> io::Result<()> {
        let mut n = [0u8; 8];
        retry(|| rustix::io::read(self.bell.as_fd(), &mut n))?;
        // The eventfd read/write pair orders the slot write before this read.
        if !self.map.read(self.rx_slot, buf) {
            return Err(io::Error::other("eventfd channel: slot out of bounds"));
        }
        Ok(())
    }
}

/// One end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)`, plain `send`/`recv`.
pub struct SeqpacketEnd(pub OwnedFd);

/// A connected `SOCK_SEQPACKET` pair.
pub fn seqpacket_pair() -> io::Result<(SeqpacketEnd, SeqpacketEnd)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((SeqpacketEnd(a), SeqpacketEnd(b)))
}

impl Duplex for SeqpacketEnd {
    fn send(&mut self, msg: &Msg) -> io::Result<()> {
        let n = retry(|| rustix::net::send(self.0.as_fd(), msg, SendFlags::NOSIGNAL))?;
        if n != msg.len() {
            return Err(io::Error::other("seqpacket: short send"));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Msg) -> io::Result<()> {
        let (n, _) = retry(|| rustix::net::recv(self.0.as_fd(), &mut buf[..], RecvFlags::empty()))?;
        match n {
            64 => Ok(()),
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Err(io::Error::other("seqpacket: short message")),
        }
    }
}

/// Baseline `[eventfd]`: payload in shared memory, eventfd doorbells.
pub fn eventfd(budget: &Budget) -> io::Result<Vec<Row>> {
    Ok(vec![measure(budget, "eventfd", eventfd_pair()?)?])
}

/// Baseline `[seqpacket]`: 64-byte messages over a unix `SOCK_SEQPACKET` pair.
pub fn seqpacket(budget: &Budget) -> io::Result<Vec<Row>> {
    Ok(vec![measure(budget, "seqpacket", seqpacket_pair()?)?])
}

/// How long a [`SpinEnd`] spins, then yields, before it sleeps on the futex (as Fusion's
/// call slot does, so the baseline is the floor of the same policy).
const SPIN_HOT: std::time::Duration = std::time::Duration::from_micros(3);
const SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// One end of the spin-then-wait channel: per direction a 64-byte slot, a sequence word
/// (a futex) and a "sleeping" word in shared memory. The sender writes the slot, bumps the
/// sequence and wakes the futex only if the receiver said it sleeps; the receiver spins on
/// the sequence (yielding after [`SPIN_HOT`]) and sleeps on the futex after [`SPIN`]. No
/// system call at all while both ends are awake: the floor a call slot can reach.
pub struct SpinEnd {
    map: Rc<Mapping>,
    /// Offset of the block it sends into (slot at +0, sequence at +64, sleeping at +68).
    tx: usize,
    /// Offset of the block it receives from.
    rx: usize,
    seen: u32,
}

/// A connected pair of spin-then-wait ends over fresh shared memory.
pub fn spin_pair() -> io::Result<(SpinEnd, SpinEnd)> {
    let map = Rc::new(shm::shared(4096)?);
    let a = SpinEnd {
        map: map.clone(),
        tx: 0,
        rx: 128,
        seen: 0,
    };
    let b = SpinEnd {
        map,
        tx: 128,
        rx: 0,
        seen: 0,
    };
    Ok((a, b))
}

impl SpinEnd {
    fn word(&self, off: usize) -> io::Result<&std::sync::atomic::AtomicU32> {
        self.map
            .atomic_u32(off)
            .ok_or_else(|| io::Error::other("spin channel: word out of bounds"))
    }
}

impl Duplex for SpinEnd {
    fn send(&mut self, msg: &Msg) -> io::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.map.write(self.tx, msg) {
            return Err(io::Error::other("spin channel: slot out of bounds"));
        }
        let seq = self.word(self.tx + 64)?;
        seq.fetch_add(1, SeqCst);
        if self.word(self.tx + 68)?.load(SeqCst) != 0 {
            fusionfb_sys::futex_wake(seq, 1);
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Msg) -> io::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let (seq, sleeping) = (self.word(self.rx + 64)?, self.word(self.rx + 68)?);
        let start = std::time::Instant::now();
        let mut spins = 0u32;
        loop {
            let now = seq.load(SeqCst);
            if now != self.seen {
                self.seen = now;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins % 32 != 0 {
                std::hint::spin_loop();
                continue;
            }
            let waited = start.elapsed();
            if waited >= SPIN {
                sleeping.store(1, SeqCst);
                if seq.load(SeqCst) == self.seen {
                    fusionfb_sys::futex_wait(seq, self.seen, None);
                }
                sleeping.store(0, SeqCst);
            } else if waited >= SPIN_HOT {
                std::thread::yield_now();
            }
        }
        if !self.map.read(self.rx, buf) {
            return Err(io::Error::other("spin channel: slot out of bounds"));
        }
        Ok(())
    }
}

/// Baseline `[spin]`: payload in shared memory, spin-then-futex-wait hand-over.
pub fn spin(budget: &Budget) -> io::Result<Vec<Row>> {
    Ok(vec![measure(budget, "spin", spin_pair()?)?])
}
