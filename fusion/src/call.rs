//! Calls: RPC entry points owned by one fusionee and executed in it.
//!
//! A call is created by its owner (the master with [`crate::Master::call_create`], a slave
//! with [`crate::Slave::call_create`]) and executed by anyone who knows its id:
//! synchronously ([`crate::Slave::call_execute`]), one-way ([`crate::Slave::call_oneway`]),
//! or queued and sent in batches ([`crate::Slave::call_queue`]). The handler answers at once
//! or later ([`CallOutcome::Later`], then `call_return` with the serial), and may pass file
//! descriptors back. Payloads are bytes; [`encode`] and [`decode`] give typed payloads with
//! postcard's versioned, bounds-checked encoding. Each caller has a quota of pending calls per
//! call. If the owner dies, every caller still waiting gets [`crate::Error::PeerGone`] at once.
//!
//! ```no_run
//! # use fusion::{Slave, WorldConfig};
//! let mut slave = Slave::enter(WorldConfig::new("example")).unwrap();
//! let echo = slave.call_lookup("echo").unwrap();
//! let answer: String = fusion::call::decode(&slave.call_execute(echo, 0, &fusion::call::encode(&"hi").unwrap()).unwrap()).unwrap();
//! ```

use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::{CallSerial, FusioneeId};
use crate::{Error, Result};

/// A call as its handler sees it.
#[derive(Debug)]
pub struct CallIn {
    /// Who calls (0: the system, e.g. a ref watch or a dispatch callback).
    pub caller: FusioneeId,
    /// Serial to pass to `call_return` when the handler answers later.
    pub serial: CallSerial,
    /// The call's integer argument.
    pub arg: i32,
    /// The encoded arguments.
    pub payload: Vec<u8>,
    /// Descriptors that came with the call.
    pub fds: Vec<OwnedFd>,
    /// One-way: any answer is dropped.
    pub oneway: bool,
}

/// What a call handler answers.
#[derive(Debug)]
pub enum CallOutcome {
    /// Answer now with bytes and optional descriptors.
    Return(Vec<u8>, Vec<OwnedFd>),
    /// Answer now with an error.
    Fail(Error),
    /// Answer later with `call_return` and this call's serial.
    Later,
}

impl CallOutcome {
    /// Answers with an encoded value.
    pub fn value<T: Serialize>(v: &T) -> Self {
        match encode(v) {
            Ok(b) => CallOutcome::Return(b, Vec::new()),
            Err(e) => CallOutcome::Fail(e),
        }
    }
}

/// Encodes a typed payload.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| Error::Invalid(e.to_string()))
}

/// [`encode`] into `buf`, without allocating (for hot paths: an input event per touch);
/// [`Error::Invalid`] when it does not fit.
pub fn encode_into<'b, T: Serialize + ?Sized>(v: &T, buf: &'b mut [u8]) -> Result<&'b [u8]> {
    postcard::to_slice(v, buf)
        .map(|b| &*b)
        .map_err(|e| Error::Invalid(e.to_string()))
}

/// Decodes a typed payload; garbage gives [`Error::Malformed`], never a panic.
pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    postcard::from_bytes(b).map_err(|e| Error::Malformed(e.to_string()))
}
