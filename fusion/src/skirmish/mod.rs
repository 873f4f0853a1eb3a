//! Skirmish: a recursive lock shared between processes, with wait/notify and crash recovery.
//!
//! A *skirmish* is DirectFB's name for its inter-process mutex. Linux-fusion kept it in the
//! kernel; here it is a futex word in shared memory, so taking a free lock costs one
//! compare-and-swap and no system call.
//!
//! # The table
//!
//! Skirmishes live in a [`Table`]: [`SLOT_SIZE`]-byte slots at some byte offset (a multiple
//! of 8) in a [`Mapping`] that every fusionee maps writable (the world's lock pool), followed
//! by the owner tokens (see [`tokens`]). The master allocates slots ([`init_slot`],
//! [`destroy_slot`]); each fusionee builds a [`Skirmish`] handle for a slot with its own
//! fusionee id. Slot layout (all native-endian):
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | +0 | `word: u32` | the futex word: 0 = free; else bits 0..=28 the owner's token, bit 29 `SLOW`, bit 30 `OWNER_DIED`, bit 31 `WAITERS` |
//! | +4 | reserved | 0 |
//! | +8 | `count: u32` | recursion depth beyond the first (meaningful only while the word has `SLOW`) |
//! | +12 | `notify_seq: u32` | futex word for [`Skirmish::wait`] / [`Skirmish::notify`] |
//! | +16 | `waiters: u32` | threads blocked in prevail or wait (introspection only) |
//! | +20 | `state: u32` | 0 unused, 1 in use, 2 destroyed (the word then holds owner bits `0x1FFF_FFFF`, which no token has) |
//! | +24 | `locked_at_ns: u64` | `CLOCK_MONOTONIC` when acquired, 0 = not yet stamped (meaningful only while the word has `SLOW`) |
//! | +32 | `name: [u8; 32]` | NUL-padded UTF-8 |
//!
//! # Protocol
//!
//! A classic futex mutex carrying the owner's token: one per thread and fusionee, so the word
//! alone says whether the calling thread holds the lock. Locking tries `0 → token`. On contention the
//! locker sets `WAITERS` on the word and sleeps on it; unlocking sets the word back to 0 and
//! wakes one sleeper only if `WAITERS` was set. A thread that has slept once re-acquires with
//! `WAITERS` set (it cannot know whether others still sleep), which costs at most a spurious
//! wake-up and never loses one. Ownership is the token (fusionee and thread): the same thread
//! re-locking is recursive, another thread of the same process waits like anybody else.
//!
//! An uncontended [`Skirmish::prevail`] + [`Skirmish::dismiss`] is one CAS each (`0 → token`,
//! `token → 0`) and touches nothing but the word; the token comes from a thread-local.
//! Whatever else a hold carries sets the word's `SLOW` bit, so the dismiss CAS fails and
//! dismiss takes the slow path, which looks at the other fields:
//!
//! - recursion (the owner locks again): `count` holds the extra depth;
//! - a hold-time stamp in `locked_at_ns`: a contended acquirer (which already paid for
//!   system calls) stamps its hold, and a [`snapshot`] that finds a held lock without a
//!   stamp sets `SLOW` and stamps it.
//!
//! `count` and `locked_at_ns` mean something only while the word has `SLOW` (a stamp left
//! by a snapshot that raced with a dismiss is ignored). Introspection thus reports a hold
//! time that is exact for contended locks and a lower bound for uncontended ones (give or
//! take the few nanoseconds of such a race).
//!
//! # When an owner dies
//!
//! Nothing in the kernel knows about these locks, so a fusionee that dies holding one leaves
//! its token in the word. The master, once it knows the process is gone, calls [`release_dead`]:
//! every slot held by a token of the dead id becomes `OWNER_DIED` (free, but dirty), its
//! tokens are freed, and one sleeper is
//! woken. The next locker takes it and gets [`Prevailed::OwnerDied`] — exactly one locker per
//! death, like `EOWNERDEAD` of robust mutexes — and should repair whatever the lock protects.
//! Until the master releases it, a dead owner's lock simply stays held (waiters block; use the
//! timeout variants where that matters).
//!
//! The table is writable by every fusionee, so its contents are untrusted: garbage in a slot
//! may stall that lock (as a hostile slave holding it could), but it never makes this code
//! panic, access out of bounds or spin forever.
//!
//! # Example
//!
//! ```
//! use std::os::fd::AsFd;
//! use std::sync::Arc;
//! use fusion::skirmish::{self, Prevailed, Skirmish};
//! use fusion::{FusioneeId, SkirmishId};
//! use fusionfb_sys::{memfd_create, Mapping};
//!
//! let table = skirmish::Table::new(0, 4);
//! let fd = memfd_create("locks", table.size()).unwrap();
//! let map = Arc::new(Mapping::new(fd.as_fd(), table.size(), true).unwrap());
//! // Master: set up slot 0 of a table at offset 0.
//! skirmish::init_slot(&map, 0, SkirmishId(0), "layer lock").unwrap();
//! // Any fusionee (here with id 7):
//! let lock = Skirmish::new(map.clone(), table, SkirmishId(0), FusioneeId(7)).unwrap();
//! assert_eq!(lock.prevail().unwrap(), Prevailed::Clean);
//! assert_eq!(lock.prevail().unwrap(), Prevailed::Clean); // recursive
//! assert_eq!(lock.lock_count(), 2);
//! lock.dismiss().unwrap();
//! lock.dismiss().unwrap();
//! assert!(!lock.is_locked());
//! ```
//!
//! Handles must not be used in a child created by `fork()` (the cached thread id would be
//! the parent's); a forked process enters the world anew.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::id::{FusioneeId, SkirmishId};
use crate::sys::{self, FutexWait, Mapping};
use crate::{Error, Result};

pub mod tokens;

pub use tokens::{TOKENS, TOKEN_SIZE};

/// Where a lock table lies in its mapping: `slots` slots from byte `offset` (a multiple of
/// 8), then [`TOKENS`] owner tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Byte offset of slot 0.
    pub offset: usize,
    /// Number of lock slots.
    pub slots: u32,
}

impl Table {
    /// A table of `slots` slots at byte `offset`.
    pub const fn new(offset: usize, slots: u32) -> Self {
        Self { offset, slots }
    }

    /// Bytes the table spans: its slots and its tokens.
    pub const fn size(&self) -> usize {
        self.slots as usize * SLOT_SIZE + TOKENS as usize * TOKEN_SIZE
    }

    /// Byte offset of the token table (`None` when it does not fit in the address space).
    pub fn tokens_offset(&self) -> Option<usize> {
        (self.slots as usize)
            .checked_mul(SLOT_SIZE)?
            .checked_add(self.offset)
    }
}

/// Size of one slot in the skirmish table, in bytes.
pub const SLOT_SIZE: usize = 64;

/// Longest name [`init_slot`] stores, in bytes (longer names are cut at a char boundary).
pub const NAME_LEN: usize = 32;

/// Largest fusionee id a skirmish can record as its owner (in its token).
pub const MAX_OWNER_ID: u32 = (1 << 30) - 2;

const WAITERS: u32 = 1 << 31;
const OWNER_DIED: u32 = 1 << 30;
/// The holder recursed or its hold is stamped: dismiss must take the slow path.
const SLOW: u32 = 1 << 29;
/// The owner's token (tokens are below [`TOKENS`], far below this).
const OWNER_MASK: u32 = SLOW - 1;
/// Owner bits of a destroyed slot: an id no fusionee has, so every locker takes the slow path.
const DESTROYED_OWNER: u32 = OWNER_MASK;

const STATE_UNUSED: u32 = 0;
const STATE_IN_USE: u32 = 1;
const STATE_DESTROYED: u32 = 2;

const OFF_WORD: usize = 0;
const OFF_COUNT: usize = 8;
const OFF_SEQ: usize = 12;
const OFF_WAITERS: usize = 16;
const OFF_STATE: usize = 20;
const OFF_LOCKED_AT: usize = 24;
const OFF_NAME: usize = 32;

/// How often [`release_dead`] retries a slot whose word keeps changing under it.
const RELEASE_RETRIES: usize = 64;

/// Wake "everybody" (the kernel reads the count as a signed int).
const WAKE_ALL: u32 = i32::MAX as u32;

