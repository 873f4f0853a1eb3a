//! The synchronous call slot: the fast path of a slave's synchronous calls.
//!
//! A round trip over the socket costs two `SOCK_SEQPACKET` messages plus their encoding. A
//! synchronous call without descriptors and with a payload of at most [`SLOT_PAYLOAD`] bytes
//! instead goes through the slave's control area (shared with the master alone): the slave
//! writes the request into the slot and rings its doorbell (an eventfd); the master handles
//! it like any call and writes the answer back into the slot; the slave, spinning briefly
//! and then sleeping on its wake-up eventfd, takes it. The master rings that eventfd only if
//! the slave announced it sleeps, so a quick answer costs one wake-up in all, not two.
//!
//! When both sides are awake the doorbell costs more than the call: the master, having
//! answered, watches the slot a little while for the slave's next request ([`listen`]) and
//! says so in the slot; a slave that sees it skip the doorbell, and its next call costs no
//! system call on either side (the master's watch adapts, see `master::conn`). The slave,
//! in turn, spins for the answer only while the master makes progress on its request.
//!
//! For `fusion-bench --explain`, a slave may ask for the stages of a call to be timed: both
//! sides then stamp `CLOCK_MONOTONIC` times into the slot's trace area ([`Stage`]).
//!
//! Ordering with the socket is kept: when the slave sent packets on its socket since its
//! last slot call, it says so in the slot, and the master reads everything on the socket
//! before it serves the slot (a `send` on a unix socket has queued the packet before it
//! returns, so one-way calls sent before a synchronous call are handled before it). The
//! doorbell is edge-triggered in the master's epoll, so ringing it is the only syscall the
//! slave makes; the slave spins for the answer briefly, yielding the CPU, before it sleeps.
//!
//! Layout at [`crate::control::CALL_SLOT`] (everything the master reads is validated):
//!
//! | offset | what |
//! |---|---|
//! | 0 | state: idle, request posted, taken by the master, answered |
//! | 4 | the slave sleeps on its eventfd and wants a ring |
//! | 8 | serial · 12 call id · 16 argument · 20 request length · 24 result (0 ok, 1 error) · 28 answer length |
//! | 32 | socket first · 36 the master listens (no doorbell needed) · 40 trace the stages |
//! | 64 | request payload ([`SLOT_PAYLOAD`] bytes) |
//! | 64 + [`SLOT_PAYLOAD`] | answer payload ([`SLOT_PAYLOAD`] bytes) |
//! | 64 + 2 × [`SLOT_PAYLOAD`] | trace: one `u64` time per [`Stage`], the slave's in one cache line, the master's in the next |
//!
//! ```
//! use fusion::slot;
//! use fusionfb_sys as sys;
//! use std::os::fd::AsFd;
//! let fd = sys::memfd_create("control", fusion::control::CONTROL_SIZE).unwrap();
//! let area = sys::Mapping::new(fd.as_fd(), fusion::control::CONTROL_SIZE, true).unwrap();
//! slot::post(&area, 7, fusion::CallId(3), 0, b"ping", false).unwrap(); // the slave posts
//! let taken = slot::take(&area).unwrap().unwrap(); // the master takes it
//! assert_eq!((taken.serial, taken.call.0, &taken.payload[..]), (7, 3, &b"ping"[..]));
//! slot::answer(&area, Ok(b"pong".to_vec())); // and answers
//! assert_eq!(slot::take_answer(&area).unwrap(), b"pong");
//!
//! // The master listens: a request posted meanwhile needs no doorbell, and once the master
//! // stops listening it sees the request still pending.
//! slot::listen(&area, true);
//! slot::post(&area, 8, fusion::CallId(3), 0, b"again", false).unwrap();
//! assert!(slot::master_listens(&area));
//! slot::listen(&area, false);
//! assert!(slot::pending(&area) && !slot::master_listens(&area));
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use crate::control::CALL_SLOT;
use crate::sys::Mapping;
use crate::wire::CallId;
use crate::{Error, Result};

/// Largest payload (request or answer) that travels through the slot.
pub const SLOT_PAYLOAD: usize = 4096;

/// Nothing in the slot.
pub const IDLE: u32 = 0;
/// A request is posted.
pub const REQUEST: u32 = 1;
/// The master took the request.
pub const TAKEN: u32 = 2;
/// The answer is there.
pub const ANSWERED: u32 = 3;

const STATE: usize = CALL_SLOT;
const SLEEPING: usize = CALL_SLOT + 4;
const SERIAL: usize = CALL_SLOT + 8;
const CALL: usize = CALL_SLOT + 12;
const ARG: usize = CALL_SLOT + 16;
const REQ_LEN: usize = CALL_SLOT + 20;
const RESULT: usize = CALL_SLOT + 24;
const ANS_LEN: usize = CALL_SLOT + 28;
const SOCKET_FIRST: usize = CALL_SLOT + 32;
const LISTENING: usize = CALL_SLOT + 36;
const TRACE: usize = CALL_SLOT + 40;
const REQ: usize = CALL_SLOT + 64;
const ANS: usize = REQ + SLOT_PAYLOAD;
const TRACE_TIMES: usize = ANS + SLOT_PAYLOAD;
/// Where the call slot ends in the control area.
pub const SLOT_END: usize = TRACE_TIMES + 128;

