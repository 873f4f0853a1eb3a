//! The wire: every message between a slave and the master, and its encoding.
//!
//! Messages travel as single `SOCK_SEQPACKET` packets (so framing is the kernel's), each a
//! one-byte wire version followed by a [`postcard`] encoding of [`Message`]. postcard is
//! bounds-checked: a truncated, oversized or garbage packet decodes to an error, never a panic
//! and never an allocation larger than the packet. Packets over [`MAX_MESSAGE`] bytes are a
//! protocol violation and cost the sender its connection.
//!
//! Versioning: the [`Message::Hello`] handshake carries the API major/minor and the ABI number;
//! majors and ABIs must match exactly, minors may differ (the newer side adapts, as in
//! linux-fusion). The per-packet [`WIRE_VERSION`] byte lets a future encoding coexist.
//!
//! ```
//! use fusion::wire::{decode, encode, Message, Request};
//! let packet = encode(&Message::Request { serial: 1, req: Request::Ping }).unwrap();
//! assert_eq!(packet[0], fusion::wire::WIRE_VERSION);
//! assert!(matches!(decode(&packet), Ok(Message::Request { serial: 1, .. })));
//! assert!(decode(&packet[..packet.len() - 1]).is_err()); // truncated: an error, not a panic
//! ```

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The wire version byte that starts every packet.
pub const WIRE_VERSION: u8 = 1;
/// Fusion's API major version; a slave must match it exactly. 2: a skirmish's lock word
/// carries the `SLOW` bit (a slave of major 1 would misread a recursive or stamped hold).
/// The minor numbers carry on across majors.
pub const API_MAJOR: u16 = 2;
/// Fusion's API minor version; may differ between master and slave. 1: error replies carry
/// `Error::Io` with its operation and errno, and `Error::NoMaster` with where it looked.
/// 2: a snapshot larger than a packet comes as [`Response::JsonFd`]. 3: a call's answer
/// larger than a packet comes as [`Response::BytesFd`].
pub const API_MINOR: u16 = 3;
/// Largest packet either side accepts.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Largest call payload (what is left of a packet after the envelope).
pub const MAX_PAYLOAD: usize = MAX_MESSAGE - 256;

pub use crate::id::{
    CallId, CallSerial, FusioneeId, ObjectId, PoolId, PropertyId, ReactionId, ReactorId, RefId,
    SkirmishId,
};

/// The master's fusionee id.
pub const MASTER_ID: FusioneeId = FusioneeId(1);
/// The caller id of calls the world makes by itself (ref watches, dispatch callbacks), and,
/// in a call quota, "every caller".
pub const SYSTEM_ID: FusioneeId = FusioneeId(0);

/// The role a process asks for when it enters a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Create the world; fail if a live master exists.
    Master,
    /// Join an existing world; fail if none runs.
    Slave,
    /// Master if nobody is, slave otherwise.
    Any,
}

/// Every packet on a Fusion connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Slave → master, first packet: who we are and what we speak.
    Hello {
        /// API major (must match).
        api_major: u16,
        /// API minor (may differ).
        api_minor: u16,
        /// Application ABI (must match the world's).
        abi: u32,
        /// A human-readable name for introspection.
        name: String,
    },
    /// Master → slave: admitted. Carries the fds of the shared pools and doorbells.
    Welcome(Welcome),
    /// Master → slave: not admitted (then the master closes the connection).
    Refused(Error),
    /// Slave → master: a request with a reply.
    Request {
        /// Chosen by the slave, echoed in the reply.
        serial: u32,
        /// What is asked.
        req: Request,
    },
    /// Master → slave: the answer to a request.
    Reply {
        /// The request's serial.
        serial: u32,
        /// The outcome.
        result: Result<Response, Error>,
    },
    /// Slave → master: requests without replies (one-way calls, batched).
    OneWay(Vec<Request>),
    /// Master → slave: an unsolicited event.
    Event(Event),
    /// Slave → master: the answer to a call the master forwarded to this slave.
    CallReturn {
        /// The serial of the forwarded call.
        serial: CallSerial,
        /// The handler's answer.
        result: Result<Vec<u8>, Error>,
    },
}