/// How a successful lock found the skirmish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prevailed {
    /// The lock was free (or already ours): nothing special.
    Clean,
    /// The previous owner died holding the lock and the master released it (like
    /// `EOWNERDEAD`): the state it protects may be half-updated and should be repaired.
    /// Reported to exactly one locker after each death.
    OwnerDied,
}

thread_local! {
    static TID: Cell<u32> = const { Cell::new(0) };
}

extern "C" fn forget_tid() {
    TID.set(0);
    tokens::forget();
}

/// The calling thread's kernel tid, cached (gettid is a system call).
#[inline]
fn my_tid() -> u32 {
    let t = TID.get();
    if t != 0 {
        t
    } else {
        fetch_tid()
    }
}

#[cold]
fn fetch_tid() -> u32 {
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    // A forked child must not inherit its parent's cached tid.
    AT_FORK.call_once(|| sys::at_fork_child(forget_tid));
    let t = sys::gettid();
    TID.set(t);
    t
}

/// The atomics of one slot.
struct Slot<'a> {
    word: &'a AtomicU32,
    count: &'a AtomicU32,
    seq: &'a AtomicU32,
    waiters: &'a AtomicU32,
    state: &'a AtomicU32,
    locked_at: &'a AtomicU64,
}

impl<'a> Slot<'a> {
    fn at(map: &'a Mapping, off: usize) -> Option<Self> {
        if off % 8 != 0 || off.checked_add(SLOT_SIZE)? > map.len() {
            return None;
        }
        Some(Self {
            word: map.atomic_u32(off + OFF_WORD)?,
            count: map.atomic_u32(off + OFF_COUNT)?,
            seq: map.atomic_u32(off + OFF_SEQ)?,
            waiters: map.atomic_u32(off + OFF_WAITERS)?,
            state: map.atomic_u32(off + OFF_STATE)?,
            locked_at: map.atomic_u64(off + OFF_LOCKED_AT)?,
        })
    }

    /// Decrements the waiter count without wrapping (the field may hold garbage).
    fn waiter_left(&self) {
        let _ = self
            .waiters
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
    }
}

fn slot_offset(table_offset: usize, index: SkirmishId) -> Option<usize> {
    (index.0 as usize)
        .checked_mul(SLOT_SIZE)?
        .checked_add(table_offset)
}

fn slot_at(map: &Mapping, table_offset: usize, index: SkirmishId) -> Result<Slot<'_>> {
    slot_offset(table_offset, index)
        .and_then(|off| Slot::at(map, off))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "skirmish slot {index} at table offset {table_offset} is out of bounds or misaligned"
            ))
        })
}

/// The in-use slots of `table` that lie in `map`, with their indexes.
fn slots(map: &Mapping, table: Table) -> impl Iterator<Item = (SkirmishId, usize, Slot<'_>)> {
    (0..table.slots).map(SkirmishId).map_while(move |index| {
        let off = slot_offset(table.offset, index)?;
        Some((index, off, Slot::at(map, off)?))
    })
}

/// Whether some lock word of `table` holds `token` (a thread that exits keeps its token then).
fn held_by_token(map: &Mapping, table: Table, token: u32) -> bool {
    slots(map, table).any(|(_, _, s)| {
        s.state.load(Ordering::Relaxed) == STATE_IN_USE
            && s.word.load(Ordering::Relaxed) & OWNER_MASK == token
    })
}

/// `Instant::now() + d`, or `None` (wait forever) when that does not fit.
fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// One fusionee's handle on a skirmish slot.
///
/// Cheap to keep; share it between threads freely (ownership is per thread anyway). Dropping
/// it does not release the lock.
#[derive(Debug, Clone)]
pub struct Skirmish {
    map: Arc<Mapping>,
    table: Table,
    offset: usize,
    me: u32,
    /// What this thread's owner token is found by.
    key: tokens::Key,
    /// The slot, bounds-checked once: the fast paths reach its words without checks.
    hot: sys::Window<SLOT_SIZE>,
}

impl Skirmish {
    /// A handle on slot `index` of `table` in `map`, for fusionee `me`.
    ///
    /// Fails with [`Error::Invalid`] when the slot or the token table lies outside the
    /// mapping, the table is not 8-byte aligned, `me` is 0 or above [`MAX_OWNER_ID`], or the
    /// mapping is read-only; [`Error::Destroyed`] when the slot was destroyed and
    /// [`Error::NotFound`] when it was never initialised.
    pub fn new(map: Arc<Mapping>, table: Table, index: SkirmishId, me: FusioneeId) -> Result<Self> {
        if me.0 == 0 || me.0 > MAX_OWNER_ID {
            return Err(Error::Invalid(format!(
                "fusionee id {me} cannot own a skirmish"
            )));
        }
        if !map.writable() {
            return Err(Error::Invalid("skirmish table mapped read-only".into()));
        }
        if index.0 >= table.slots {
            return Err(Error::Invalid(format!(
                "skirmish slot {index} beyond the table's {} slots",
                table.slots
            )));
        }
        let fits = table
            .offset
            .checked_add(table.size())
            .is_some_and(|end| end <= map.len());
        if !fits {
            return Err(Error::Invalid(format!(
                "skirmish table of {} slots at offset {} does not fit in {} bytes",
                table.slots,
                table.offset,
                map.len()
            )));
        }
        let offset = slot_offset(table.offset, index)
            .ok_or_else(|| Error::Invalid(format!("skirmish slot {index} out of range")))?;
        let slot = slot_at(&map, table.offset, index)?;
        match slot.state.load(Ordering::Acquire) {
            STATE_IN_USE => {}
            STATE_DESTROYED => return Err(Error::Destroyed),
            _ => return Err(Error::NotFound(format!("skirmish {index}"))),
        }
        let hot = sys::Window::new(map.clone(), offset)
            .ok_or_else(|| Error::Invalid(format!("skirmish slot {index} out of range")))?;
        Ok(Self {
            key: tokens::Key::new(&map, table, me.0),
            map,
            table,
            offset,
            me: me.0,
            hot,
        })
    }

    /// This handle's fusionee id.
    pub fn fusionee(&self) -> FusioneeId {
        FusioneeId(self.me)
    }

    /// Byte offset of the slot in the mapping.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The slot's name as the master wrote it (lossy: the bytes are untrusted).
    pub fn name(&self) -> String {
        read_name(&self.map, self.offset)
    }