/// Where `stage`'s time is kept: the slave's stages in one cache line, the master's in the
/// next (stamps of both sides in one line would bounce it between their cores, and time
/// that instead of the call).
fn trace_offset(stage: Stage) -> usize {
    match stage {
        Stage::Start => TRACE_TIMES,
        Stage::Posted => TRACE_TIMES + 8,
        Stage::Rung => TRACE_TIMES + 16,
        Stage::Received => TRACE_TIMES + 24,
        Stage::Woke => TRACE_TIMES + 64,
        Stage::Taken => TRACE_TIMES + 72,
        Stage::Handled => TRACE_TIMES + 80,
        Stage::Answered => TRACE_TIMES + 88,
    }
}

/// The stages of a call through the slot, each stamped when it ends (when tracing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The slave starts the call.
    Start = 0,
    /// The request is in the slot.
    Posted = 1,
    /// The doorbell rang (or was skipped: the master listened).
    Rung = 2,
    /// The master woke (returned from its poll, or saw the request while listening).
    Woke = 3,
    /// The master took the request from the slot.
    Taken = 4,
    /// The handler ran.
    Handled = 5,
    /// The answer is in the slot (and the slave's wake-up rang, if it slept).
    Answered = 6,
    /// The slave has the answer.
    Received = 7,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 8] = [
        Stage::Start,
        Stage::Posted,
        Stage::Rung,
        Stage::Woke,
        Stage::Taken,
        Stage::Handled,
        Stage::Answered,
        Stage::Received,
    ];

    /// What the time from the previous stage to this one is spent on.
    pub fn about(self) -> &'static str {
        match self {
            Stage::Start => "start",
            Stage::Posted => "slot write",
            Stage::Rung => "doorbell",
            Stage::Woke => "master wake",
            Stage::Taken => "dispatch",
            Stage::Handled => "handler",
            Stage::Answered => "answer",
            Stage::Received => "caller wake",
        }
    }
}

/// Both sides: whether the slave asked for this call's stages to be timed.
pub fn tracing(m: &Mapping) -> bool {
    word(m, TRACE).load(Ordering::Relaxed) != 0
}

/// Slave side: asks (or stops asking) for the stages of its calls to be timed.
pub fn set_tracing(m: &Mapping, on: bool) {
    word(m, TRACE).store(on as u32, Ordering::Relaxed);
}

/// Both sides: stamps `stage` with the time now.
pub fn stamp(m: &Mapping, stage: Stage) {
    stamp_at(m, stage, crate::sys::now_ns());
}

/// Both sides: stamps `stage` with `ns`.
pub fn stamp_at(m: &Mapping, stage: Stage, ns: u64) {
    if let Some(w) = m.atomic_u64(trace_offset(stage)) {
        w.store(ns, Ordering::Relaxed);
    }
}

/// Slave side: the last traced call's stage times (`CLOCK_MONOTONIC` ns; a stage not
/// stamped reads 0).
pub fn trace(m: &Mapping) -> [u64; 8] {
    Stage::ALL.map(|s| {
        m.atomic_u64(trace_offset(s))
            .map_or(0, |w| w.load(Ordering::Relaxed))
    })
}

/// Master side: starts (`true`) or stops listening to the slot for the next request. After
/// stopping, the master must look at the slot once more ([`pending`]): a request posted
/// while it listened came without a doorbell.
pub fn listen(m: &Mapping, on: bool) {
    word(m, LISTENING).store(on as u32, Ordering::SeqCst);
}

/// Both sides: whether a request waits in the slot, not taken yet.
pub fn pending(m: &Mapping) -> bool {
    word(m, STATE).load(Ordering::SeqCst) == REQUEST
}

/// Slave side: whether the master listens to the slot (then the doorbell need not ring).
/// Read after [`post`]: the two sequentially consistent accesses on each side make sure
/// that either the slave sees the master listening or the master sees the request.
pub fn master_listens(m: &Mapping) -> bool {
    word(m, LISTENING).load(Ordering::SeqCst) != 0
}

/// Slave side: whether the master has taken the request (it is working on it).
pub fn taken(m: &Mapping) -> bool {
    word(m, STATE).load(Ordering::Acquire) == TAKEN
}

fn word(m: &Mapping, off: usize) -> &AtomicU32 {
    m.atomic_u32(off).expect("control area holds the call slot")
}