/// What the master tells a newly admitted slave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The slave's fusionee id.
    pub id: FusioneeId,
    /// The master's pid.
    pub master_pid: u32,
    /// The master's API minor.
    pub api_minor: u16,
    /// Pools the slave maps, in the order their fds are attached after the fixed fds.
    pub pools: Vec<PoolInfo>,
    /// Byte offset of the lock (skirmish) table in the locks pool.
    pub lock_table: u64,
    /// Slots in the lock table.
    pub lock_slots: u32,
    /// Size of the slave's private control area (fd 0 of the Welcome packet).
    pub control_size: u64,
}

/// A pool as announced to slaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// Pool id.
    pub id: PoolId,
    /// Pool name.
    pub name: String,
    /// Whether slaves may write it.
    pub writable: bool,
}

/// A request a slave sends to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Does nothing; answers `Ok(Response::Unit)` (liveness, benchmarks).
    Ping,
    /// The world snapshot (introspection).
    Snapshot,
    /// The world's root value set by the master.
    GetRoot,

    /// Create a call owned by the requester.
    CallCreate {
        /// Name for introspection.
        name: String,
    },
    /// Destroy a call the requester owns.
    CallDestroy(CallId),
    /// Look a call up by name.
    CallLookup(String),
    /// Execute a call. Descriptors sent with the packet go along.
    CallExecute {
        /// Which call.
        call: CallId,
        /// The handler's integer argument.
        arg: i32,
        /// The encoded arguments.
        payload: Vec<u8>,
    },
    /// Set how many calls one fusionee may have pending on a call (owner only).
    CallSetQuota {
        /// Which call.
        call: CallId,
        /// Which caller (0 = everyone's default).
        caller: FusioneeId,
        /// Most pending calls.
        limit: u32,
    },

    /// Create a reactor.
    ReactorCreate {
        /// Name for introspection.
        name: String,
        /// Largest message.
        msg_size: u32,
        /// Entries in the broadcast ring.
        capacity: u32,
        /// Lossless: dispatch waits for slow subscribers instead of overwriting.
        lossless: bool,
    },
    /// Destroy a reactor (creator only).
    ReactorDestroy(ReactorId),
    /// Subscribe to a reactor's channel.
    ReactorAttach {
        /// Which reactor.
        reactor: ReactorId,
        /// Which channel (0..1024).
        channel: u32,
    },
    /// Unsubscribe from a channel.
    ReactorDetach {
        /// Which reactor.
        reactor: ReactorId,
        /// Which channel.
        channel: u32,
    },
    /// Publish a message.
    ReactorDispatch {
        /// Which reactor.
        reactor: ReactorId,
        /// Which channel.
        channel: u32,
        /// Deliver to the dispatcher's own subscriptions too.
        to_self: bool,
        /// The message.
        payload: Vec<u8>,
    },
    /// Have `call` executed (one-way, arg = channel) once every subscriber read a message.
    ReactorSetDispatchCallback {
        /// Which reactor.
        reactor: ReactorId,
        /// The call to execute, or `None` to clear.
        call: Option<CallId>,
    },

    /// Create a ref.
    RefCreate(String),
    /// Increase a ref (local: counted for the requester and dropped when it dies).
    RefUp {
        /// Which ref.
        r: RefId,
        /// Global (anonymous) instead of local.
        global: bool,
    },
    /// Decrease a ref.
    RefDown {
        /// Which ref.
        r: RefId,
        /// Global (anonymous) instead of local.
        global: bool,
    },
    /// The ref's total count.
    RefStat(RefId),
    /// Lock the ref if its count is zero (`Busy` otherwise).
    RefZeroTrylock(RefId),
    /// Wait until the count is zero, then lock it.
    RefZeroLock(RefId),
    /// Unlock a zero-locked ref.
    RefUnlock(RefId),
    /// Execute `call` with `arg` in its owner when the count reaches zero.
    RefWatch {
        /// Which ref.
        r: RefId,
        /// Call to execute.
        call: CallId,
        /// Its argument.
        arg: i32,
    },
    /// Count `from`'s local references as this ref's too.
    RefInherit {
        /// The inheriting ref.
        r: RefId,
        /// The ref inherited from.
        from: RefId,
    },
    /// Destroy a ref (creator only).
    RefDestroy(RefId),

    /// Create a property.
    PropertyCreate(String),
    /// Lease (shared short-term hold).
    PropertyLease(PropertyId),
    /// Purchase (long-term hold).
    PropertyPurchase(PropertyId),
    /// Give back a lease or purchase.
    PropertyCede(PropertyId),
    /// Master only: take the property back from its purchaser (who is killed).
    PropertyHoldup(PropertyId),
    /// Destroy a property (creator only).
    PropertyDestroy(PropertyId),

    /// Create (and lock for initialisation if first) or join an arena.
    ArenaEnter(String),
    /// The first enterer finished initialising; waiting joiners proceed.
    ArenaReady(String),
    /// Set a named shared field of an arena.
    ArenaSetField {
        /// Arena name.
        arena: String,
        /// Field name.
        field: String,
        /// Value.
        value: Vec<u8>,
    },
    /// Read a named shared field.
    ArenaGetField {
        /// Arena name.
        arena: String,
        /// Field name.
        field: String,
    },
    /// Leave an arena.
    ArenaExit(String),

    /// Allocate in a shared pool (accounted to the requester).
    ShmAlloc {
        /// Pool id.
        pool: PoolId,
        /// Bytes.
        size: u64,
        /// Zero-filled.
        zeroed: bool,
    },
    /// Resize an allocation (contents preserved).
    ShmRealloc {
        /// The block.
        block: crate::pool::ShmHandle,
        /// New size.
        size: u64,
    },
    /// Free an allocation the requester owns.
    ShmFree(crate::pool::ShmHandle),
    /// Get a pool's fd (answered with the fd attached).
    PoolOpen(PoolId),

    /// Create a skirmish (lock) in the lock table.
    SkirmishCreate(String),
    /// Destroy a skirmish.
    SkirmishDestroy(SkirmishId),

    /// Look an object up.
    ObjectGet(ObjectId),
    /// List the ids of an object class.
    ObjectList(String),
}

