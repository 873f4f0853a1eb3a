//! Cases `fanout N=…`, `fanout-dispatch N=…` and `fanout-first N=…`: one event delivered
//! to N subscriber processes.
//!
//! Per event the parent stamps the start, dispatches one 64-byte message to every
//! subscriber and stamps the end of its send loop. Each subscriber blocks waiting, and on
//! receipt stores its `CLOCK_MONOTONIC` receive time in its own cache line of shared
//! memory, then counts itself done; the last one wakes the parent (futex). A `fanout`
//! sample is (latest receive time) − (dispatch start); a `fanout-dispatch` sample is the
//! parent's send loop alone; a `fanout-first` sample is (earliest receive time) − (dispatch
//! start): one wake-up's hop to another process, the least a subscriber that relays the
//! wake-up to the others adds to the last one's time. The next event is dispatched once
//! every subscriber is done.
//! A woken subscriber may receive before the sender's `send` even returns, so the
//! end-to-end figure can come out below the dispatch cost (notably for N=1).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use fusionfb_sys::{self as sys, FutexWait};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::fusion_bench::cases::roundtrip::Msg;
use crate::fusion_bench::child::{self, Child};
use crate::fusion_bench::shm;
use crate::fusion_bench::stats::{Budget, Row, Stats};

/// Subscriber counts measured.
pub const SUBSCRIBERS: [usize; 3] = [1, 4, 16];

/// The case name of the end-to-end rows for `n` subscribers.
pub fn case(n: usize) -> String {
    format!("fanout N={n}")
}

/// The case name of the dispatcher-cost rows for `n` subscribers.
pub fn dispatch_case(n: usize) -> String {
    format!("fanout-dispatch N={n}")
}

/// The case name of the first-receiver rows for `n` subscribers.
pub fn first_case(n: usize) -> String {
    format!("fanout-first N={n}")
}

/// The sending side: delivers one message to every subscriber.
pub trait Publisher {
    /// Sends `msg` to all subscribers.
    fn publish(&mut self, msg: &Msg) -> io::Result<()>;
}

/// A receiving side, moved into its own process.
pub trait Subscriber {
    /// Blocks until the next message arrives.
    fn next(&mut self, buf: &mut Msg) -> io::Result<()>;
}

/// The message that tells subscribers to leave.
const STOP: u64 = u64::MAX;
/// Shared layout: the done counter, then one 64-byte line per subscriber's receive time.
const DONE: usize = 0;
fn slot(i: usize) -> usize {
    64 * (i + 1)
}

/// Measures fan-out to the subscribers of `ends` (one process each); returns the
/// end-to-end row, the dispatcher-cost row and the first-receiver row.
pub fn measure<P: Publisher, S: Subscriber>(
    budget: &Budget,
    variant: &str,
    ends: (P, Vec<S>),
) -> io::Result<Vec<Row>> {
    let (mut publisher, subscribers) = ends;
    let n = subscribers.len();
    let samples = budget.pick(5_000, 300);
    let events = budget.warmup(samples) + samples;
    let map = shm::shared(slot(n))?;
    let done = shm::u32_at(&map, DONE);

    let mut children: Vec<Child> = Vec::with_capacity(n);
    for (i, mut sub) in subscribers.into_iter().enumerate() {
        let map = &map;
        children.push(child::spawn(move || {
            let mut buf = [0u8; 64];
            loop {
                sub.next(&mut buf)?;
                let t = sys::now_ns();
                let seq = u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
                if seq == STOP {
                    return Ok(());
                }
                shm::u64_at(map, slot(i)).store(t, Relaxed);
                let target = (seq as u32 + 1) * n as u32;
                if done.fetch_add(1, Release) + 1 == target {
                    sys::futex_wake(done, 1);
                }
            }
        })?);
    }

    let mut e2e = Vec::with_capacity(samples);
    let mut cost = Vec::with_capacity(samples);
    let mut earliest = Vec::with_capacity(samples);
    let mut msg = [0u8; 64];
    for seq in 0..events as u64 {
        msg[..8].copy_from_slice(&seq.to_ne_bytes());
        let t0 = sys::now_ns();
        publisher.publish(&msg)?;
        let t1 = sys::now_ns();
        wait_done(done, (seq as u32 + 1) * n as u32, &mut children, budget)?;
        if seq as usize >= events - samples {
            let received = (0..n).map(|i| shm::u64_at(&map, slot(i)).load(Relaxed));
            let (first, last) = received.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
            e2e.push(last.saturating_sub(t0));
            earliest.push(first.saturating_sub(t0));
            cost.push(t1 - t0);
        }
    }
    msg[..8].copy_from_slice(&STOP.to_ne_bytes());
    publisher.publish(&msg)?;
    child::wait_all(children, budget.partner_timeout())?;

    Ok(vec![
        Row::new(case(n), variant, Stats::from_samples(e2e), 1),
        Row::new(dispatch_case(n), variant, Stats::from_samples(cost), 1),
        Row::new(first_case(n), variant, Stats::from_samples(earliest), 1),
    ])
}

/// Sleeps on the done counter until it reaches `target`, checking on the subscribers
/// whenever a wait times out.
fn wait_done(
    done: &std::sync::atomic::AtomicU32,
    target: u32,
    children: &mut [Child],
    budget: &Budget,
) -> io::Result<()> {
    let start = Instant::now();
    loop {
        let d = done.load(Acquire);
        if d == target {
            return Ok(());
        }
        if sys::futex_wait(done, d, Some(Duration::from_millis(200))) == FutexWait::TimedOut {
            for c in children.iter_mut() {
                c.check_alive()?;
            }
            if start.elapsed() > budget.partner_timeout() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "fan-out: subscribers stopped answering",
                ));
            }
        }
    }
}

/// The dispatcher's ends of N `SOCK_SEQPACKET` pairs.
pub struct SocketPublisher(Vec<OwnedFd>);
/// A subscriber's end.
pub struct SocketSubscriber(OwnedFd);

/// N connected socket pairs.
pub fn socket_fanout(n: usize) -> io::Result<(SocketPublisher, Vec<SocketSubscriber>)> {
    let mut tx = Vec::with_capacity(n);
    let mut rx = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        tx.push(a);
        rx.push(SocketSubscriber(b));
    }
    Ok((SocketPublisher(tx), rx))
}

impl Publisher for SocketPublisher {
    fn publish(&mut self, msg: &Msg) -> io::Result<()> {
        for fd in &self.0 {
            loop {
                match rustix::net::send(fd.as_fd(), msg, SendFlags::NOSIGNAL) {
                    Err(rustix::io::Errno::INTR) => continue,
                    Ok(64) => break,
                    Ok(_) => return Err(io::Error::other("fan-out: short send")),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

impl Subscriber for SocketSubscriber {
    fn next(&mut self, buf: &mut Msg) -> io::Result<()> {
        loop {
            match rustix::net::recv(self.0.as_fd(), &mut buf[..], RecvFlags::empty()) {
                Err(rustix::io::Errno::INTR) => continue,
                Ok((64, _)) => return Ok(()),
                Ok((0, _)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => return Err(io::Error::other("fan-out: short message")),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Baseline `[unix-sockets]` for N = 1, 4, 16: one `SOCK_SEQPACKET` pair per subscriber.
pub fn unix_sockets(budget: &Budget) -> io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for n in SUBSCRIBERS {
        rows.extend(measure(budget, "unix-sockets", socket_fanout(n)?)?);
    }
    Ok(rows)
}