/// A request taken from a slot by the master.
#[derive(Debug)]
pub struct Taken {
    /// The slave's serial.
    pub serial: u32,
    /// The call.
    pub call: CallId,
    /// Its argument.
    pub arg: i32,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The slave sent packets on its socket since its last slot call: handle them first.
    pub socket_first: bool,
}

/// Slave side: posts a request. The slot must be idle. `socket_first` tells the master that
/// packets were sent on the socket since the last slot call, to be handled before this one.
pub fn post(
    m: &Mapping,
    serial: u32,
    call: CallId,
    arg: i32,
    payload: &[u8],
    socket_first: bool,
) -> Result<()> {
    if payload.len() > SLOT_PAYLOAD {
        return Err(Error::Invalid("payload too large for the call slot".into()));
    }
    m.write(REQ, payload);
    word(m, SERIAL).store(serial, Ordering::Relaxed);
    word(m, CALL).store(call.0, Ordering::Relaxed);
    // The word holds the argument's bits (two's complement), not its value.
    word(m, ARG).store(u32::from_ne_bytes(arg.to_ne_bytes()), Ordering::Relaxed);
    word(m, REQ_LEN).store(payload.len() as u32, Ordering::Relaxed);
    word(m, SOCKET_FIRST).store(socket_first as u32, Ordering::Relaxed);
    word(m, SLEEPING).store(0, Ordering::Relaxed);
    word(m, STATE).store(REQUEST, Ordering::SeqCst);
    Ok(())
}

/// Slave side: whether the answer is there.
pub fn answered(m: &Mapping) -> bool {
    word(m, STATE).load(Ordering::Acquire) == ANSWERED
}

/// Slave side: announces it is about to sleep; `false` if the answer came meanwhile.
pub fn prepare_sleep(m: &Mapping) -> bool {
    word(m, SLEEPING).store(1, Ordering::SeqCst);
    if answered(m) {
        word(m, SLEEPING).store(0, Ordering::Relaxed);
        return false;
    }
    true
}

/// Slave side: takes the answer and frees the slot.
pub fn take_answer(m: &Mapping) -> Result<Vec<u8>> {
    let len = (word(m, ANS_LEN).load(Ordering::Relaxed) as usize).min(SLOT_PAYLOAD);
    let mut out = vec![0; len];
    m.read(ANS, &mut out);
    let failed = word(m, RESULT).load(Ordering::Relaxed) != 0;
    word(m, STATE).store(IDLE, Ordering::Release);
    if failed {
        return Err(crate::call::decode::<Error>(&out)
            .unwrap_or_else(|_| Error::Malformed("undecodable error in the call slot".into())));
    }
    Ok(out)
}

/// Master side: takes a posted request, validating what the slave wrote.
pub fn take(m: &Mapping) -> Option<Result<Taken>> {
    let state = word(m, STATE);
    if state
        .compare_exchange(REQUEST, TAKEN, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return None;
    }
    let len = word(m, REQ_LEN).load(Ordering::Relaxed) as usize;
    let serial = word(m, SERIAL).load(Ordering::Relaxed);
    if len > SLOT_PAYLOAD {
        return Some(Err(Error::Malformed(format!(
            "call slot request of {len} bytes (at most {SLOT_PAYLOAD})"
        ))));
    }
    let mut payload = vec![0; len];
    m.read(REQ, &mut payload);
    Some(Ok(Taken {
        serial,
        call: CallId(word(m, CALL).load(Ordering::Relaxed)),
        arg: i32::from_ne_bytes(word(m, ARG).load(Ordering::Relaxed).to_ne_bytes()),
        payload,
        socket_first: word(m, SOCKET_FIRST).load(Ordering::Relaxed) != 0,
    }))
}

/// Master side: writes the answer; returns whether the slave sleeps and needs a ring.
/// Answers too large for the slot become an error the caller sees.
pub fn answer(m: &Mapping, result: Result<Vec<u8>>) -> bool {
    let (code, bytes) = match result {
        Ok(b) if b.len() <= SLOT_PAYLOAD => (0, b),
        Ok(b) => (
            1,
            crate::call::encode(&Error::Invalid(format!(
                "answer of {} bytes does not fit the call slot ({SLOT_PAYLOAD})",
                b.len()
            )))
            .unwrap_or_default(),
        ),
        Err(e) => (1, crate::call::encode(&e).unwrap_or_default()),
    };
    let bytes = if bytes.len() > SLOT_PAYLOAD {
        crate::call::encode(&Error::Invalid("error too long".into())).unwrap_or_default()
    } else {
        bytes
    };
    m.write(ANS, &bytes);
    word(m, RESULT).store(code, Ordering::Relaxed);
    word(m, ANS_LEN).store(bytes.len() as u32, Ordering::Relaxed);
    word(m, STATE).store(ANSWERED, Ordering::SeqCst);
    word(m, SLEEPING).swap(0, Ordering::SeqCst) != 0
}