/// The master's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Done, nothing to say.
    Unit,
    /// A new or found id.
    Id(u32),
    /// A count.
    Count(i64),
    /// A boolean (`ArenaEnter`: first; `ArenaExit`: last).
    Bool(bool),
    /// Bytes (call results, fields, root).
    Bytes(Vec<u8>),
    /// A JSON document (the snapshot).
    Json(String),
    /// A shared-memory block.
    Block(crate::pool::ShmHandle),
    /// Where to read a reactor.
    Attached(Attached),
    /// An object's description.
    Object(ObjectInfo),
    /// Ids.
    Ids(Vec<u32>),
    /// A pool (its fd is attached).
    Pool(PoolInfo),
    /// A JSON document of this many bytes too large for a packet (a world's snapshot with
    /// thousands of objects), in the sealed memfd attached last (API minor 2). The slave reads
    /// it back into [`Response::Json`] before handing the reply on.
    JsonFd(u64),
    /// Bytes too large for a packet (a call's answer: a display with hundreds of windows
    /// described), this many, in the sealed memfd attached after the answer's own fds (API
    /// minor 3). The slave reads them back into [`Response::Bytes`] before handing the
    /// reply on.
    BytesFd(u64),
}

/// Where a subscriber finds a reactor's ring and its own cursor block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// Pool holding the ring (read-only for slaves).
    pub pool: PoolId,
    /// Byte offset of the ring in that pool.
    pub ring_offset: u64,
    /// Byte offset of the subscriber's cursor block in its control area.
    pub cursor_offset: u64,
}

/// An object as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Object id.
    pub id: ObjectId,
    /// Its class (the object pool's name).
    pub class: String,
    /// Lifecycle state.
    pub state: ObjectState,
    /// Its reactor.
    pub reactor: ReactorId,
    /// Its ref.
    pub r#ref: RefId,
    /// Fusionees allowed to change it.
    pub owners: Vec<FusioneeId>,
    /// Its published data, if any.
    pub data: Option<crate::pool::ShmHandle>,
}

/// Object lifecycle (DirectFB's FOS_INIT/ACTIVE/DEINIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectState {
    /// Created, not yet visible to lookups by others.
    Init,
    /// In use.
    Active,
    /// Being destroyed.
    Deinit,
}

/// Master → slave notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Another fusionee left (or died).
    Left(FusioneeId),
    /// The master asks this slave to leave before `timeout_ms` (then it is killed).
    LeaveRequested {
        /// Milliseconds until the kill.
        timeout_ms: u32,
    },
    /// A call owned by this slave is executed; answer with [`Message::CallReturn`]
    /// unless `oneway`.
    Call {
        /// Serial to answer with.
        serial: CallSerial,
        /// Which call.
        call: CallId,
        /// Who calls (0 = the system: ref watches, dispatch callbacks).
        caller: FusioneeId,
        /// Integer argument.
        arg: i32,
        /// Encoded arguments.
        payload: Vec<u8>,
        /// No answer expected.
        oneway: bool,
    },
}