    fn slot(&self) -> Result<Slot<'_>> {
        Slot::at(&self.map, self.offset)
            .ok_or_else(|| Error::Invalid("skirmish slot out of bounds".into()))
    }

    /// The calling thread's token for this handle, if it has one.
    fn my_token(&self) -> Option<u32> {
        tokens::find(self.key)
    }

    /// Locks, blocking as long as it takes. Recursive: the owning thread may prevail again
    /// (and must dismiss as often).
    ///
    /// Errors: [`Error::Destroyed`] when the slot is destroyed, [`Error::Invalid`] when the
    /// recursion count would overflow or every owner token is taken.
    #[inline]
    pub fn prevail(&self) -> Result<Prevailed> {
        self.acquire(Wait::Forever)
    }

    /// Like [`prevail`](Self::prevail) but gives up with [`Error::TimedOut`] after `timeout`.
    pub fn prevail_timeout(&self, timeout: Duration) -> Result<Prevailed> {
        match deadline_after(timeout) {
            Some(d) => self.acquire(Wait::Until(d)),
            None => self.acquire(Wait::Forever),
        }
    }

    /// Locks if that is possible without waiting, else fails with [`Error::Busy`].
    pub fn swoop(&self) -> Result<Prevailed> {
        self.acquire(Wait::Never)
    }

    /// The uncontended fast path, small enough to inline; everything else is out of line.
    #[inline]
    fn acquire(&self, wait: Wait) -> Result<Prevailed> {
        if let Some(token) = tokens::cached(self.key) {
            if self
                .hot
                .u32::<OFF_WORD>()
                .compare_exchange(0, token, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(Prevailed::Clean);
            }
        }
        self.acquire_contended(wait)
    }

    /// No token cached, recursion, or the lock is held / dirty / destroyed.
    #[inline(never)]
    fn acquire_contended(&self, wait: Wait) -> Result<Prevailed> {
        let token = tokens::claim(&self.map, self.table, self.key)?;
        let s = self.slot()?;
        let cur = s.word.load(Ordering::Relaxed);
        if cur & OWNER_MASK == token {
            let n = depth_beyond_first(&s, cur)
                .checked_add(1)
                .filter(|&n| n < u32::MAX)
                .ok_or_else(|| Error::Invalid("skirmish recursion count overflow".into()))?;
            s.count.store(n, Ordering::Relaxed);
            mark_slow(&s, cur);
            return Ok(Prevailed::Clean);
        }
        self.acquire_slow(&s, token, wait)
    }

    /// The contended path: set WAITERS, sleep on the word, retry.
    fn acquire_slow(&self, s: &Slot<'_>, token: u32, wait: Wait) -> Result<Prevailed> {
        let mut slept = false;
        let mut counted = false;
        let result = loop {
            if s.state.load(Ordering::Acquire) != STATE_IN_USE {
                break Err(Error::Destroyed);
            }
            let cur = s.word.load(Ordering::Relaxed);
            if cur & OWNER_MASK == 0 {
                // Free (maybe dirty). Whoever slept takes it with WAITERS set: others may
                // still sleep, and our dismiss must wake one of them.
                let new = token | SLOW | if slept { WAITERS } else { cur & WAITERS };
                if s.word
                    .compare_exchange(cur, new, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    // The hold is stamped (hence `SLOW`); its count starts at 0.
                    s.count.store(0, Ordering::Relaxed);
                    s.locked_at.store(sys::now_ns(), Ordering::Relaxed);
                    break Ok(if cur & OWNER_DIED != 0 {
                        Prevailed::OwnerDied
                    } else {
                        Prevailed::Clean
                    });
                }
                continue;
            }
            let timeout = match wait {
                Wait::Never => break Err(Error::Busy),
                Wait::Forever => None,
                Wait::Until(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // Leave WAITERS set: if we consumed a wake-up, the owner's dismiss
                        // passes it on to the sleepers that may remain.
                        if slept
                            && cur & WAITERS == 0
                            && s.word
                                .compare_exchange(
                                    cur,
                                    cur | WAITERS,
                                    Ordering::Relaxed,
                                    Ordering::Relaxed,
                                )
                                .is_err()
                        {
                            continue;
                        }
                        break Err(Error::TimedOut);
                    }
                    Some(d - now)
                }
            };
            // Held: make sure the owner will wake us, then sleep while the word is unchanged.
            let want = cur | WAITERS;
            if cur & WAITERS == 0
                && s.word
                    .compare_exchange(cur, want, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            if !counted {
                s.waiters.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
            if sys::futex_wait(s.word, want, timeout) == FutexWait::TimedOut {
                // Loop once more: the lock may be free now; if not, the deadline check fails.
            }
            slept = true;
        };
        if counted {
            s.waiter_left();
        }
        result
    }

    /// Unlocks once; the lock is released when the recursion count reaches zero, and one
    /// sleeper is woken if any.
    ///
    /// Fails with [`Error::Access`] when the calling thread of this fusionee does not own
    /// the lock (or lost it, e.g. the master released it), [`Error::Destroyed`] when the
    /// slot was destroyed.
    #[inline]
    pub fn dismiss(&self) -> Result<()> {
        // Fast path: the word is our bare token (held once, no stamp, nobody waits).
        if let Some(token) = tokens::cached(self.key) {
            if self
                .hot
                .u32::<OFF_WORD>()
                .compare_exchange(token, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
        }
        self.dismiss_slow()
    }

    /// Recursion, waiters, a stamp, or not the owner.
    #[inline(never)]
    fn dismiss_slow(&self) -> Result<()> {
        let s = self.slot()?;
        let Some(token) = self.my_token() else {
            return Err(self.not_owner());
        };
        let cur = s.word.load(Ordering::Relaxed);
        if cur & OWNER_MASK != token {
            return Err(self.not_owner());
        }
        let c = depth_beyond_first(&s, cur);
        if c > 0 {
            s.count.store(c - 1, Ordering::Relaxed);
            return Ok(());
        }
        self.release(&s, token)
    }

    fn not_owner(&self) -> Error {
        let destroyed = self
            .map
            .atomic_u32(self.offset + OFF_STATE)
            .is_some_and(|st| st.load(Ordering::Relaxed) == STATE_DESTROYED);
        if destroyed {
            Error::Destroyed
        } else {
            Error::Access(format!(
                "skirmish {:?} is not held by this thread of fusionee {}",
                self.name(),
                self.me
            ))
        }
    }

    /// Fully releases a lock the caller's `token` holds (clearing its count and stamp
    /// first), waking one sleeper if the word says some may sleep.
    fn release(&self, s: &Slot<'_>, token: u32) -> Result<()> {
        if s.word.load(Ordering::Relaxed) & OWNER_MASK != token {
            return Err(self.not_owner());
        }
        s.count.store(0, Ordering::Relaxed);
        s.locked_at.store(0, Ordering::Relaxed);
        loop {
            let cur = s.word.load(Ordering::Relaxed);
            if cur & OWNER_MASK != token {
                return Err(self.not_owner());
            }
            if s.word
                .compare_exchange(cur, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                if cur & WAITERS != 0 {
                    sys::futex_wake(s.word, 1);
                }
                return Ok(());
            }
        }
    }

    /// Recursion depth if the calling thread owns the lock, else 0.
    pub fn lock_count(&self) -> u32 {
        let (Ok(s), Some(token)) = (self.slot(), self.my_token()) else {
            return 0;
        };
        let cur = s.word.load(Ordering::Relaxed);
        if cur & OWNER_MASK == token {
            depth_beyond_first(&s, cur).saturating_add(1)
        } else {
            0
        }
    }

    /// Whether anybody (any fusionee, any thread) holds the lock right now.
    pub fn is_locked(&self) -> bool {
        match self.slot() {
            Ok(s) => {
                let owner = s.word.load(Ordering::Relaxed) & OWNER_MASK;
                owner != 0 && owner != DESTROYED_OWNER
            }
            Err(_) => false,
        }
    }

    /// Waits for a [`notify`](Self::notify): the caller must hold the lock
    /// ([`Error::Access`] otherwise). Saves the recursion count, releases the lock fully,
    /// sleeps until notified or `timeout` (None = forever) passes, then re-acquires (without
    /// timeout) and restores the count.
    ///
    /// Returns [`Error::TimedOut`] (with the lock held again) when the timeout passed, except
    /// that [`Prevailed::OwnerDied`] from re-acquiring takes precedence so the repair duty is
    /// never lost. Wake-ups may be spurious: re-check the condition in a loop.
    /// [`Error::Destroyed`] means the slot was destroyed meanwhile (the lock is not held).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Prevailed> {
        let s = self.slot()?;
        let cur = s.word.load(Ordering::Relaxed);
        let Some(token) = self.my_token().filter(|&t| cur & OWNER_MASK == t) else {
            return Err(self.not_owner());
        };
        let saved = depth_beyond_first(&s, cur);
        let seq = s.seq.load(Ordering::Acquire);
        let deadline = timeout.and_then(deadline_after);
        s.waiters.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.release(&s, token) {
            s.waiter_left();
            return Err(e);
        }
        let mut timed_out = false;
        while s.seq.load(Ordering::Acquire) == seq
            && s.state.load(Ordering::Relaxed) == STATE_IN_USE
        {
            let rest = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        timed_out = true;
                        break;
                    }
                    Some(d - now)
                }
            };
            sys::futex_wait(s.seq, seq, rest);
        }
        s.waiter_left();
        let got = self.acquire(Wait::Forever)?;
        if saved > 0 {
            s.count.store(saved, Ordering::Relaxed);
            mark_slow(&s, s.word.load(Ordering::Relaxed));
        }
        if timed_out && got == Prevailed::Clean {
            Err(Error::TimedOut)
        } else {
            Ok(got)
        }
    }

    /// Wakes every thread in [`wait`](Self::wait) on this skirmish. Usually called while
    /// holding the lock, after changing the state the waiters check.
    pub fn notify(&self) {
        if let Ok(s) = self.slot() {
            s.seq.fetch_add(1, Ordering::Release);
            sys::futex_wake(s.seq, WAKE_ALL);
        }
    }

    /// Global lock order: mapping address, then offset.
    fn order_key(&self) -> (usize, usize) {
        (self.map.as_ptr() as usize, self.offset)
    }
}

#[derive(Debug, Clone, Copy)]
enum Wait {
    Never,
    Forever,
    Until(Instant),
}

/// The recursion depth beyond the first of a hold whose word is `cur`: `count` while the
/// word has `SLOW`, else 0 (whatever `count` holds).
fn depth_beyond_first(s: &Slot<'_>, cur: u32) -> u32 {
    if cur & SLOW != 0 {
        s.count.load(Ordering::Relaxed)
    } else {
        0
    }
}

