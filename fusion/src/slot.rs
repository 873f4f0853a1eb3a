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
//! | 64 | request payload ([`SLOT_PAYLOAD`] bytes) |
//! | 64 + [`SLOT_PAYLOAD`] | answer payload ([`SLOT_PAYLOAD`] bytes) |
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
const REQ: usize = CALL_SLOT + 64;
const ANS: usize = REQ + SLOT_PAYLOAD;

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
    word(m, STATE).store(REQUEST, Ordering::Release);
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