/// Encodes a message into a packet.
pub fn encode(msg: &Message) -> Result<Vec<u8>, Error> {
    let mut out = vec![WIRE_VERSION];
    let body = postcard::to_stdvec(msg).map_err(|e| Error::Invalid(e.to_string()))?;
    out.extend_from_slice(&body);
    if out.len() > MAX_MESSAGE {
        return Err(Error::Invalid(format!(
            "message of {} bytes exceeds the {MAX_MESSAGE}-byte limit",
            out.len()
        )));
    }
    Ok(out)
}

/// Decodes a packet. Never panics, whatever the bytes.
pub fn decode(packet: &[u8]) -> Result<Message, Error> {
    match packet.split_first() {
        None => Err(Error::Malformed("empty packet".into())),
        Some((&v, _)) if v != WIRE_VERSION => Err(Error::Malformed(format!(
            "wire version {v}, expected {WIRE_VERSION}"
        ))),
        Some(_) if packet.len() > MAX_MESSAGE => Err(Error::Malformed("oversized packet".into())),
        Some((_, body)) => {
            let (msg, rest) = postcard::take_from_bytes::<Message>(body)
                .map_err(|e| Error::Malformed(e.to_string()))?;
            if !rest.is_empty() {
                return Err(Error::Malformed(format!("{} trailing bytes", rest.len())));
            }
            Ok(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Message::Request {
            serial: 7,
            req: Request::CallExecute {
                call: CallId(3),
                arg: -1,
                payload: vec![1, 2, 3],
            },
        };
        assert_eq!(decode(&encode(&m).unwrap()).unwrap(), m);
    }

    #[test]
    fn errors_with_fields_round_trip() {
        let e = Error::NoMaster {
            world: "demo2".into(),
            looked: vec![crate::Looked {
                dir: "/run/fusionfb".into(),
                worlds: vec!["demo".into()],
                note: None,
            }],
        };
        for m in [
            Message::Refused(e.clone()),
            Message::Reply {
                serial: 3,
                result: Err(e.clone()),
            },
            Message::Refused(Error::Access("x".into())),
            Message::Reply {
                serial: 4,
                result: Err(Error::io(
                    "opening /dev/dri/card0",
                    &std::io::Error::from_raw_os_error(13),
                )),
            },
        ] {
            assert_eq!(decode(&encode(&m).unwrap()).unwrap(), m);
        }
    }

    /// An I/O error keeps what was being done and its errno, on both sides of the wire.
    #[test]
    fn io_errors_keep_their_operation_and_errno() {
        use crate::IoContext;
        let e = std::fs::read("/nonexistent/fusion-io-test")
            .op(|| "reading /nonexistent/fusion-io-test".into())
            .unwrap_err();
        let Error::Io(f) = &e else { panic!("{e:?}") };
        assert_eq!(f.errno, 2);
        assert_eq!(f.kind(), std::io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with("reading /nonexistent/fusion-io-test: No such file or directory"),
            "{e}"
        );
        let sent = Message::Reply {
            serial: 1,
            result: Err(e.clone()),
        };
        let Message::Reply {
            result: Err(back), ..
        } = decode(&encode(&sent).unwrap()).unwrap()
        else {
            panic!("not a reply")
        };
        assert_eq!(back.to_string(), e.to_string());
        let other = Error::from(std::io::Error::other("no header"));
        assert_eq!(other.to_string(), "I/O error: no header");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[9, 1, 2]).is_err());
        assert!(decode(&[WIRE_VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        let mut ok = encode(&Message::Request {
            serial: 1,
            req: Request::Ping,
        })
        .unwrap();
        ok.push(0);
        assert!(decode(&ok).is_err());
        // Every prefix of a valid packet decodes to an error or a valid message, never a panic.
        let full = encode(&Message::Request {
            serial: 9,
            req: Request::ArenaSetField {
                arena: "a".into(),
                field: "b".into(),
                value: vec![7; 100],
            },
        })
        .unwrap();
        for n in 0..full.len() {
            let _ = decode(&full[..n]);
        }
    }
}