/// The owner (whose word was `cur`) sends its dismiss down the slow path, where `count` is
/// read: sets `SLOW`, first marking the hold unstamped if it was not `SLOW` yet (a stamp
/// left there belongs to no hold). Other threads may set `WAITERS` meanwhile, hence the
/// atomic OR.
fn mark_slow(s: &Slot<'_>, cur: u32) {
    if cur & SLOW == 0 {
        s.locked_at.store(0, Ordering::Relaxed);
        s.word.fetch_or(SLOW, Ordering::Relaxed);
    }
}

/// Locks all of `locks`, blocking, in a global order (mapping address, then slot offset) so
/// that two callers locking overlapping sets never deadlock on each other. Returns the
/// outcome per lock, in the order given. On failure, the locks taken so far are dismissed
/// and the error is returned.
///
/// The order is the same in every process for locks of one table (one mapping); locks in
/// different mappings are ordered by address, which is consistent within a process only.
/// A lock listed twice is taken twice (recursively).
pub fn prevail_multi(locks: &[&Skirmish]) -> Result<Vec<Prevailed>> {
    let mut order: Vec<usize> = (0..locks.len()).collect();
    order.sort_by_key(|&i| locks[i].order_key());
    let mut out = vec![Prevailed::Clean; locks.len()];
    for (n, &i) in order.iter().enumerate() {
        match locks[i].prevail() {
            Ok(p) => out[i] = p,
            Err(e) => {
                for &j in order[..n].iter().rev() {
                    let _ = locks[j].dismiss();
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Dismisses all of `locks` (in reverse lock order). Every lock is tried; the first error
/// is returned.
pub fn dismiss_multi(locks: &[&Skirmish]) -> Result<()> {
    let mut order: Vec<usize> = (0..locks.len()).collect();
    order.sort_by_key(|&i| locks[i].order_key());
    let mut first = Ok(());
    for &i in order.iter().rev() {
        if let Err(e) = locks[i].dismiss() {
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first
}

fn read_name(map: &Mapping, off: usize) -> String {
    let mut buf = [0u8; NAME_LEN];
    if !map.read(off + OFF_NAME, &mut buf) {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Master: initialises slot `index` of the table at `table_offset` as a free skirmish named
/// `name` (cut to [`NAME_LEN`] bytes at a char boundary) and marks it in use.
///
/// Overwrites whatever the slot held. Fails with [`Error::Invalid`] when the slot is out of
/// bounds or misaligned, [`Error::Access`] when the mapping is read-only.
pub fn init_slot(map: &Mapping, table_offset: usize, index: SkirmishId, name: &str) -> Result<()> {
    if !map.writable() {
        return Err(Error::Access("skirmish table mapped read-only".into()));
    }
    let s = slot_at(map, table_offset, index)?;
    let off = slot_offset(table_offset, index).unwrap_or_default();
    s.state.store(STATE_UNUSED, Ordering::Release);
    s.word.store(0, Ordering::Relaxed);
    s.count.store(0, Ordering::Relaxed);
    s.seq.store(0, Ordering::Relaxed);
    s.waiters.store(0, Ordering::Relaxed);
    s.locked_at.store(0, Ordering::Relaxed);
    let mut end = name.len().min(NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut buf = [0u8; NAME_LEN];
    buf[..end].copy_from_slice(&name.as_bytes()[..end]);
    map.write(off + OFF_NAME, &buf);
    s.state.store(STATE_IN_USE, Ordering::Release);
    Ok(())
}

/// Master: destroys slot `index`. Everybody blocked on it (in prevail or wait) is woken and
/// fails with [`Error::Destroyed`], as does every later operation through existing handles.
/// The slot may be initialised again later.
pub fn destroy_slot(map: &Mapping, table_offset: usize, index: SkirmishId) -> Result<()> {
    if !map.writable() {
        return Err(Error::Access("skirmish table mapped read-only".into()));
    }
    let s = slot_at(map, table_offset, index)?;
    s.state.store(STATE_DESTROYED, Ordering::Release);
    s.word.store(DESTROYED_OWNER, Ordering::Release);
    s.count.store(0, Ordering::Relaxed);
    s.seq.fetch_add(1, Ordering::Release);
    sys::futex_wake(s.word, WAKE_ALL);
    sys::futex_wake(s.seq, WAKE_ALL);
    Ok(())
}

/// Master: releases every skirmish held by the dead fusionee `dead` and frees its owner
/// tokens; returns the indexes of the slots released.
///
/// Each such lock becomes free-but-dirty (`OWNER_DIED`) so its next locker gets
/// [`Prevailed::OwnerDied`], and one sleeper is woken. Slots with sleepers that `dead` did
/// not own get a wake-up too, in case the dead process had consumed one without taking the
/// lock. Safe against other fusionees using the slots concurrently (compare-and-swap; a
/// word that keeps changing is retried a bounded number of times and then left alone).
///
/// Call it only once the fusionee's process is known to be gone (its pidfd polled
/// readable / it was reaped), never on a mere disconnect: a live process could still touch
/// the locks. Slots beyond the mapping end the scan.
pub fn release_dead(map: &Mapping, table: Table, dead: FusioneeId) -> Vec<SkirmishId> {
    let mut released = Vec::new();
    if !map.writable() {
        return released;
    }
    let dead = dead.0;
    let valid = dead != 0 && dead <= MAX_OWNER_ID;
    let dead_holds =
        |word: u32| valid && tokens::owner(map, table, word & OWNER_MASK) == Some(dead);
    for (index, _, s) in slots(map, table) {
        if s.state.load(Ordering::Acquire) != STATE_IN_USE {
            continue;
        }
        let mut freed = false;
        let mut last = s.word.load(Ordering::Acquire);
        for _ in 0..RELEASE_RETRIES {
            let cur = s.word.load(Ordering::Acquire);
            last = cur;
            if !dead_holds(cur) {
                break;
            }
            s.count.store(0, Ordering::Relaxed);
            if s.word
                .compare_exchange(cur, OWNER_DIED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                freed = true;
                break;
            }
        }
        if freed {
            released.push(index);
            tracing::debug!(%index, dead, "skirmish released from dead owner");
        } else if dead_holds(last) {
            tracing::warn!(%index, dead, "skirmish word keeps changing; left as is");
        }
        if freed || last & WAITERS != 0 || s.waiters.load(Ordering::Relaxed) != 0 {
            sys::futex_wake(s.word, 1);
        }
    }
    if valid {
        tokens::free_all(map, table, dead);
    }
    released
}

/// Introspection record of one skirmish (see [`snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkirmishInfo {
    /// Slot index in the table.
    pub index: SkirmishId,
    /// Name given by the master.
    pub name: String,
    /// Owning fusionee, `None` when free (or held by a token nobody has: garbage).
    pub owner: Option<FusioneeId>,
    /// Kernel tid of the owning thread (0 when free).
    pub owner_tid: u32,
    /// Recursion depth.
    pub count: u32,
    /// Threads blocked in prevail or wait (approximate: a process that died waiting stays
    /// counted).
    pub waiters: u32,
    /// How long the current owner has held it, in nanoseconds (a lower bound; 0 when free
    /// or first seen).
    pub held_ns: u64,
    /// Free but dirty: the last owner died and nobody has locked it since.
    pub owner_died: bool,
}

/// Stamps the unstamped hold whose word is `word` with `now`. A `SLOW` hold gets the stamp
/// if nobody stamped it meanwhile; a hold without `SLOW` gets `SLOW` first (so its owner's
/// dismiss clears the stamp), and no stamp when its word changed under us (the hold may be
/// over). The stamp is written only over the value seen after `SLOW` was set, so a late
/// write never replaces a newer hold's stamp.
fn stamp(s: &Slot<'_>, word: u32, now: u64) {
    if word & SLOW == 0
        && s.word
            .compare_exchange(word, word | SLOW, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let seen = s.locked_at.load(Ordering::Relaxed);
    if seen == 0 || word & SLOW == 0 {
        let _ = s
            .locked_at
            .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Reads every in-use slot of the table (values are untrusted and only sanity-checked).
///
/// With a writable mapping, a held lock without an acquisition time is stamped now, so later
/// snapshots report how long it has been held at least.
pub fn snapshot(map: &Mapping, table: Table) -> Vec<SkirmishInfo> {
    let mut out = Vec::new();
    let now = sys::now_ns();
    for (index, off, s) in slots(map, table) {
        if s.state.load(Ordering::Acquire) != STATE_IN_USE {
            continue;
        }
        let word = s.word.load(Ordering::Acquire);
        let bits = word & OWNER_MASK;
        let holder = (bits != 0 && bits != DESTROYED_OWNER)
            .then(|| tokens::holder(map, table, word))
            .flatten();
        let (owner, owner_tid, count, held_ns) = match holder {
            Some((owner, tid)) => {
                let at = if word & SLOW != 0 {
                    s.locked_at.load(Ordering::Relaxed)
                } else {
                    0
                };
                let held = if at == 0 {
                    if map.writable() {
                        stamp(&s, word, now);
                    }
                    0
                } else {
                    now.saturating_sub(at)
                };
                let depth = depth_beyond_first(&s, word).saturating_add(1);
                (Some(owner), tid, depth, held)
            }
            None => (None, 0, 0, 0),
        };
        out.push(SkirmishInfo {
            index,
            name: read_name(map, off),
            owner,
            owner_tid,
            count,
            waiters: s.waiters.load(Ordering::Relaxed),
            held_ns,
            owner_died: bits == 0 && word & OWNER_DIED != 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::mpsc;

    /// Table offset in the test mappings; bytes below it are scratch words for the tests.
    const TABLE: usize = 256;
    const NSLOTS: u32 = 8;
    const MAP_LEN: usize = 64 * 1024;
    /// The test table.
    const T: Table = Table::new(TABLE, NSLOTS);
    /// Scratch words.
    const COUNTER: usize = 0;
    const FLAG: usize = 4;
    const RESULT: usize = 8;
    /// How often `cond_waiter` came back from `wait`.
    const WAKES: usize = 12;

    const ENV_ROLE: &str = "FUSION_SKIRMISH_TEST_ROLE";
    const ENV_SHM: &str = "FUSION_SKIRMISH_TEST_SHM";
    const ENV_ME: &str = "FUSION_SKIRMISH_TEST_ME";
    const ENV_ARG: &str = "FUSION_SKIRMISH_TEST_ARG";

    struct Shm {
        fd: OwnedFd,
        map: Arc<Mapping>,
    }

    impl Shm {
        fn new() -> Self {
            let fd = sys::memfd_create("skirmish-test", MAP_LEN).unwrap();
            let map = Arc::new(Mapping::new(fd.as_fd(), MAP_LEN, true).unwrap());
            for i in 0..NSLOTS {
                init_slot(&map, TABLE, SkirmishId(i), &format!("test lock {i}")).unwrap();
            }
            Self { fd, map }
        }

        fn lock(&self, index: u32, me: u32) -> Skirmish {
            Skirmish::new(self.map.clone(), T, SkirmishId(index), FusioneeId(me)).unwrap()
        }

        fn word(&self, off: usize) -> &AtomicU32 {
            self.map.atomic_u32(off).unwrap()
        }

        fn info(&self, index: u32) -> SkirmishInfo {
            snapshot(&self.map, T)
                .into_iter()
                .find(|i| i.index == SkirmishId(index))
                .unwrap()
        }

        /// Re-runs this test binary as `role`, handing it the memfd.
        fn spawn(&self, role: &str, me: u32, arg: u32) -> Child {
            let dup = rustix::io::dup(&self.fd).unwrap();
            rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty()).unwrap();
            let child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "skirmish::tests::child_entry",
                    "--nocapture",
                    "--include-ignored",
                    "--test-threads=1",
                ])
                .env(ENV_ROLE, role)
                .env(ENV_SHM, format!("/proc/self/fd/{}", dup.as_raw_fd()))
                .env(ENV_ME, me.to_string())
                .env(ENV_ARG, arg.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            drop(dup);
            child
        }
    }

    /// Waits for a child with a deadline; kills it and fails the test when it hangs.
    fn reap(child: &mut Child, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child {} hung", child.id());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Polls `cond` until true; fails the test after `within`.
    fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Runs `f` on a thread and returns its result, failing the test if it takes too long.
    fn on_thread<T: Send + 'static>(within: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(within).expect("thread hung or panicked")
    }

    const LONG: Duration = Duration::from_secs(20);

    /// Entry point of the child processes (ignored, and a no-op, in a normal test run).
    #[test]
    #[ignore = "child process entry for the cross-process tests"]
    fn child_entry() {
        let Ok(role) = std::env::var(ENV_ROLE) else {
            return;
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(std::env::var(ENV_SHM).unwrap())
            .unwrap();
        let map = Arc::new(Mapping::new(file.as_fd(), MAP_LEN, true).unwrap());
        let me: u32 = std::env::var(ENV_ME).unwrap().parse().unwrap();
        let arg: u32 = std::env::var(ENV_ARG).unwrap().parse().unwrap();
        let lock = Skirmish::new(map.clone(), T, SkirmishId(0), FusioneeId(me)).unwrap();
        let w = |off| map.atomic_u32(off).unwrap();
        match role.as_str() {
            // Increments the shared counter `arg` times under the lock (load + store, so
            // only mutual exclusion keeps the count exact).
            "counter" => {
                for _ in 0..arg {
                    lock.prevail_timeout(LONG).unwrap();
                    let v = w(COUNTER).load(Ordering::Relaxed);
                    w(COUNTER).store(v + 1, Ordering::Relaxed);
                    lock.dismiss().unwrap();
                }
            }
            // Waits under the lock until FLAG is set, reports it in RESULT.
            "cond_waiter" => {
                lock.prevail_timeout(LONG).unwrap();
                lock.prevail_timeout(LONG).unwrap(); // recursion survives the wait
                while w(FLAG).load(Ordering::Relaxed) == 0 {
                    lock.wait(Some(LONG)).unwrap();
                    assert_eq!(lock.lock_count(), 2);
                    w(WAKES).fetch_add(1, Ordering::Relaxed);
                }
                w(RESULT).store(w(FLAG).load(Ordering::Relaxed), Ordering::Relaxed);
                lock.dismiss().unwrap();
                lock.dismiss().unwrap();
            }
            // Takes the lock (twice), says so in FLAG, then kills itself (arg 0) or hangs until
            // killed (arg 1).
            "holder" => {
                lock.prevail_timeout(LONG).unwrap();
                lock.prevail_timeout(LONG).unwrap();
                w(FLAG).store(1, Ordering::Release);
                if arg == 0 {
                    // Die abruptly (SIGKILL, so no core file is written).
                    let me = rustix::process::getpid();
                    let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
                }
                std::thread::sleep(LONG);
            }
            // Blocks on the lock; RESULT = 1 OwnerDied, 2 Clean, 3 error.
            "blocked" => {
                let r = match lock.prevail_timeout(LONG) {
                    Ok(Prevailed::OwnerDied) => 1,
                    Ok(Prevailed::Clean) => 2,
                    Err(_) => 3,
                };
                w(RESULT).store(r, Ordering::Release);
                if r != 3 {
                    lock.dismiss().unwrap();
                }
            }
            other => panic!("unknown role {other}"),
        }
    }

    #[test]
    fn uncontended_lock_unlock() {
        let shm = Shm::new();
        let l = shm.lock(0, 1);
        assert!(!l.is_locked());
        assert_eq!(l.lock_count(), 0);
        assert_eq!(l.prevail().unwrap(), Prevailed::Clean);
        assert!(l.is_locked());
        assert_eq!(l.lock_count(), 1);
        let info = shm.info(0);
        assert_eq!(info.owner, Some(FusioneeId(1)));
        assert_eq!(info.owner_tid, sys::gettid());
        assert_eq!(info.count, 1);
        assert_eq!(info.name, "test lock 0");
        l.dismiss().unwrap();
        assert!(!l.is_locked());
        assert_eq!(shm.word(TABLE).load(Ordering::Relaxed), 0);
        assert_eq!(l.swoop().unwrap(), Prevailed::Clean);
        l.dismiss().unwrap();
        assert_eq!(shm.info(0).owner, None);
    }

    #[test]
    fn recursion_and_non_owner_dismiss() {
        let shm = Shm::new();
        let l = shm.lock(1, 1);
        for n in 1..=3 {
            assert_eq!(l.prevail().unwrap(), Prevailed::Clean);
            assert_eq!(l.lock_count(), n);
        }
        assert_eq!(l.swoop().unwrap(), Prevailed::Clean);
        assert_eq!(l.lock_count(), 4);
        // Another thread of the same fusionee is not the owner.
        let l2 = l.clone();
        let r = on_thread(LONG, move || (l2.dismiss(), l2.lock_count(), l2.swoop()));
        assert!(matches!(r.0, Err(Error::Access(_))));
        assert_eq!(r.1, 0);
        assert_eq!(r.2, Err(Error::Busy));
        // Nor is another fusionee on the same thread.
        let other = shm.lock(1, 2);
        assert!(matches!(other.dismiss(), Err(Error::Access(_))));
        assert_eq!(other.swoop(), Err(Error::Busy));
        assert_eq!(other.lock_count(), 0);
        for n in (0..4).rev() {
            l.dismiss().unwrap();
            assert_eq!(l.lock_count(), n);
        }
        assert!(!l.is_locked());
        assert!(matches!(l.dismiss(), Err(Error::Access(_))));
    }

    #[test]
    fn swoop_busy_and_timeout() {
        let shm = Shm::new();
        let holder = shm.lock(2, 1);
        holder.prevail().unwrap();
        let other = shm.lock(2, 2);
        let r = on_thread(LONG, move || {
            let busy = other.swoop();
            let t0 = Instant::now();
            let timed = other.prevail_timeout(Duration::from_millis(60));
            (busy, timed, t0.elapsed())
        });
        assert_eq!(r.0, Err(Error::Busy));
        assert_eq!(r.1, Err(Error::TimedOut));
        assert!(r.2 >= Duration::from_millis(60), "{:?}", r.2);
        assert_eq!(holder.lock_count(), 1);
        assert_eq!(shm.info(2).waiters, 0);
        holder.dismiss().unwrap();
        // The timed-out waiter left WAITERS set at worst; the lock is free and usable.
        let other = shm.lock(2, 2);
        assert_eq!(other.swoop().unwrap(), Prevailed::Clean);
        other.dismiss().unwrap();
        assert_eq!(shm.word(TABLE + 2 * SLOT_SIZE).load(Ordering::Relaxed), 0);
    }

    #[test]
    fn contended_threads_hand_over() {
        let shm = Shm::new();
        let counter = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                // Two threads per fusionee id: same id, different threads must exclude.
                let l = shm.lock(3, 1 + t / 2);
                let c = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..5000 {
                        l.prevail_timeout(LONG).unwrap();
                        let v = c.load(Ordering::Relaxed);
                        std::hint::spin_loop();
                        c.store(v + 1, Ordering::Relaxed);
                        l.dismiss().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 20000);
        assert_eq!(shm.word(TABLE + 3 * SLOT_SIZE).load(Ordering::Relaxed), 0);
        assert_eq!(shm.info(3).waiters, 0);
    }

    #[test]
    fn two_processes_count_exactly() {
        let shm = Shm::new();
        const N: u32 = 20000;
        let mut a = shm.spawn("counter", 2, N);
        let mut b = shm.spawn("counter", 3, N);
        // The parent competes too.
        let l = shm.lock(0, 1);
        for _ in 0..N {
            l.prevail_timeout(LONG).unwrap();
            let v = shm.word(COUNTER).load(Ordering::Relaxed);
            shm.word(COUNTER).store(v + 1, Ordering::Relaxed);
            l.dismiss().unwrap();
        }
        assert!(reap(&mut a, LONG * 3).success());
        assert!(reap(&mut b, LONG * 3).success());
        assert_eq!(shm.word(COUNTER).load(Ordering::Relaxed), 3 * N);
        assert!(!l.is_locked());
        assert_eq!(shm.info(0).waiters, 0);
    }

    #[test]
    fn wait_notify_across_processes() {
        let shm = Shm::new();
        let mut child = shm.spawn("cond_waiter", 2, 0);
        // The child is in wait() once it counts as a waiter and the lock is free.
        wait_until("the child to wait", LONG, || {
            let i = shm.info(0);
            i.waiters == 1 && i.owner.is_none()
        });
        let l = shm.lock(0, 1);
        // A notify without the condition: the child wakes, re-checks and waits again.
        l.prevail_timeout(LONG).unwrap();
        l.notify();
        l.dismiss().unwrap();
        // It woke (it counts that under the lock), found no flag and waits again.
        wait_until("the child to wait again", LONG, || {
            let i = shm.info(0);
            shm.word(WAKES).load(Ordering::Relaxed) == 1 && i.waiters == 1 && i.owner.is_none()
        });
        l.prevail_timeout(LONG).unwrap();
        shm.word(FLAG).store(7, Ordering::Relaxed);
        l.notify();
        l.dismiss().unwrap();
        assert!(reap(&mut child, LONG).success());
        assert_eq!(shm.word(RESULT).load(Ordering::Relaxed), 7);
        assert!(!l.is_locked());
    }

    #[test]
    fn wait_timeout_and_ownership() {
        let shm = Shm::new();
        let l = shm.lock(4, 1);
        assert!(matches!(l.wait(None), Err(Error::Access(_))));
        l.prevail().unwrap();
        l.prevail().unwrap();
        let t0 = Instant::now();
        assert_eq!(
            l.wait(Some(Duration::from_millis(50))),
            Err(Error::TimedOut)
        );
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert_eq!(l.lock_count(), 2);
        // While we wait, another fusionee can take the lock and notify us.
        let other = shm.lock(4, 2);
        let notifier = std::thread::spawn(move || {
            other.prevail_timeout(LONG).unwrap();
            other.notify();
            other.dismiss().unwrap();
        });
        assert_eq!(l.wait(Some(LONG)).unwrap(), Prevailed::Clean);
        assert_eq!(l.lock_count(), 2);
        notifier.join().unwrap();
        l.dismiss().unwrap();
        l.dismiss().unwrap();
        assert!(!l.is_locked());
    }

    #[test]
    fn multi_lock_in_global_order() {
        let shm = Shm::new();
        let a: Vec<Skirmish> = (0..3).map(|i| shm.lock(i, 1)).collect();
        let b: Vec<Skirmish> = (0..3).rev().map(|i| shm.lock(i, 2)).collect();
        let counter = Arc::new(AtomicU32::new(0));
        let run = |locks: Vec<Skirmish>, c: Arc<AtomicU32>| {
            std::thread::spawn(move || {
                let refs: Vec<&Skirmish> = locks.iter().collect();
                for _ in 0..2000 {
                    let got = prevail_multi(&refs).unwrap();
                    assert!(got.iter().all(|p| *p == Prevailed::Clean));
                    let v = c.load(Ordering::Relaxed);
                    c.store(v + 1, Ordering::Relaxed);
                    dismiss_multi(&refs).unwrap();
                }
            })
        };
        let t1 = run(a, counter.clone());
        let t2 = run(b, counter.clone());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let ok = t1.join().is_ok() && t2.join().is_ok();
            let _ = tx.send(ok);
        });
        assert!(rx.recv_timeout(LONG).expect("multi-lock deadlocked"));
        assert_eq!(counter.load(Ordering::Relaxed), 4000);
        // A failure part-way releases what was taken.
        destroy_slot(&shm.map, TABLE, SkirmishId(1)).unwrap();
        let l0 = shm.lock(0, 1);
        let l2 = shm.lock(2, 1);
        let l1 = Skirmish {
            map: shm.map.clone(),
            table: T,
            offset: TABLE + SLOT_SIZE,
            me: 1,
            key: tokens::Key::new(&shm.map, T, 1),
            hot: sys::Window::new(shm.map.clone(), TABLE + SLOT_SIZE).unwrap(),
        };
        assert_eq!(prevail_multi(&[&l2, &l1, &l0]), Err(Error::Destroyed));
        assert!(!l0.is_locked() && !l2.is_locked());
        assert_eq!(
            Skirmish::new(shm.map.clone(), T, SkirmishId(1), FusioneeId(1)).unwrap_err(),
            Error::Destroyed
        );
    }

    #[test]
    fn dead_owner_is_reported_exactly_once() {
        let shm = Shm::new();
        let mut child = shm.spawn("holder", 2, 0); // dies holding the lock
        let st = reap(&mut child, LONG);
        assert!(!st.success());
        assert_eq!(shm.word(FLAG).load(Ordering::Relaxed), 1);
        let info = shm.info(0);
        assert_eq!((info.owner, info.count), (Some(FusioneeId(2)), 2));
        // Until the master acts, the lock stays held.
        let l = shm.lock(0, 1);
        assert_eq!(
            l.prevail_timeout(Duration::from_millis(20)),
            Err(Error::TimedOut)
        );
        assert_eq!(
            release_dead(&shm.map, T, FusioneeId(9)),
            Vec::<SkirmishId>::new()
        );
        assert_eq!(
            release_dead(&shm.map, T, FusioneeId(2)),
            vec![SkirmishId(0)]
        );
        assert_eq!(
            release_dead(&shm.map, T, FusioneeId(2)),
            Vec::<SkirmishId>::new()
        );
        let info = shm.info(0);
        assert!(info.owner_died && info.owner.is_none());
        assert!(!l.is_locked());
        // Two racers, one report.
        let racers: Vec<_> = [1u32, 3]
            .into_iter()
            .map(|me| {
                let l = shm.lock(0, me);
                std::thread::spawn(move || {
                    let p = l.prevail_timeout(LONG).unwrap();
                    l.dismiss().unwrap();
                    p
                })
            })
            .collect();
        let got: Vec<Prevailed> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            got.iter().filter(|p| **p == Prevailed::OwnerDied).count(),
            1
        );
        assert_eq!(l.prevail().unwrap(), Prevailed::Clean);
        assert_eq!(l.lock_count(), 1);
        l.dismiss().unwrap();
        assert!(!shm.info(0).owner_died);
    }

    #[test]
    fn killed_owner_wakes_blocked_process() {
        let shm = Shm::new();
        let mut holder = shm.spawn("holder", 2, 1); // hangs holding the lock
        wait_until("the holder to lock", LONG, || {
            shm.word(FLAG).load(Ordering::Acquire) == 1
        });
        let mut blocked = shm.spawn("blocked", 3, 0);
        wait_until("the other child to block", LONG, || {
            shm.info(0).waiters == 1
        });
        holder.kill().unwrap();
        reap(&mut holder, LONG);
        // The holder is gone but the blocked child still sleeps.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(shm.word(RESULT).load(Ordering::Acquire), 0);
        assert_eq!(
            release_dead(&shm.map, T, FusioneeId(2)),
            vec![SkirmishId(0)]
        );
        assert!(reap(&mut blocked, LONG).success());
        assert_eq!(shm.word(RESULT).load(Ordering::Acquire), 1);
        let l = shm.lock(0, 1);
        assert_eq!(l.swoop().unwrap(), Prevailed::Clean);
        l.dismiss().unwrap();
    }

    #[test]
    fn destroy_wakes_waiters() {
        let shm = Shm::new();
        let l = shm.lock(5, 1);
        l.prevail().unwrap();
        let other = shm.lock(5, 2);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(other.prevail_timeout(LONG));
        });
        wait_until("the waiter to block", LONG, || shm.info(5).waiters == 1);
        destroy_slot(&shm.map, TABLE, SkirmishId(5)).unwrap();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Err(Error::Destroyed));
        assert_eq!(l.dismiss(), Err(Error::Destroyed));
        assert_eq!(l.swoop(), Err(Error::Destroyed));
        assert!(!l.is_locked());
        assert!(snapshot(&shm.map, T)
            .iter()
            .all(|i| i.index != SkirmishId(5)));
        init_slot(&shm.map, TABLE, SkirmishId(5), "again").unwrap();
        assert_eq!(l.swoop().unwrap(), Prevailed::Clean);
        l.dismiss().unwrap();
    }

    #[test]
    fn constructor_and_init_validate() {
        let shm = Shm::new();
        let m = shm.map.clone();
        assert!(Skirmish::new(m.clone(), T, SkirmishId(0), FusioneeId(0)).is_err());
        assert!(Skirmish::new(m.clone(), T, SkirmishId(0), FusioneeId(MAX_OWNER_ID + 1)).is_err());
        assert!(Skirmish::new(m.clone(), T, SkirmishId(0), FusioneeId(MAX_OWNER_ID)).is_ok());
        assert!(matches!(
            Skirmish::new(m.clone(), T, SkirmishId(NSLOTS), FusioneeId(1)),
            Err(Error::Invalid(_))
        ));
        let bigger = Table::new(TABLE, NSLOTS + 1);
        assert!(matches!(
            Skirmish::new(m.clone(), bigger, SkirmishId(NSLOTS), FusioneeId(1)),
            Err(Error::NotFound(_))
        ));
        let misaligned = Table::new(TABLE + 4, NSLOTS);
        assert!(Skirmish::new(m.clone(), misaligned, SkirmishId(0), FusioneeId(1)).is_err());
        assert!(Skirmish::new(m.clone(), T, SkirmishId(u32::MAX), FusioneeId(1)).is_err());
        let huge = Table::new(usize::MAX - 8, NSLOTS);
        assert!(Skirmish::new(m.clone(), huge, SkirmishId(1), FusioneeId(1)).is_err());
        // The slots fit, the tokens after them do not.
        let no_tokens = Table::new(MAP_LEN - 2 * SLOT_SIZE, 1);
        assert!(Skirmish::new(m.clone(), no_tokens, SkirmishId(0), FusioneeId(1)).is_err());
        let ro = Arc::new(Mapping::new(shm.fd.as_fd(), MAP_LEN, false).unwrap());
        assert!(Skirmish::new(ro.clone(), T, SkirmishId(0), FusioneeId(1)).is_err());
        assert!(init_slot(&ro, TABLE, SkirmishId(0), "x").is_err());
        assert_eq!(snapshot(&ro, T).len(), NSLOTS as usize);
        // Names are cut at a char boundary.
        init_slot(&m, TABLE, SkirmishId(6), &"é".repeat(20)).unwrap();
        assert_eq!(shm.info(6).name, "é".repeat(16));
        init_slot(&m, TABLE, SkirmishId(6), "").unwrap();
        assert_eq!(shm.info(6).name, "");
        // The table ends where the mapping ends.
        assert_eq!(
            snapshot(&m, Table::new(TABLE, u32::MAX)).len(),
            NSLOTS as usize
        );
    }

    #[test]
    fn garbage_never_panics_or_hangs() {
        let shm = Shm::new();
        let m = shm.map.clone();
        let patterns: [u32; 7] = [
            u32::MAX,
            WAITERS,
            OWNER_DIED | 5,
            DESTROYED_OWNER,
            OWNER_DIED | WAITERS,
            0xdead_beef,
            7,
        ];
        for (n, &p) in patterns.iter().enumerate() {
            let off = TABLE + 7 * SLOT_SIZE;
            for k in 0..SLOT_SIZE / 4 {
                shm.word(off + 4 * k)
                    .store(p.rotate_left(k as u32), Ordering::Relaxed);
            }
            let _ = snapshot(&m, T);
            let _ = release_dead(&m, T, FusioneeId(p & OWNER_MASK));
            let _ = release_dead(&m, Table::new(TABLE, u32::MAX), FusioneeId(0));
            // Make it look in use, whatever the rest says.
            shm.word(off + OFF_STATE)
                .store(STATE_IN_USE, Ordering::Relaxed);
            let _ = snapshot(&m, T);
            let l = Skirmish::new(m.clone(), T, SkirmishId(7), FusioneeId(1 + n as u32)).unwrap();
            let _ = l.lock_count();
            let _ = l.is_locked();
            let _ = l.dismiss();
            let r = on_thread(LONG, move || {
                let r = l.prevail_timeout(Duration::from_millis(10));
                if r.is_ok() {
                    let _ = l.wait(Some(Duration::from_millis(5)));
                    let _ = l.dismiss();
                }
                l.notify();
                r
            });
            assert!(matches!(
                r,
                Ok(_) | Err(Error::TimedOut) | Err(Error::Invalid(_))
            ));
        }
        // Garbage waiter counts do not wrap.
        shm.word(TABLE + OFF_WAITERS).store(0, Ordering::Relaxed);
        let l = shm.lock(0, 1);
        l.prevail().unwrap();
        l.dismiss().unwrap();
    }

    #[test]
    fn hold_time_is_reported() {
        let shm = Shm::new();
        let l = shm.lock(0, 1);
        // The first lock claims the thread's token on the slow path, which stamps the time.
        l.prevail().unwrap();
        assert!(shm.info(0).held_ns < 10_000_000);
        l.dismiss().unwrap();
        // The fast path does not: the first snapshot stamps it.
        l.prevail().unwrap();
        assert_eq!(shm.info(0).held_ns, 0);
        std::thread::sleep(Duration::from_millis(10));
        assert!(shm.info(0).held_ns >= 10_000_000);
        l.dismiss().unwrap();
        assert_eq!(shm.info(0).held_ns, 0);
    }

    #[test]
    fn the_word_is_slow_exactly_while_dismiss_needs_more_than_a_cas() {
        let shm = Shm::new();
        let l = shm.lock(2, 1);
        let word = || shm.word(TABLE + 2 * SLOT_SIZE).load(Ordering::Relaxed);
        let stamp = shm
            .map
            .atomic_u64(TABLE + 2 * SLOT_SIZE + OFF_LOCKED_AT)
            .unwrap();
        let count = shm.word(TABLE + 2 * SLOT_SIZE + OFF_COUNT);
        // The first lock claims a token on the slow path and stamps its hold.
        l.prevail().unwrap();
        let token = word() & OWNER_MASK;
        assert_ne!(token, 0);
        assert_eq!(word(), token | SLOW);
        assert_ne!(stamp.load(Ordering::Relaxed), 0);
        l.dismiss().unwrap();
        assert_eq!(word(), 0);
        assert_eq!(stamp.load(Ordering::Relaxed), 0);
        // The fast path: the bare token; recursion makes it slow until the hold ends.
        l.prevail().unwrap();
        assert_eq!(word(), token);
        l.prevail().unwrap();
        assert_eq!(word(), token | SLOW);
        assert_eq!(count.load(Ordering::Relaxed), 1);
        l.dismiss().unwrap();
        assert_eq!(word(), token | SLOW);
        assert_eq!(l.lock_count(), 1);
        l.dismiss().unwrap();
        assert_eq!(word(), 0);
        // A snapshot that stamps a fast hold makes it slow, and the dismiss clears the stamp.
        l.prevail().unwrap();
        assert_eq!(shm.info(2).held_ns, 0);
        assert_eq!(word(), token | SLOW);
        assert_ne!(stamp.load(Ordering::Relaxed), 0);
        l.dismiss().unwrap();
        assert_eq!((word(), stamp.load(Ordering::Relaxed)), (0, 0));
        // Count and stamp mean nothing without SLOW: stale values are ignored, not obeyed.
        count.store(5, Ordering::Relaxed);
        l.prevail().unwrap();
        assert_eq!(word(), token);
        assert_eq!(l.lock_count(), 1);
        l.dismiss().unwrap();
        assert!(!l.is_locked());
        count.store(0, Ordering::Relaxed);
        // (A snapshot racing with a dismiss can leave a stale stamp.)
        stamp.store(1, Ordering::Relaxed);
        l.prevail().unwrap();
        let info = shm.info(2);
        assert_eq!((info.count, info.held_ns), (1, 0));
        assert!(stamp.load(Ordering::Relaxed) > 1);
        l.dismiss().unwrap();
        assert!(!l.is_locked());
        assert_eq!(l.lock_count(), 0);
    }

    /// The owner token of `tid`'s claim for fusionee `me` in the test table (0: none).
    fn token_of(shm: &Shm, me: u32, tid: u32) -> u32 {
        (1..TOKENS)
            .find(|&t| tokens::holder(&shm.map, T, t) == Some((FusioneeId(me), tid)))
            .unwrap_or(0)
    }

    #[test]
    fn each_thread_and_fusionee_gets_its_own_token() {
        let shm = Shm::new();
        let a = shm.lock(0, 1);
        a.prevail().unwrap();
        let word = shm.word(TABLE).load(Ordering::Relaxed) & OWNER_MASK;
        let mine = token_of(&shm, 1, sys::gettid());
        assert!(mine != 0 && word == mine, "word {word:#x}, token {mine}");
        // The same thread as another fusionee has another token, and waits like anybody.
        let b = shm.lock(0, 2);
        assert_eq!(b.swoop(), Err(Error::Busy));
        assert_eq!(
            b.dismiss(),
            Err(Error::Access(format!(
                "skirmish {:?} is not held by this thread of fusionee 2",
                "test lock 0"
            )))
        );
        // Another thread of the same fusionee too.
        let a2 = a.clone();
        let (busy, tid, token) = on_thread(LONG, move || {
            let busy = a2.swoop();
            let other = shm_lock_and_token(&a2);
            (busy, sys::gettid(), other)
        });
        assert_eq!(busy, Err(Error::Busy));
        assert!(token != 0 && token != mine);
        // That thread has exited: its token is free again.
        assert_eq!(token_of(&shm, 1, tid), 0);
        a.dismiss().unwrap();
        b.prevail().unwrap();
        assert_eq!(shm.info(0).owner, Some(FusioneeId(2)));
        b.dismiss().unwrap();
    }

    /// Takes and drops `l`'s slot 1 sibling, returning the token the calling thread used.
    fn shm_lock_and_token(l: &Skirmish) -> u32 {
        let other = Skirmish::new(l.map.clone(), T, SkirmishId(1), l.fusionee()).unwrap();
        other.prevail().unwrap();
        let word = other.hot.u32::<OFF_WORD>().load(Ordering::Relaxed);
        other.dismiss().unwrap();
        word & OWNER_MASK
    }

    #[test]
    fn a_thread_that_exits_holding_a_lock_keeps_its_token_until_the_master_frees_it() {
        let shm = Shm::new();
        let l = shm.lock(2, 4);
        let l2 = l.clone();
        let tid = on_thread(LONG, move || {
            l2.prevail().unwrap();
            sys::gettid()
        });
        let token = token_of(&shm, 4, tid);
        assert_ne!(token, 0, "the exited holder's token was given back");
        let info = shm.info(2);
        assert_eq!((info.owner, info.owner_tid), (Some(FusioneeId(4)), tid));
        assert_eq!(l.swoop(), Err(Error::Busy));
        assert_eq!(
            release_dead(&shm.map, T, FusioneeId(4)),
            vec![SkirmishId(2)]
        );
        assert_eq!(token_of(&shm, 4, tid), 0);
        assert_eq!(l.prevail().unwrap(), Prevailed::OwnerDied);
        l.dismiss().unwrap();
        // This thread's own token was freed with the rest: it claims a new one.
        assert_eq!(l.prevail().unwrap(), Prevailed::Clean);
        assert_eq!(l.lock_count(), 1);
        l.dismiss().unwrap();
    }

    #[test]
    fn a_full_token_table_is_a_clear_error() {
        let shm = Shm::new();
        let tokens_at = T.tokens_offset().unwrap();
        for t in 1..TOKENS as usize {
            shm.word(tokens_at + t * TOKEN_SIZE)
                .store(99, Ordering::Relaxed);
        }
        let l = shm.lock(3, 5);
        let e = on_thread(LONG, move || l.prevail().unwrap_err());
        assert!(
            matches!(&e, Error::Invalid(m) if m.contains("tokens are taken")),
            "{e:?}"
        );
        // The master frees a dead fusionee's tokens: room again.
        release_dead(&shm.map, T, FusioneeId(99));
        let l = shm.lock(3, 5);
        on_thread(LONG, move || {
            l.prevail().unwrap();
            l.dismiss().unwrap();
        });
    }

    /// Not a test: compares the uncontended path with a bare futex-style lock
    /// (best of several rounds, as the machine is shared).
    #[test]
    #[ignore = "benchmark"]
    fn bench_uncontended() {
        let shm = Shm::new();
        let l = std::hint::black_box(shm.lock(0, 1));
        const N: u32 = 1_000_000;
        let bare = std::hint::black_box(shm.word(COUNTER));
        let (mut tb, mut ts) = (Duration::MAX, Duration::MAX);
        for _ in 0..7 {
            let t0 = Instant::now();
            for _ in 0..N {
                while bare
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {}
                if bare.swap(0, Ordering::Release) == 2 {
                    sys::futex_wake(bare, 1);
                }
            }
            tb = tb.min(t0.elapsed());
            let t0 = Instant::now();
            for _ in 0..N {
                l.prevail().unwrap();
                l.dismiss().unwrap();
            }
            ts = ts.min(t0.elapsed());
        }
        eprintln!(
            "bare {:.1} ns, skirmish {:.1} ns ({:.2}x)",
            tb.as_nanos() as f64 / N as f64,
            ts.as_nanos() as f64 / N as f64,
            ts.as_nanos() as f64 / tb.as_nanos() as f64,
        );
    }
}
