//! # Fusion — the master/slave IPC layer of fusionfb
//!
//! Everything in fusionfb stands on this crate: the master publishes its state through it,
//! slaves join through it, and every touch reaches an application through one of its
//! reactors. It knows nothing about pixels. It is DirectFB's Fusion rebuilt in user space on
//! memfd, futex, eventfd and unix sockets — no kernel module — and it keeps DirectFB's names
//! so a DirectFB developer finds their way. Where behaviour differs, the module says so.
//!
//! ## The concepts
//!
//! - A **world** ([`world`]) is a directory holding the master's lock file and socket. One
//!   process, the **master** ([`Master`]), owns it; every other process that enters is a
//!   **slave** ([`Slave`]). Each is a **fusionee** with an id never reused in the world's life.
//! - **Pools** ([`pool`]) are memfds of shared memory with an allocator; the master's state is
//!   mapped read-only in slaves, a slave's own buffers writable. Structures in them use
//!   offsets, never pointers, so no fixed addresses are needed.
//! - A **skirmish** ([`skirmish`]) is a futex lock in shared memory; a **call** ([`call`]) an
//!   RPC entry point executed in its owner; a **reactor** ([`reactor`], [`ring`]) a
//!   publish/subscribe channel; a **ref** a distributed reference count; a **property** a
//!   lease/purchase arbitration; an **arena** a named rendezvous with shared fields; the
//!   **object registry** ties an id, a ref and a reactor to each object; a
//!   [`barrier::Barrier`] lines processes up at start-up.
//!
//! ## When a process dies
//!
//! The master notices a slave's death by its socket hanging up (the kernel closes it; no
//! heartbeat). It then releases the slave's locks (the next locker is told
//! [`skirmish::Prevailed::OwnerDied`]), answers every call waiting on it with
//! [`Error::PeerGone`], detaches its subscriptions, cedes its properties, drops its local
//! refs (watches fire), hands its half-initialised arenas over, reclaims every block it
//! allocated, and tells the others it [`SlaveEvent::Left`]. When the master dies, slaves see
//! [`SlaveEvent::MasterGone`] and every operation fails with [`Error::MasterGone`]; nobody is
//! sent a signal, and they can enter a new master's world.
//!
//! ## Without a dispatcher thread
//!
//! Master and slave are each one pollable fd ([`std::os::fd::AsFd`]), with `calloop` sources
//! in [`source`]. Nothing runs behind the application's back unless it asks for a
//! [`source::DispatchThread`].
//!
//! ## A first world
//!
//! ```
//! use fusion::{CallOutcome, Master, Slave, WorldConfig};
//! let dir = std::env::temp_dir().join(format!("fusion-doc-{}", std::process::id()));
//! let world = WorldConfig::new("doc").runtime_dir(&dir);
//! let mut master = Master::create(world.clone()).unwrap();
//! master.call_create("hello", |_, call| {
//!     CallOutcome::Return(format!("hello, fusionee {}", call.caller).into_bytes(), vec![])
//! });
//! let slave = std::thread::spawn(move || {
//!     let mut slave = Slave::enter(world).unwrap();
//!     let hello = slave.call_lookup("hello").unwrap();
//!     String::from_utf8(slave.call_execute(hello, 0, b"").unwrap()).unwrap()
//! });
//! while !slave.is_finished() {
//!     master.dispatch(Some(std::time::Duration::from_millis(5))).unwrap();
//! }
//! assert_eq!(slave.join().unwrap(), "hello, fusionee 2");
//! ```
//!
//! # Unsafe code
//!
//! None here but one module (`#![deny(unsafe_code)]`): the system calls live in the platform
//! crate, `fusionfb-sys`. The exception is the pools' allocator (`pool`'s `heap`), which
//! drives rlsf's raw-pointer TLSF API over a private shadow mapping and says why each call is
//! sound. The `fusion-bench` binary calls libc directly for its plain-Linux baselines (fork,
//! pthread mutexes, malloc).

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod barrier;
pub mod call;
pub mod control;
pub mod deadline;
pub mod error;
pub mod handover;
pub mod id;
pub mod master;
pub mod pool;
pub mod reactor;
pub mod ring;
pub mod skirmish;
pub mod slave;
pub mod slot;
pub mod source;
pub mod status;
pub mod wire;
pub mod world;

/// The platform layer, `fusionfb-sys`: Fusion's system calls (futex, memfd, SCM_RIGHTS,
/// pidfd, flock) live there with the rest of the project's `unsafe`.
pub(crate) use fusionfb_sys as sys;

pub use call::{CallIn, CallOutcome};
pub use error::{Error, IoContext, IoFailure, Looked, Result};
pub use id::{
    CallId, CallSerial, FusioneeId, ObjectId, PoolId, PropertyId, ReactionId, ReactorId, RefId,
    SkirmishId,
};
pub use master::{Master, MasterEvent};
pub use slave::{Slave, SlaveEvent};
pub use world::WorldConfig;
