//! The one error type of the crate.
//!
//! Every fallible Fusion operation returns [`Result<T>`]. The variants name what went wrong
//! from the caller's point of view; the same variants travel over the wire as error replies
//! (see [`crate::wire`]), so a slave sees the master's refusal as the same variant the
//! master produced.

use serde::{Deserialize, Serialize};

/// Result alias used throughout Fusion.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Fusion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// A system call failed: what was being done and the OS's error number (see [`IoFailure`]).
    #[error("{0}")]
    Io(IoFailure),
    /// The other side's API major or ABI differs from ours.
    #[error("version mismatch: {0}")]
    VersionMismatch(String),
    /// The master refused us (policy, role, world state).
    #[error("refused by the master: {0}")]
    Refused(String),
    /// A world with a live master exists already (entering as master).
    #[error("world {0:?} already has a live master")]
    WorldBusy(String),
    /// No master runs in this world (entering as slave): `looked` says where the slave looked
    /// for one and which worlds it found there.
    #[error("no master in world {world:?}: {}", Looked::describe(.looked))]
    NoMaster {
        /// The world the slave wanted to enter.
        world: String,
        /// Every runtime directory tried, in order.
        looked: Vec<Looked>,
    },
    /// The master went away; every later operation fails with this.
    #[error("the master is gone")]
    MasterGone,
    /// The fusionee that owns the call (or lock, or ref watch) died before answering.
    #[error("peer {0} is gone")]
    PeerGone(crate::id::FusioneeId),
    /// A message could not be decoded (malformed, truncated, wrong version).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Something named by id does not exist (any more).
    #[error("no such {0}")]
    NotFound(String),
    /// The caller may not do this (not the owner, not the master, no permission).
    #[error("permission denied: {0}")]
    Access(String),
    /// An argument is out of range or inconsistent.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The resource is held by someone else (swoop, zero-trylock, property).
    #[error("busy")]
    Busy,
    /// The timeout passed first.
    #[error("timed out")]
    TimedOut,
    /// A ref is zero-locked (or the object is being destroyed).
    #[error("locked")]
    Locked,
    /// The object was destroyed.
    #[error("destroyed")]
    Destroyed,
    /// A lossless channel is full; try again once subscribers caught up.
    #[error("would block: subscribers have not caught up")]
    WouldBlock,
    /// The caller exceeded its quota of pending calls, memory or objects.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// Out of shared memory in a pool.
    #[error("out of shared memory in pool {0:?}")]
    NoMemory(String),
}

/// One runtime directory a slave looked in for a master (see [`Error::NoMaster`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Looked {
    /// The directory.
    pub dir: String,
    /// The worlds found there (subdirectories with a master socket), sorted.
    pub worlds: Vec<String>,
    /// Why nothing could be listed or entered there (`missing`, `cannot list: …`, `stale
    /// socket`), if that is the case.
    pub note: Option<String>,
}

impl Looked {
    /// `dir (worlds: a, b), dir2 (none) — what to do`: the text of [`Error::NoMaster`].
    pub fn describe(looked: &[Looked]) -> String {
        let mut s = String::from("looked in ");
        if looked.is_empty() {
            s.push_str("no directory");
        }
        for (i, l) in looked.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&l.dir);
            let mut parts = Vec::new();
            if let Some(n) = &l.note {
                parts.push(n.clone());
            }
            if !l.worlds.is_empty() {
                parts.push(format!("worlds: {}", l.worlds.join(", ")));
            } else if l.note.is_none() {
                parts.push("no worlds".into());
            }
            s.push_str(&format!(" ({})", parts.join("; ")));
        }
        s.push_str(
            " \u{2014} start the master, check the world's name (--world or FUSIONFB_WORLD), \
             or point FUSIONFB_RUNTIME_DIR at the directory the master runs in",
        );
        s
    }
}

/// A failed system call, as [`Error::Io`] carries it (across the wire too): the operation and
/// the errno, so the text reads `creating /run/fusionfb/kiosk: Permission denied (os error
/// 13)` and a caller can still ask which error it was ([`IoFailure::kind`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoFailure {
    /// What was being done (`creating /run/fusionfb/kiosk`); empty when not known.
    pub op: String,
    /// The OS error number (`EACCES`, …); 0 when the failure did not come from the OS, and
    /// then `detail` says what it was.
    pub errno: i32,
    /// The failure's own text when it is not an OS error; empty otherwise.
    pub detail: String,
}

impl IoFailure {
    /// The failure of `op` with `e`.
    pub fn new(op: impl Into<String>, e: &std::io::Error) -> Self {
        let errno = e.raw_os_error().unwrap_or(0);
        IoFailure {
            op: op.into(),
            errno,
            detail: if errno == 0 {
                e.to_string()
            } else {
                String::new()
            },
        }
    }

    /// The error as `std::io` sees it (for its [`std::io::ErrorKind`]).
    pub fn io_error(&self) -> std::io::Error {
        if self.errno != 0 {
            std::io::Error::from_raw_os_error(self.errno)
        } else {
            std::io::Error::other(self.detail.clone())
        }
    }

    /// Its kind (`PermissionDenied`, `NotFound`, …).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.io_error().kind()
    }
}

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.op.is_empty() {
            "I/O error"
        } else {
            &self.op
        };
        write!(f, "{what}: {}", self.io_error())
    }
}

impl Error {
    /// [`Error::Io`] for `op` failing with `e`.
    pub fn io(op: impl Into<String>, e: &std::io::Error) -> Self {
        Error::Io(IoFailure::new(op, e))
    }
}

/// Names the operation of a failed system call: `fs::read(p).op(|| format!("reading
/// {}", p.display()))?` gives an [`Error::Io`] that says what was being done.
pub trait IoContext<T> {
    /// The result with its I/O error turned into an [`Error::Io`] naming `op`.
    fn op(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn op(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(op(), &e))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("", &e)
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::from(std::io::Error::from(e))
    }
}
