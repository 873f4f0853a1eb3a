//! The broadcast ring: how a reactor message travels from the master to every subscriber.
//!
//! # Concept
//!
//! One **writer** (the master, dispatching on behalf of whoever called `dispatch`) and many
//! **readers** (subscriber processes) share one ring of fixed-size slots in shared memory.
//! The writer copies a message into the next slot once and bumps `head`; every reader copies
//! it out of the same slot at its own pace. A dispatch therefore costs the writer one copy no
//! matter how many subscribers there are, and it never talks to a subscriber that is awake.
//!
//! Each reader owns a **cursor** (the sequence number of the next entry it will read) in a
//! small **cursor block** that lives outside the ring, in memory writable by that reader and
//! by the writer. The ring itself is written only by the writer; readers map it read-only
//! (the master seals the memfd with [`crate::sys::memfd_seal_readonly`]), so a misbehaving
//! subscriber can corrupt its own cursor block and nothing else.
//!
//! When a reader falls behind by more than the ring's capacity, one of two things happens,
//! chosen per ring when it is created:
//!
//! * **lossy** rings (the default for events such as pointer motion) overwrite the oldest
//!   entries. The slow reader notices on its next read and gets
//!   [`ReadResult::Overrun`] with the exact number of entries it lost, then continues with
//!   the oldest entry still in the ring. Loss is always explicit, never silent.
//! * **lossless** rings apply **back-pressure**: [`RingWriter::publish`] refuses with
//!   [`Error::WouldBlock`] while any subscriber is a full ring behind, and overwrites nothing.
//!   The master retries later ([`RingWriter::is_full`], [`RingWriter::min_cursor`] tell it when)
//!   and decides what to do about a subscriber that never catches up.
//!
//! Entries carry a seqlock-style stamp: the writer marks a slot busy, writes the payload and
//! the entry header, then stores the entry's sequence number with `Release`. A reader checks
//! the stamp, copies the payload out, and checks the stamp again; if the writer lapped it in
//! between, the copy is discarded and reported as an overrun. A reader never hands out torn
//! data.
//!
//! # Sleeping and waking (an eventcount)
//!
//! A reader with nothing to read may sleep, either on its **eventfd** (the normal case: the
//! eventfd sits in the subscriber's `calloop` next to its other sources) or on the ring's
//! **futex** word (a thread that only waits for this ring). The protocol has no lost wake-ups:
//!
//! 1. the reader stores its sleep mode in its cursor block (`sleep` = 1 eventfd, 2 futex),
//!    issues a `SeqCst` fence and re-reads `head`; if something arrived it clears `sleep` and
//!    reads instead ([`RingReader::prepare_sleep`] returns `false`);
//! 2. the writer stores the new `head` (and its low 32 bits in `head_futex`), issues a
//!    `SeqCst` fence and then looks at each subscriber's `sleep` word.
//!
//! The two fences guarantee that either the reader sees the new `head` or the writer sees the
//! reader's `sleep` word. The writer clears every non-zero `sleep` word it finds, returns the
//! eventfd sleepers in [`Publish::wake`] (the caller writes their eventfds) and, if at least
//! one futex sleeper was found, does **one** `FUTEX_WAKE` of all waiters on `head_futex`.
//! A subscriber that is awake costs the writer one load of its `sleep` word and no system call;
//! only sleepers cost a wake-up, and all futex sleepers together cost a single one.
//!
//! # Layout
//!
//! All integers are native-endian; the ring starts at an 8-byte aligned `offset` of its
//! mapping (64 is best: one cache line per header).
//!
//! Ring header, 64 bytes:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | `u32` | magic `"FRNG"` (stored last, with `Release`, when the writer initialises) |
//! | 4 | `u32` | capacity in entries, a power of two |
//! | 8 | `u32` | slot size in bytes, a multiple of 8, including the 32-byte entry header |
//! | 12 | `u32` | flags: bit 0 lossless |
//! | 16 | `AtomicU64` | `head`: sequence number of the next entry to publish (starts at 0) |
//! | 24 | `AtomicU32` | `head_futex`: low 32 bits of `head`, the futex word readers sleep on |
//! | 28 | `u32` | layout version (1) |
//! | 32 | — | reserved |
//!
//! Then `capacity` slots of `slot size` bytes; entry `seq` lives in slot `seq % capacity`:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | `AtomicU64` | `seq` stamp, written last; `u64::MAX` while empty or being rewritten |
//! | 8 | `u32` | channel |
//! | 12 | `u32` | origin (fusionee id of the dispatcher) |
//! | 16 | `u32` | flags (the reactor's, opaque here) |
//! | 20 | `u32` | payload length |
//! | 24 | — | reserved |
//! | 32 | bytes | payload, at most `slot size − 32` bytes |
//!
//! Cursor block, 64 bytes, one per subscriber, in a writable mapping (the reader writes it;
//! the writer reads `cursor` and swaps `sleep`; the writer validates everything it reads):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | `AtomicU64` | `cursor`: next sequence number this reader will read |
//! | 8 | `AtomicU64` | `overruns`: total entries this reader lost |
//! | 16 | `AtomicU64` | `consumed_at_ns`: `CLOCK_MONOTONIC` time of its last read |
//! | 24 | `AtomicU32` | `sleep`: 0 awake, 1 asleep on its eventfd, 2 asleep on the futex |
//! | 28 | — | reserved |
//!
//! # Example
//!
//! ```
//! use std::os::fd::AsFd;
//! use std::sync::Arc;
//! use fusion::ring::{required_size, CursorBlock, ReadResult, RingReader, RingWriter};
//! use fusionfb_sys::{self as sys, Mapping};
//!
//! // Master: the ring (writable here, read-only in subscribers) ...
//! let size = required_size(64, 256);
//! let ring_fd = sys::memfd_create("reactor-ring", size)?;
//! let ring_rw = Arc::new(Mapping::new(ring_fd.as_fd(), size, true)?);
//! let writer = RingWriter::new(ring_rw, 0, 64, 256, false)?;
//! // ... and one cursor block per subscriber.
//! let cur_fd = sys::memfd_create("reactor-cursor", 64)?;
//! let cursor = CursorBlock::new(Arc::new(Mapping::new(cur_fd.as_fd(), 64, true)?), 0)?;
//!
//! // Subscriber (normally another process, given both fds over the socket):
//! let ring_ro = Arc::new(Mapping::new(ring_fd.as_fd(), size, false)?);
//! let mine = CursorBlock::new(Arc::new(Mapping::new(cur_fd.as_fd(), 64, true)?), 0)?;
//! let mut reader = RingReader::attach(ring_ro, 0, mine)?;
//!
//! let published = writer.publish(3, 1, 0, b"hello", &[&cursor])?;
//! for _index in &published.wake {
//!     // write the eventfd of subscriber `_index`
//! }
//!
//! let mut buf = Vec::new();
//! match reader.next(&mut buf) {
//!     ReadResult::Message { channel, origin, .. } => {
//!         assert_eq!((channel, origin, &buf[..]), (3, 1, &b"hello"[..]))
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(reader.next(&mut buf), ReadResult::Empty);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Borrow;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sys::{self, Mapping};
use crate::{Error, Result};

/// Magic number at the start of a ring header (`"FRNG"`).
pub const RING_MAGIC: u32 = u32::from_le_bytes(*b"FRNG");
/// Layout version stored in the header.
pub const RING_VERSION: u32 = 1;
/// Size of the ring header in bytes.
pub const HEADER_SIZE: usize = 64;
/// Size of the per-entry header in bytes (included in the slot size).
pub const ENTRY_HEADER_SIZE: usize = 32;
/// Size of a subscriber's cursor block in bytes.
pub const CURSOR_BLOCK_SIZE: usize = 64;
/// Header flag: the ring applies back-pressure instead of overwriting.
pub const FLAG_LOSSLESS: u32 = 1;

const H_MAGIC: usize = 0;
const H_CAPACITY: usize = 4;
const H_SLOT_SIZE: usize = 8;
const H_FLAGS: usize = 12;
const H_HEAD: usize = 16;
const H_HEAD_FUTEX: usize = 24;
const H_VERSION: usize = 28;

const E_SEQ: usize = 0;
const E_CHANNEL: usize = 8;
const E_ORIGIN: usize = 12;
const E_FLAGS: usize = 16;
const E_LEN: usize = 20;

const C_CURSOR: usize = 0;
const C_OVERRUNS: usize = 8;
const C_CONSUMED_AT: usize = 16;
const C_SLEEP: usize = 24;

/// Stamp of a slot that was never written or is being rewritten.
const STAMP_EMPTY: u64 = u64::MAX;

/// `FUTEX_WAKE` count meaning "everybody": the kernel reads the count as an `int`, so
/// `u32::MAX` would be -1 and wake a single waiter.
const WAKE_ALL: u32 = i32::MAX as u32;

const SLEEP_AWAKE: u32 = 0;
const SLEEP_EVENTFD: u32 = 1;
const SLEEP_FUTEX: u32 = 2;

/// Bytes needed for a ring of `capacity` entries of `slot_size` bytes (header included).
/// Saturates instead of overflowing, so absurd sizes simply do not fit any mapping.
pub fn required_size(capacity: u32, slot_size: u32) -> usize {
    (capacity as usize)
        .saturating_mul(slot_size as usize)
        .saturating_add(HEADER_SIZE)
}

/// Where the ring lies in its mapping; validated once, trusted afterwards.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    base: usize,
    capacity: u64,
    slot_size: usize,
}

impl Geometry {
    fn validate(
        map_len: usize,
        base: usize,
        capacity: u32,
        slot_size: u32,
    ) -> std::result::Result<Self, String> {
        if !capacity.is_power_of_two() {
            return Err(format!("ring capacity {capacity} is not a power of two"));
        }
        if (slot_size as usize) < ENTRY_HEADER_SIZE || slot_size % 8 != 0 {
            return Err(format!(
                "ring slot size {slot_size} is not a multiple of 8 of at least {ENTRY_HEADER_SIZE}"
            ));
        }
        if base % 8 != 0 {
            return Err(format!("ring offset {base} is not 8-byte aligned"));
        }
        let need = required_size(capacity, slot_size);
        if base.checked_add(need).is_none_or(|end| end > map_len) {
            return Err(format!(
                "ring of {need} bytes at offset {base} does not fit a mapping of {map_len} bytes"
            ));
        }
        Ok(Self {
            base,
            capacity: capacity as u64,
            slot_size: slot_size as usize,
        })
    }

    fn slot(&self, seq: u64) -> usize {
        self.base + HEADER_SIZE + (seq & (self.capacity - 1)) as usize * self.slot_size
    }

    fn max_payload(&self) -> usize {
        self.slot_size - ENTRY_HEADER_SIZE
    }
}

fn u32_at(map: &Mapping, offset: usize) -> &AtomicU32 {
    map.atomic_u32(offset)
        .expect("ring offsets are validated at construction")
}

fn u64_at(map: &Mapping, offset: usize) -> &AtomicU64 {
    map.atomic_u64(offset)
        .expect("ring offsets are validated at construction")
}

/// How a reader sleeps; stored in its cursor block's `sleep` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SleepMode {
    /// Asleep on its own eventfd: the writer reports it in [`Publish::wake`].
    EventFd = SLEEP_EVENTFD,
    /// Asleep on the ring's `head_futex` word: the writer wakes all such sleepers at once.
    Futex = SLEEP_FUTEX,
}

/// One subscriber's 64-byte cursor block in a writable mapping.
///
/// The same block is seen by the reader (through its own mapping) and by the writer (through
/// the master's). Cheap to clone.
#[derive(Debug, Clone)]
pub struct CursorBlock {
    map: Arc<Mapping>,
    offset: usize,
}

impl CursorBlock {
    /// The block at `offset` of `map`; `Error::Invalid` unless the mapping is writable, the
    /// offset 8-byte aligned and the 64 bytes in bounds.
    pub fn new(map: Arc<Mapping>, offset: usize) -> Result<Self> {
        if !map.writable() {
            return Err(Error::Invalid("cursor block mapping is read-only".into()));
        }
        if offset % 8 != 0
            || offset
                .checked_add(CURSOR_BLOCK_SIZE)
                .is_none_or(|end| end > map.len())
        {
            return Err(Error::Invalid(format!(
                "cursor block at offset {offset} does not fit a mapping of {} bytes",
                map.len()
            )));
        }
        Ok(Self { map, offset })
    }

    /// The mapping the block lives in.
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// The block's offset in its mapping.
    pub fn offset(&self) -> usize {
        self.offset
    }

    fn cursor(&self) -> &AtomicU64 {
        u64_at(&self.map, self.offset + C_CURSOR)
    }

    fn overruns_word(&self) -> &AtomicU64 {
        u64_at(&self.map, self.offset + C_OVERRUNS)
    }

    fn consumed_at(&self) -> &AtomicU64 {
        u64_at(&self.map, self.offset + C_CONSUMED_AT)
    }

    fn sleep(&self) -> &AtomicU32 {
        u32_at(&self.map, self.offset + C_SLEEP)
    }

    /// The raw `cursor` word (untrusted when read by the writer).
    pub fn cursor_value(&self) -> u64 {
        self.cursor().load(Ordering::Acquire)
    }

    /// Total entries the reader reported lost.
    pub fn overruns(&self) -> u64 {
        self.overruns_word().load(Ordering::Relaxed)
    }

    /// `CLOCK_MONOTONIC` nanoseconds of the reader's last read (or attach).
    pub fn consumed_at_ns(&self) -> u64 {
        self.consumed_at().load(Ordering::Relaxed)
    }

    /// The raw `sleep` word: 0 awake, 1 eventfd, 2 futex (anything else is garbage).
    pub fn sleep_state(&self) -> u32 {
        self.sleep().load(Ordering::Relaxed)
    }

    fn reset(&self, cursor: u64) {
        self.sleep().store(SLEEP_AWAKE, Ordering::Relaxed);
        self.overruns_word().store(0, Ordering::Relaxed);
        self.consumed_at().store(sys::now_ns(), Ordering::Relaxed);
        self.cursor().store(cursor, Ordering::Release);
    }
}

/// What [`RingWriter::publish`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    /// Sequence number of the published entry.
    pub seq: u64,
    /// Indexes into the `subscribers` slice of readers asleep on their eventfd: write one to
    /// each of their eventfds. Empty (and not allocated) when nobody sleeps on one.
    pub wake: Vec<usize>,
    /// Whether futex sleepers were found (and woken with a single `FUTEX_WAKE`).
    pub futex: bool,
}

/// The writing end of a ring (the master). Publishing is serialised internally.
#[derive(Debug)]
pub struct RingWriter {
    map: Arc<Mapping>,
    geo: Geometry,
    lossless: bool,
    lock: Mutex<()>,
}

impl RingWriter {
    /// Initialises a ring of `capacity` entries (a power of two) of `slot_size` bytes (a
    /// multiple of 8, at least [`ENTRY_HEADER_SIZE`]) at `offset` of the writable `map`,
    /// overwriting whatever was there. `head` starts at 0.
    pub fn new(
        map: Arc<Mapping>,
        offset: usize,
        capacity: u32,
        slot_size: u32,
        lossless: bool,
    ) -> Result<Self> {
        if !map.writable() {
            return Err(Error::Invalid("ring mapping is read-only".into()));
        }
        let geo =
            Geometry::validate(map.len(), offset, capacity, slot_size).map_err(Error::Invalid)?;
        // Invalidate a previous ring's magic first, so nobody attaches to a half-made one.
        u32_at(&map, offset + H_MAGIC).store(0, Ordering::Release);
        // Every stamp becomes STAMP_EMPTY (all ones); payload bytes do not matter.
        map.fill(
            offset + HEADER_SIZE,
            required_size(capacity, slot_size) - HEADER_SIZE,
            0xff,
        );
        map.fill(offset + 4, HEADER_SIZE - 4, 0);
        u32_at(&map, offset + H_CAPACITY).store(capacity, Ordering::Relaxed);
        u32_at(&map, offset + H_SLOT_SIZE).store(slot_size, Ordering::Relaxed);
        let flags = if lossless { FLAG_LOSSLESS } else { 0 };
        u32_at(&map, offset + H_FLAGS).store(flags, Ordering::Relaxed);
        u32_at(&map, offset + H_VERSION).store(RING_VERSION, Ordering::Relaxed);
        u64_at(&map, offset + H_HEAD).store(0, Ordering::Relaxed);
        u32_at(&map, offset + H_HEAD_FUTEX).store(0, Ordering::Relaxed);
        u32_at(&map, offset + H_MAGIC).store(RING_MAGIC, Ordering::Release);
        Ok(Self {
            map,
            geo,
            lossless,
            lock: Mutex::new(()),
        })
    }

    fn head_word(&self) -> &AtomicU64 {
        u64_at(&self.map, self.geo.base + H_HEAD)
    }

    fn head_futex(&self) -> &AtomicU32 {
        u32_at(&self.map, self.geo.base + H_HEAD_FUTEX)
    }

    /// Sequence number the next [`publish`](Self::publish) will use.
    pub fn head(&self) -> u64 {
        self.head_word().load(Ordering::Acquire)
    }

    /// Capacity in entries.
    pub fn capacity(&self) -> u32 {
        self.geo.capacity as u32
    }

    /// Slot size in bytes (entry header included).
    pub fn slot_size(&self) -> u32 {
        self.geo.slot_size as u32
    }

    /// Largest payload a slot holds.
    pub fn max_payload(&self) -> usize {
        self.geo.max_payload()
    }

    /// Whether the ring applies back-pressure instead of overwriting.
    pub fn is_lossless(&self) -> bool {
        self.lossless
    }

    /// Offset of the ring in its mapping.
    pub fn offset(&self) -> usize {
        self.geo.base
    }

    /// Resets a subscriber's cursor block to "awake, nothing lost, next read = current head".
    ///
    /// Call it when the subscription is made, before the block is passed to `publish`: from
    /// then on a lossless ring keeps every entry for it, and the subscriber should open the
    /// ring with [`RingReader::resume`] to start exactly there.
    pub fn init_cursor(&self, block: &CursorBlock) {
        block.reset(self.head());
    }

    /// A subscriber's cursor clamped to `..=head` (a cursor in the future counts as caught up).
    fn clamped_cursor(block: &CursorBlock, head: u64) -> u64 {
        block.cursor().load(Ordering::Acquire).min(head)
    }

    /// The smallest (clamped) cursor among `subscribers`; `None` when there are none.
    pub fn min_cursor<B: Borrow<CursorBlock>>(&self, subscribers: &[B]) -> Option<u64> {
        let head = self.head();
        subscribers
            .iter()
            .map(|b| Self::clamped_cursor(b.borrow(), head))
            .min()
    }

    /// Whether a lossless ring would refuse the next publish (some subscriber is a full ring
    /// behind). Always `false` for lossy rings.
    pub fn is_full<B: Borrow<CursorBlock>>(&self, subscribers: &[B]) -> bool {
        self.lossless && self.full_at(self.head(), subscribers)
    }

    fn full_at<B: Borrow<CursorBlock>>(&self, head: u64, subscribers: &[B]) -> bool {
        subscribers
            .iter()
            .any(|b| head - Self::clamped_cursor(b.borrow(), head) >= self.geo.capacity)
    }

    /// Publishes one entry and wakes the sleepers among `subscribers`.
    ///
    /// `Error::Invalid` when `payload` exceeds [`max_payload`](Self::max_payload);
    /// `Error::WouldBlock` on a lossless ring while a subscriber is a full ring behind
    /// (nothing is written then). The caller must write the eventfd of every subscriber listed
    /// in [`Publish::wake`].
    pub fn publish<B: Borrow<CursorBlock>>(
        &self,
        channel: u32,
        origin: u32,
        flags: u32,
        payload: &[u8],
        subscribers: &[B],
    ) -> Result<Publish> {
        let mut published = Publish::default();
        self.publish_into(channel, origin, flags, payload, subscribers, &mut published)?;
        Ok(published)
    }

    /// [`RingWriter::publish`] into `out`, a record the caller keeps: its list of sleepers
    /// keeps its allocation, so that publishing allocates nothing once it has grown (the
    /// master's input events). On an error `out` is left as it was.
    pub fn publish_into<B: Borrow<CursorBlock>>(
        &self,
        channel: u32,
        origin: u32,
        flags: u32,
        payload: &[u8],
        subscribers: &[B],
        out: &mut Publish,
    ) -> Result<()> {
        if payload.len() > self.geo.max_payload() {
            return Err(Error::Invalid(format!(
                "payload of {} bytes exceeds the ring's {} bytes per entry",
                payload.len(),
                self.geo.max_payload()
            )));
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.head_word().load(Ordering::Relaxed);
        if self.lossless && self.full_at(seq, subscribers) {
            return Err(Error::WouldBlock);
        }

        let slot = self.geo.slot(seq);
        let stamp = u64_at(&self.map, slot + E_SEQ);
        stamp.store(STAMP_EMPTY, Ordering::Relaxed);
        // Pairs with the reader's acquire fence before its re-check: a reader that saw any of
        // the bytes below also sees the busy stamp.
        fence(Ordering::Release);
        u32_at(&self.map, slot + E_CHANNEL).store(channel, Ordering::Relaxed);
        u32_at(&self.map, slot + E_ORIGIN).store(origin, Ordering::Relaxed);
        u32_at(&self.map, slot + E_FLAGS).store(flags, Ordering::Relaxed);
        u32_at(&self.map, slot + E_LEN).store(payload.len() as u32, Ordering::Relaxed);
        self.map.write(slot + ENTRY_HEADER_SIZE, payload);
        stamp.store(seq, Ordering::Release);

        let head = seq.wrapping_add(1);
        self.head_word().store(head, Ordering::Release);
        self.head_futex().store(head as u32, Ordering::Release);
        // Eventcount: either a reader preparing to sleep sees the new head, or we see its
        // sleep word below.
        fence(Ordering::SeqCst);

        let wake = &mut out.wake;
        wake.clear();
        let mut futex = false;
        for (index, block) in subscribers.iter().enumerate() {
            let sleep = block.borrow().sleep();
            if sleep.load(Ordering::Relaxed) == SLEEP_AWAKE {
                continue;
            }
            match sleep.swap(SLEEP_AWAKE, Ordering::AcqRel) {
                SLEEP_EVENTFD => wake.push(index),
                SLEEP_FUTEX => futex = true,
                _ => {} // awake meanwhile, or garbage: nothing to wake
            }
        }
        if futex {
            sys::futex_wake(self.head_futex(), WAKE_ALL);
        }
        out.seq = seq;
        out.futex = futex;
        Ok(())
    }
}

/// Result of [`RingReader::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// An entry; its payload is in the caller's buffer.
    Message {
        /// Sequence number of the entry.
        seq: u64,
        /// Channel it was dispatched on.
        channel: u32,
        /// Fusionee id of the dispatcher.
        origin: u32,
        /// The dispatcher's flags.
        flags: u32,
    },
    /// Nothing new.
    Empty,
    /// The writer overwrote `lost` entries before we read them; the cursor moved past them
    /// (to the oldest entry still in the ring) and the block's `overruns` grew by `lost`.
    Overrun {
        /// Number of entries lost.
        lost: u64,
    },
}

/// The reading end of a ring (one subscriber). The ring mapping may (and should) be read-only.
#[derive(Debug)]
pub struct RingReader {
    ring: Arc<Mapping>,
    geo: Geometry,
    lossless: bool,
    block: CursorBlock,
    /// Our cursor; the block's copy is for the writer, never read back.
    cursor: u64,
}

impl RingReader {
    /// Opens the ring at `offset` of `ring` and starts at the current head: the subscriber
    /// sees only entries published from now on. Resets `block`.
    ///
    /// `Error::Malformed` when the header is not a valid ring that fits the mapping.
    pub fn attach(ring: Arc<Mapping>, offset: usize, block: CursorBlock) -> Result<Self> {
        let mut reader = Self::open(ring, offset, block)?;
        reader.cursor = reader.head();
        reader.block.reset(reader.cursor);
        Ok(reader)
    }

    /// Opens the ring and continues from the cursor already in `block` (as set by
    /// [`RingWriter::init_cursor`] or a previous reader). A cursor beyond `head` is clamped
    /// to `head`; one more than a ring behind yields an [`ReadResult::Overrun`] first.
    pub fn resume(ring: Arc<Mapping>, offset: usize, block: CursorBlock) -> Result<Self> {
        let mut reader = Self::open(ring, offset, block)?;
        let head = reader.head();
        reader.cursor = reader.block.cursor().load(Ordering::Acquire).min(head);
        reader
            .block
            .cursor()
            .store(reader.cursor, Ordering::Release);
        reader.block.sleep().store(SLEEP_AWAKE, Ordering::Relaxed);
        Ok(reader)
    }

    fn open(ring: Arc<Mapping>, offset: usize, block: CursorBlock) -> Result<Self> {
        let malformed = |what: String| Error::Malformed(format!("ring at offset {offset}: {what}"));
        let word = |at: usize| -> Result<u32> {
            offset
                .checked_add(at)
                .and_then(|o| ring.atomic_u32(o))
                .map(|a| a.load(Ordering::Acquire))
                .ok_or_else(|| malformed("header out of bounds or misaligned".into()))
        };
        if offset
            .checked_add(HEADER_SIZE)
            .is_none_or(|end| end > ring.len())
        {
            return Err(malformed("header out of bounds".into()));
        }
        let magic = word(H_MAGIC)?;
        if magic != RING_MAGIC {
            return Err(malformed(format!("bad magic {magic:#010x}")));
        }
        let version = word(H_VERSION)?;
        if version != RING_VERSION {
            return Err(malformed(format!(
                "layout version {version}, expected {RING_VERSION}"
            )));
        }
        let flags = word(H_FLAGS)?;
        if flags & !FLAG_LOSSLESS != 0 {
            return Err(malformed(format!("unknown flags {flags:#x}")));
        }
        let geo = Geometry::validate(ring.len(), offset, word(H_CAPACITY)?, word(H_SLOT_SIZE)?)
            .map_err(malformed)?;
        Ok(Self {
            ring,
            geo,
            lossless: flags & FLAG_LOSSLESS != 0,
            block,
            cursor: 0,
        })
    }

    fn head_word(&self) -> &AtomicU64 {
        u64_at(&self.ring, self.geo.base + H_HEAD)
    }

    fn head_futex(&self) -> &AtomicU32 {
        u32_at(&self.ring, self.geo.base + H_HEAD_FUTEX)
    }

    /// The writer's current head.
    pub fn head(&self) -> u64 {
        self.head_word().load(Ordering::Acquire)
    }

    /// Sequence number of the next entry this reader will read.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Entries published but not read yet (more than the capacity means some are lost).
    pub fn pending(&self) -> u64 {
        self.head().saturating_sub(self.cursor)
    }

    /// Total entries this reader lost (as recorded in its cursor block).
    pub fn overruns(&self) -> u64 {
        self.block.overruns()
    }

    /// Capacity in entries.
    pub fn capacity(&self) -> u32 {
        self.geo.capacity as u32
    }

    /// Largest payload an entry holds.
    pub fn max_payload(&self) -> usize {
        self.geo.max_payload()
    }

    /// Whether the ring applies back-pressure instead of overwriting.
    pub fn is_lossless(&self) -> bool {
        self.lossless
    }

    /// This reader's cursor block.
    pub fn cursor_block(&self) -> &CursorBlock {
        &self.block
    }

    /// Reads the next entry into `buf` (resized to the payload length).
    pub fn next(&mut self, buf: &mut Vec<u8>) -> ReadResult {
        self.next_with(buf, &mut || {})
    }

    /// [`next`](Self::next) with a hook run between copying and re-checking (tests use it
    /// to lap the reader at the worst moment).
    fn next_with(&mut self, buf: &mut Vec<u8>, between: &mut dyn FnMut()) -> ReadResult {
        let head = self.head();
        if head < self.cursor {
            // The ring was re-initialised under us: start over at its head.
            self.cursor = head;
            self.block.cursor().store(head, Ordering::Release);
            return ReadResult::Empty;
        }
        if head == self.cursor {
            return ReadResult::Empty;
        }
        if head - self.cursor > self.geo.capacity {
            return self.skip_to(head - self.geo.capacity);
        }
        let seq = self.cursor;
        let slot = self.geo.slot(seq);
        let stamp = u64_at(&self.ring, slot + E_SEQ);
        if stamp.load(Ordering::Acquire) != seq {
            return self.lapped(seq);
        }
        let channel = u32_at(&self.ring, slot + E_CHANNEL).load(Ordering::Relaxed);
        let origin = u32_at(&self.ring, slot + E_ORIGIN).load(Ordering::Relaxed);
        let flags = u32_at(&self.ring, slot + E_FLAGS).load(Ordering::Relaxed);
        let len = u32_at(&self.ring, slot + E_LEN).load(Ordering::Relaxed) as usize;
        buf.resize(len.min(self.geo.max_payload()), 0);
        self.ring.read(slot + ENTRY_HEADER_SIZE, buf);
        between();
        fence(Ordering::Acquire);
        if stamp.load(Ordering::Relaxed) != seq || len > self.geo.max_payload() {
            return self.lapped(seq);
        }
        self.cursor = seq + 1;
        self.block.cursor().store(self.cursor, Ordering::Release);
        self.block
            .consumed_at()
            .store(sys::now_ns(), Ordering::Relaxed);
        ReadResult::Message {
            seq,
            channel,
            origin,
            flags,
        }
    }

    /// Entry `seq` was overwritten (or is being): skip to the oldest entry still valid.
    fn lapped(&mut self, seq: u64) -> ReadResult {
        let oldest = self.head().saturating_sub(self.geo.capacity);
        self.skip_to(oldest.max(seq + 1))
    }

    fn skip_to(&mut self, to: u64) -> ReadResult {
        let lost = to - self.cursor;
        self.cursor = to;
        self.block.cursor().store(to, Ordering::Release);
        self.block
            .overruns_word()
            .fetch_add(lost, Ordering::Relaxed);
        ReadResult::Overrun { lost }
    }

    /// Announces that this reader is about to sleep in `mode`; `false` (and awake again) when
    /// an entry arrived meanwhile, so the caller reads instead of sleeping.
    ///
    /// After `true` the caller sleeps (on its eventfd, or use [`wait_futex`](Self::wait_futex))
    /// and calls [`cancel_sleep`](Self::cancel_sleep) when it wakes for any reason.
    pub fn prepare_sleep(&self, mode: SleepMode) -> bool {
        let sleep = self.block.sleep();
        sleep.store(mode as u32, Ordering::Relaxed);
        // Eventcount: pairs with the writer's fence between storing head and reading sleep.
        fence(Ordering::SeqCst);
        if self.head_word().load(Ordering::Relaxed) != self.cursor {
            sleep.store(SLEEP_AWAKE, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Marks this reader awake (the writer stops waking it).
    pub fn cancel_sleep(&self) {
        self.block.sleep().store(SLEEP_AWAKE, Ordering::Relaxed);
    }

    fn has_data(&self) -> bool {
        self.head_word().load(Ordering::Acquire) != self.cursor
    }

    /// Blocks on the ring's futex until an entry is pending or `timeout` passes; returns
    /// whether an entry is pending. Costs no system call when one is pending already.
    pub fn wait_futex(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if !self.prepare_sleep(SleepMode::Futex) {
                return true;
            }
            let remaining = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => {
                        self.cancel_sleep();
                        return self.has_data();
                    }
                },
            };
            // The writer changes head_futex before waking, so a wake-up between our check and
            // this call makes the kernel return at once.
            sys::futex_wait(self.head_futex(), self.cursor as u32, remaining);
            self.cancel_sleep();
            if self.has_data() {
                return true;
            }
        }
    }

    /// Sleeps on this reader's eventfd `fd` (the one whose index the writer reports in
    /// [`Publish::wake`]) until an entry is pending, the eventfd rings, or `timeout` passes;
    /// drains the eventfd and returns whether an entry is pending (a stale ring of the
    /// eventfd may return `false` early: callers loop).
    ///
    /// A `calloop` subscriber does the same in pieces: `prepare_sleep(SleepMode::EventFd)`
    /// before returning to its loop, and on the eventfd's readiness `eventfd_drain`,
    /// `cancel_sleep`, then `next` until `Empty`.
    pub fn wait_eventfd(&self, fd: BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
        sys::eventfd_drain(fd);
        if !self.prepare_sleep(SleepMode::EventFd) {
            return true;
        }
        let _ = sys::poll_readable(&[fd], timeout);
        sys::eventfd_drain(fd);
        self.cancel_sleep();
        self.has_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};
    use std::process::{Child, Command, Stdio};

    /// A ring in a fresh memfd: the writer, a read-only view for readers, and the rw view.
    fn ring(capacity: u32, slot: u32, lossless: bool) -> (RingWriter, Arc<Mapping>, Arc<Mapping>) {
        let size = required_size(capacity, slot);
        let fd = sys::memfd_create("ring-test", size).unwrap();
        let rw = Arc::new(Mapping::new(fd.as_fd(), size, true).unwrap());
        let ro = Arc::new(Mapping::new(fd.as_fd(), size, false).unwrap());
        let w = RingWriter::new(rw.clone(), 0, capacity, slot, lossless).unwrap();
        (w, ro, rw)
    }

    fn blocks(n: usize) -> Vec<CursorBlock> {
        let fd = sys::memfd_create("ring-cursors", n * CURSOR_BLOCK_SIZE).unwrap();
        let map = Arc::new(Mapping::new(fd.as_fd(), n * CURSOR_BLOCK_SIZE, true).unwrap());
        (0..n)
            .map(|i| CursorBlock::new(map.clone(), i * CURSOR_BLOCK_SIZE).unwrap())
            .collect()
    }

    fn msg(r: &mut RingReader, buf: &mut Vec<u8>) -> (u64, u32, u32, u32) {
        match r.next(buf) {
            ReadResult::Message {
                seq,
                channel,
                origin,
                flags,
            } => (seq, channel, origin, flags),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn publishes_and_reads_in_order() {
        let (w, ro, _) = ring(16, 64, false);
        let b = blocks(2);
        let mut r0 = RingReader::attach(ro.clone(), 0, b[0].clone()).unwrap();
        let mut r1 = RingReader::attach(ro, 0, b[1].clone()).unwrap();
        for i in 0..10u32 {
            let p = w.publish(0, 1, 0, &i.to_le_bytes(), &b).unwrap();
            assert_eq!(p.seq, i as u64);
            assert!(p.wake.is_empty() && !p.futex);
        }
        assert_eq!(r0.pending(), 10);
        let mut buf = Vec::new();
        for r in [&mut r0, &mut r1] {
            for i in 0..10u32 {
                assert_eq!(msg(r, &mut buf).0, i as u64);
                assert_eq!(buf, i.to_le_bytes());
            }
            assert_eq!(r.next(&mut buf), ReadResult::Empty);
            assert_eq!(r.pending(), 0);
            assert_eq!(r.cursor_block().cursor_value(), 10);
            assert!(r.cursor_block().consumed_at_ns() > 0);
        }
        assert_eq!(w.min_cursor(&b), Some(10));
    }

    #[test]
    fn carries_channel_origin_flags_and_payload_sizes() {
        let (w, ro, _) = ring(8, 96, false);
        let b = blocks(1);
        let mut r = RingReader::attach(ro, 0, b[0].clone()).unwrap();
        let big = vec![0xabu8; w.max_payload()];
        w.publish(7, 42, 0x5, b"", &b).unwrap();
        w.publish(1023, 3, 0, &big, &b).unwrap();
        w.publish(2, 9, 1, b"xyz", &b).unwrap();
        let mut buf = vec![1, 2, 3, 4, 5];
        assert_eq!(msg(&mut r, &mut buf), (0, 7, 42, 5));
        assert!(buf.is_empty());
        assert_eq!(msg(&mut r, &mut buf), (1, 1023, 3, 0));
        assert_eq!(buf, big);
        assert_eq!(msg(&mut r, &mut buf), (2, 2, 9, 1));
        assert_eq!(buf, b"xyz");
    }

    #[test]
    fn attach_sees_only_later_messages() {
        let (w, ro, _) = ring(8, 64, false);
        let b = blocks(1);
        for _ in 0..5 {
            w.publish(0, 0, 0, b"old", &[] as &[CursorBlock]).unwrap();
        }
        let mut r = RingReader::attach(ro.clone(), 0, b[0].clone()).unwrap();
        assert_eq!(r.cursor(), 5);
        let mut buf = Vec::new();
        assert_eq!(r.next(&mut buf), ReadResult::Empty);
        w.publish(0, 0, 0, b"new", &b).unwrap();
        assert_eq!(msg(&mut r, &mut buf).0, 5);
        assert_eq!(buf, b"new");

        // resume: the writer registered the cursor first; the reader starts exactly there.
        w.init_cursor(&b[0]);
        w.publish(0, 0, 0, b"after-init", &b).unwrap();
        let mut r = RingReader::resume(ro, 0, b[0].clone()).unwrap();
        assert_eq!(msg(&mut r, &mut buf).0, 6);
        assert_eq!(buf, b"after-init");
    }

    #[test]
    fn lossy_overrun_reports_exact_loss() {
        let (w, ro, _) = ring(8, 64, false);
        let b = blocks(1);
        let mut r = RingReader::attach(ro, 0, b[0].clone()).unwrap();
        for i in 0..20u64 {
            w.publish(0, 0, 0, &i.to_le_bytes(), &b).unwrap();
        }
        assert!(!w.is_full(&b));
        let mut buf = Vec::new();
        assert_eq!(r.next(&mut buf), ReadResult::Overrun { lost: 12 });
        assert_eq!(r.overruns(), 12);
        for i in 12..20u64 {
            assert_eq!(msg(&mut r, &mut buf).0, i);
            assert_eq!(buf, i.to_le_bytes());
        }
        assert_eq!(r.next(&mut buf), ReadResult::Empty);
        // Exactly one ring behind is not an overrun.
        for i in 20..28u64 {
            w.publish(0, 0, 0, &i.to_le_bytes(), &b).unwrap();
        }
        for i in 20..28u64 {
            assert_eq!(msg(&mut r, &mut buf).0, i);
        }
        assert_eq!(r.overruns(), 12);
    }

    #[test]
    fn lossless_applies_back_pressure() {
        let (w, ro, _) = ring(4, 64, true);
        let b = blocks(2);
        let mut slow = RingReader::attach(ro.clone(), 0, b[0].clone()).unwrap();
        let mut fast = RingReader::attach(ro, 0, b[1].clone()).unwrap();
        assert!(slow.is_lossless());
        let mut buf = Vec::new();
        for i in 0..4u64 {
            w.publish(0, 0, 0, &i.to_le_bytes(), &b).unwrap();
            assert_eq!(msg(&mut fast, &mut buf).0, i);
        }
        assert!(w.is_full(&b));
        assert_eq!(w.min_cursor(&b), Some(0));
        assert_eq!(w.publish(0, 0, 0, b"x", &b), Err(Error::WouldBlock));
        assert_eq!(w.head(), 4);
        assert_eq!(fast.next(&mut buf), ReadResult::Empty);

        assert_eq!(msg(&mut slow, &mut buf).0, 0);
        assert!(!w.is_full(&b));
        assert_eq!(w.publish(0, 0, 0, &4u64.to_le_bytes(), &b).unwrap().seq, 4);
        assert_eq!(w.publish(0, 0, 0, b"y", &b), Err(Error::WouldBlock));
        for i in 1..5u64 {
            assert_eq!(msg(&mut slow, &mut buf).0, i);
            assert_eq!(buf, i.to_le_bytes(), "entry {i} must not be overwritten");
        }
        assert_eq!(slow.overruns(), 0);
        assert_eq!(msg(&mut fast, &mut buf).0, 4);
        assert_eq!(w.publish(0, 0, 0, b"z", &b).unwrap().seq, 5);
    }

    #[test]
    fn oversize_payload_is_invalid() {
        let (w, _, _) = ring(4, 64, false);
        let b = blocks(1);
        assert_eq!(w.max_payload(), 32);
        assert!(w.publish(0, 0, 0, &[0; 32], &b).is_ok());
        assert!(matches!(
            w.publish(0, 0, 0, &[0; 33], &b),
            Err(Error::Invalid(_))
        ));
        assert_eq!(w.head(), 1);
    }

    #[test]
    fn garbage_in_cursor_blocks_does_not_panic() {
        for lossless in [false, true] {
            let (w, ro, _) = ring(4, 64, lossless);
            let b = blocks(3);
            let words = |i: usize| (&b[i], b[i].offset());
            // A cursor far in the future counts as caught up.
            let (blk, off) = words(0);
            blk.mapping().write(off, &u64::MAX.to_ne_bytes());
            // A garbage sleep word is cleared, not woken.
            let (blk, off) = words(1);
            blk.mapping()
                .write(off + C_SLEEP, &0xdead_beefu32.to_ne_bytes());
            blk.mapping()
                .write(off + C_OVERRUNS, &u64::MAX.to_ne_bytes());
            for _ in 0..3 {
                let p = w.publish(0, 0, 0, b"ok", &b).unwrap();
                assert!(p.wake.is_empty() && !p.futex);
            }
            assert_eq!(b[1].sleep_state(), 0);
            assert_eq!(w.min_cursor(&b), Some(0));
            // Cursor of 1 after 3 publishes: fine; then garbage reader resumes (clamped).
            let mut r = RingReader::resume(ro.clone(), 0, b[0].clone()).unwrap();
            assert_eq!(r.cursor(), 3);
            let mut buf = Vec::new();
            assert_eq!(r.next(&mut buf), ReadResult::Empty);
            // Overrun counter wraps instead of panicking.
            let mut r1 = RingReader::resume(ro.clone(), 0, b[1].clone()).unwrap();
            if lossless {
                assert_eq!(w.publish(0, 0, 0, b"4th", &b).unwrap().seq, 3);
                assert!(w.is_full(&b));
                assert_eq!(w.publish(0, 0, 0, b"5th", &b), Err(Error::WouldBlock));
                assert_eq!(msg(&mut r1, &mut buf).0, 0);
            } else {
                for _ in 0..10 {
                    w.publish(0, 0, 0, b"more", &b).unwrap();
                }
                assert_eq!(r1.next(&mut buf), ReadResult::Overrun { lost: 9 });
                assert_eq!(r1.overruns(), 8);
            }
        }
        // Bad blocks are refused up front.
        let fd = sys::memfd_create("ring-cursor-bad", 100).unwrap();
        let ro = Arc::new(Mapping::new(fd.as_fd(), 100, false).unwrap());
        assert!(CursorBlock::new(ro, 0).is_err());
        let rw = Arc::new(Mapping::new(fd.as_fd(), 100, true).unwrap());
        assert!(CursorBlock::new(rw.clone(), 4).is_err());
        assert!(CursorBlock::new(rw.clone(), 40).is_err());
        assert!(CursorBlock::new(rw.clone(), usize::MAX - 7).is_err());
        assert!(CursorBlock::new(rw, 32).is_ok());
    }

    #[test]
    fn torn_reads_are_detected() {
        // The writer laps the reader between its copy and its re-check.
        let (w, ro, rw) = ring(4, 64, false);
        let b = blocks(1);
        let mut r = RingReader::attach(ro, 0, b[0].clone()).unwrap();
        w.publish(0, 0, 0, b"first", &b).unwrap();
        let mut buf = Vec::new();
        let res = r.next_with(&mut buf, &mut || {
            for i in 1..5u64 {
                w.publish(0, 0, 0, &i.to_le_bytes(), &[] as &[CursorBlock])
                    .unwrap();
            }
        });
        assert_eq!(res, ReadResult::Overrun { lost: 1 });
        for i in 1..5u64 {
            assert_eq!(msg(&mut r, &mut buf).0, i);
            assert_eq!(buf, i.to_le_bytes());
        }

        // The writer is half-way through rewriting the slot (busy stamp).
        w.publish(0, 0, 0, b"sixth", &b).unwrap();
        let slot = w.geo.slot(5);
        let res = r.next_with(&mut buf, &mut || {
            rw.write(slot + E_SEQ, &STAMP_EMPTY.to_ne_bytes());
            rw.write(slot + ENTRY_HEADER_SIZE, b"garbage");
        });
        assert_eq!(res, ReadResult::Overrun { lost: 1 });
        assert_eq!(r.next(&mut buf), ReadResult::Empty);
        assert_eq!(r.overruns(), 2);

        // A corrupt length with a stable stamp is never trusted.
        w.publish(0, 0, 0, b"seventh", &b).unwrap();
        rw.write(w.geo.slot(6) + E_LEN, &u32::MAX.to_ne_bytes());
        assert_eq!(r.next(&mut buf), ReadResult::Overrun { lost: 1 });
    }

    #[test]
    fn concurrent_writer_never_yields_torn_messages() {
        const N: u64 = 20_000;
        let (w, ro, _) = ring(8, 128, false);
        let b = blocks(1);
        let mut r = RingReader::attach(ro, 0, b[0].clone()).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut payload = Vec::new();
                for seq in 0..N {
                    payload.clear();
                    payload.extend_from_slice(&seq.to_le_bytes());
                    payload.resize(8 + (seq % 80) as usize, seq as u8);
                    w.publish(seq as u32, 0, 0, &payload, &b).unwrap();
                }
            });
            let (mut got, mut lost) = (0u64, 0u64);
            let mut buf = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while got + lost < N {
                assert!(Instant::now() < deadline, "reader stalled");
                match r.next(&mut buf) {
                    ReadResult::Message { seq, channel, .. } => {
                        assert_eq!(channel, seq as u32);
                        assert_eq!(buf.len(), 8 + (seq % 80) as usize);
                        assert_eq!(buf[..8], seq.to_le_bytes());
                        assert!(buf[8..].iter().all(|&x| x == seq as u8), "torn at {seq}");
                        got += 1;
                    }
                    ReadResult::Overrun { lost: l } => lost += l,
                    ReadResult::Empty => std::thread::yield_now(),
                }
            }
            assert_eq!(got + lost, N);
            assert_eq!(r.overruns(), lost);
        });
    }

    #[test]
    fn header_is_validated() {
        let (w, ro, rw) = ring(8, 64, false);
        let b = blocks(1);
        assert!(RingReader::attach(ro.clone(), 0, b[0].clone()).is_ok());
        // Unaligned / out-of-range offsets.
        for off in [4, 8, usize::MAX - 3] {
            assert!(matches!(
                RingReader::attach(ro.clone(), off, b[0].clone()),
                Err(Error::Malformed(_))
            ));
        }
        // A mapping shorter than the ring the header claims.
        let fd = sys::memfd_create("ring-short", 4096).unwrap();
        let small = Arc::new(Mapping::new(fd.as_fd(), 4096, true).unwrap());
        let w2 = RingWriter::new(small.clone(), 0, 8, 64, false).unwrap();
        drop(w2);
        small.write(H_CAPACITY, &1024u32.to_ne_bytes());
        assert!(matches!(
            RingReader::attach(small.clone(), 0, b[0].clone()),
            Err(Error::Malformed(_))
        ));
        // Capacity not a power of two, slot size too small, unknown flags, bad magic.
        let bad = |at: usize, val: u32| {
            let _ = RingWriter::new(rw.clone(), 0, 8, 64, false).unwrap();
            rw.write(at, &val.to_ne_bytes());
            RingReader::attach(ro.clone(), 0, b[0].clone())
        };
        assert!(matches!(bad(H_CAPACITY, 6), Err(Error::Malformed(_))));
        assert!(matches!(bad(H_CAPACITY, 0), Err(Error::Malformed(_))));
        assert!(matches!(bad(H_SLOT_SIZE, 16), Err(Error::Malformed(_))));
        assert!(matches!(bad(H_SLOT_SIZE, 60), Err(Error::Malformed(_))));
        assert!(matches!(bad(H_FLAGS, 2), Err(Error::Malformed(_))));
        assert!(matches!(bad(H_MAGIC, 0), Err(Error::Malformed(_))));
        assert!(matches!(bad(H_VERSION, 9), Err(Error::Malformed(_))));
        assert!(bad(H_FLAGS, 1).unwrap().is_lossless());
        drop(w);
        // The writer refuses bad geometry and read-only mappings.
        assert!(RingWriter::new(rw.clone(), 0, 6, 64, false).is_err());
        assert!(RingWriter::new(rw.clone(), 0, 8, 36, false).is_err());
        assert!(RingWriter::new(rw.clone(), 0, 16, 64, false).is_err());
        assert!(RingWriter::new(rw.clone(), 4, 4, 64, false).is_err());
        assert!(RingWriter::new(ro, 0, 8, 64, false).is_err());
        assert_eq!(required_size(8, 64), HEADER_SIZE + 512);
    }

    #[test]
    fn sleep_protocol_wakes_only_sleepers() {
        let (w, ro, _) = ring(8, 64, false);
        let b = blocks(3);
        let r0 = RingReader::attach(ro.clone(), 0, b[0].clone()).unwrap();
        let mut r1 = RingReader::attach(ro.clone(), 0, b[1].clone()).unwrap();
        let r2 = RingReader::attach(ro.clone(), 0, b[2].clone()).unwrap();

        assert!(r0.prepare_sleep(SleepMode::EventFd));
        assert_eq!(b[0].sleep_state(), 1);
        let p = w.publish(0, 0, 0, b"a", &b).unwrap();
        assert_eq!(p.wake, vec![0]);
        assert!(!p.futex);
        assert_eq!(b[0].sleep_state(), 0);
        // Data pending: no sleep.
        assert!(!r0.prepare_sleep(SleepMode::EventFd));
        assert!(!r2.prepare_sleep(SleepMode::Futex));
        assert_eq!(b[0].sleep_state(), 0);
        let p = w.publish(0, 0, 0, b"b", &b).unwrap();
        assert!(p.wake.is_empty() && !p.futex);

        // Eventfd helper: returns at once when data is pending, times out otherwise.
        let ev = sys::eventfd().unwrap();
        assert!(r1.wait_eventfd(ev.as_fd(), Some(Duration::from_secs(5))));
        let mut buf = Vec::new();
        while r1.next(&mut buf) != ReadResult::Empty {}
        let t = Instant::now();
        assert!(!r1.wait_eventfd(ev.as_fd(), Some(Duration::from_millis(20))));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(b[1].sleep_state(), 0);
        assert!(!r1.wait_futex(Some(Duration::from_millis(20))));
        assert_eq!(b[1].sleep_state(), 0);

        // A futex sleeper in another thread is woken by the writer's single FUTEX_WAKE.
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                let t = Instant::now();
                let woke = r1.wait_futex(Some(Duration::from_secs(10)));
                (woke, t.elapsed())
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while b[1].sleep_state() != SLEEP_FUTEX && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(b[1].sleep_state(), SLEEP_FUTEX);
            std::thread::sleep(Duration::from_millis(20));
            let p = w.publish(0, 0, 0, b"c", &b).unwrap();
            assert!(p.futex);
            let (woke, took) = h.join().unwrap();
            assert!(woke);
            assert!(took < Duration::from_secs(10));
        });
        assert_eq!(b[1].sleep_state(), 0);
    }

    // ----- cross-process -----

    const ROLE_ENV: &str = "FUSION_RING_TEST_ROLE";
    const FDS_ENV: &str = "FUSION_RING_TEST_FDS";
    const XP_CHILDREN: usize = 4;
    const XP_N: u64 = 3000;
    const XP_CAP: u32 = 16;
    const XP_SLOT: u32 = 128;
    /// Per-child status in the control memfd, after the cursor blocks: ready (u32),
    /// suspicious timeouts (u32), received (u64).
    const XP_STATUS: usize = 1024;

    fn xp_payload(seq: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&seq.to_le_bytes());
        out.resize(8 + (seq % 64) as usize, seq as u8);
    }

    fn inheritable(fd: &OwnedFd) -> OwnedFd {
        let dup = fd.try_clone().unwrap();
        sys::clear_cloexec(dup.as_fd()).unwrap();
        dup
    }

    fn kill_all(children: &mut [Child]) {
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    #[test]
    fn cross_process_subscribers_receive_everything_in_order() {
        let size = required_size(XP_CAP, XP_SLOT);
        let ring_fd = sys::memfd_create("xp-ring", size).unwrap();
        let ring_rw = Arc::new(Mapping::new(ring_fd.as_fd(), size, true).unwrap());
        let w = RingWriter::new(ring_rw, 0, XP_CAP, XP_SLOT, true).unwrap();
        // Subscribers can only map the ring read-only from now on.
        sys::memfd_seal_readonly(ring_fd.as_fd()).unwrap();
        let ctl_fd = sys::memfd_create("xp-ctl", 4096).unwrap();
        let ctl = Arc::new(Mapping::new(ctl_fd.as_fd(), 4096, true).unwrap());
        let blocks: Vec<CursorBlock> = (0..XP_CHILDREN)
            .map(|i| CursorBlock::new(ctl.clone(), i * CURSOR_BLOCK_SIZE).unwrap())
            .collect();
        let events: Vec<OwnedFd> = (0..XP_CHILDREN).map(|_| sys::eventfd().unwrap()).collect();

        let exe = std::env::current_exe().unwrap();
        let mut children = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            let (r, c, e) = (inheritable(&ring_fd), inheritable(&ctl_fd), inheritable(ev));
            let child = Command::new(&exe)
                .args([
                    "--exact",
                    "ring::tests::child_entry",
                    "--nocapture",
                    "--include-ignored",
                ])
                .env(ROLE_ENV, format!("sub:{i}"))
                .env(
                    FDS_ENV,
                    format!("{},{},{}", r.as_raw_fd(), c.as_raw_fd(), e.as_raw_fd()),
                )
                .stdout(Stdio::null())
                .spawn();
            drop((r, c, e));
            match child {
                Ok(ch) => children.push(ch),
                Err(err) => {
                    kill_all(&mut children);
                    panic!("spawn failed: {err}");
                }
            }
        }

        let status = |i: usize, at: usize| XP_STATUS + i * 16 + at;
        let deadline = Instant::now() + Duration::from_secs(30);
        // Wait until every child attached (its cursor is live).
        while (0..XP_CHILDREN).any(|i| {
            ctl.atomic_u32(status(i, 0))
                .unwrap()
                .load(Ordering::Acquire)
                == 0
        }) {
            let exited = children
                .iter_mut()
                .any(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                kill_all(&mut children);
                panic!("children did not attach (exited early: {exited})");
            }
            std::thread::sleep(Duration::from_millis(2));
        }

        let mut payload = Vec::new();
        let (mut full, mut futex_wakes, mut eventfd_wakes) = (0u64, 0u64, 0u64);
        for seq in 0..XP_N {
            xp_payload(seq, &mut payload);
            loop {
                match w.publish((seq % 3) as u32, 7, 0, &payload, &blocks) {
                    Ok(p) => {
                        assert_eq!(p.seq, seq);
                        futex_wakes += p.futex as u64;
                        eventfd_wakes += p.wake.len() as u64;
                        for i in p.wake {
                            sys::eventfd_signal(events[i].as_fd());
                        }
                        break;
                    }
                    Err(Error::WouldBlock) => {
                        full += 1;
                        if Instant::now() > deadline
                            || children
                                .iter_mut()
                                .any(|c| matches!(c.try_wait(), Ok(Some(_))))
                        {
                            kill_all(&mut children);
                            panic!("subscribers stopped consuming at {seq}");
                        }
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }

        let mut codes = vec![None; XP_CHILDREN];
        while codes.iter().any(Option::is_none) {
            for (i, c) in children.iter_mut().enumerate() {
                if codes[i].is_none() {
                    if let Ok(Some(st)) = c.try_wait() {
                        codes[i] = Some(st);
                    }
                }
            }
            if Instant::now() > deadline {
                kill_all(&mut children);
                panic!("children did not finish: {codes:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for (i, code) in codes.iter().enumerate() {
            let received = ctl
                .atomic_u64(status(i, 8))
                .unwrap()
                .load(Ordering::Acquire);
            let suspicious = ctl
                .atomic_u32(status(i, 4))
                .unwrap()
                .load(Ordering::Acquire);
            assert!(
                code.unwrap().success(),
                "child {i} failed: {code:?}, got {received}"
            );
            assert_eq!(received, XP_N, "child {i}");
            assert_eq!(
                suspicious, 0,
                "child {i} timed out with data pending (lost wake-up)"
            );
            assert_eq!(blocks[i].overruns(), 0);
            assert_eq!(blocks[i].cursor_value(), XP_N);
        }
        eprintln!(
            "cross-process ring: {XP_N} messages, back-pressure hit {full} times, \
             {futex_wakes} futex wake-ups, {eventfd_wakes} eventfd wake-ups"
        );
        assert!(
            futex_wakes > 0 && eventfd_wakes > 0,
            "both sleep modes were exercised"
        );
    }

    /// Body of the child processes of the cross-process test; does nothing when run normally.
    #[test]
    #[ignore = "run as a child process by cross_process_subscribers_receive_everything_in_order"]
    fn child_entry() {
        let Ok(role) = std::env::var(ROLE_ENV) else {
            return;
        };
        let i: usize = role.strip_prefix("sub:").unwrap().parse().unwrap();
        let fds: Vec<OwnedFd> = std::env::var(FDS_ENV)
            .unwrap()
            .split(',')
            .map(|n| sys::adopt_inherited_fd(n.parse().unwrap()).unwrap())
            .collect();
        let (ring_fd, ctl_fd, ev) = (&fds[0], &fds[1], &fds[2]);
        let size = sys::fd_size(ring_fd.as_fd()).unwrap();
        assert!(
            Mapping::new(ring_fd.as_fd(), size, true).is_err(),
            "ring must be sealed"
        );
        let ring = Arc::new(Mapping::new(ring_fd.as_fd(), size, false).unwrap());
        let ctl = Arc::new(Mapping::new(ctl_fd.as_fd(), 4096, true).unwrap());
        let block = CursorBlock::new(ctl.clone(), i * CURSOR_BLOCK_SIZE).unwrap();
        let mut r = RingReader::attach(ring, 0, block).unwrap();
        let status = |at: usize| XP_STATUS + i * 16 + at;
        ctl.atomic_u32(status(0))
            .unwrap()
            .store(1, Ordering::Release);

        let deadline = Instant::now() + Duration::from_secs(25);
        let (mut buf, mut want) = (Vec::new(), Vec::new());
        let (mut expected, mut sleeps) = (0u64, 0usize);
        while expected < XP_N {
            assert!(Instant::now() < deadline, "child {i} stuck at {expected}");
            match r.next(&mut buf) {
                ReadResult::Message {
                    seq,
                    channel,
                    origin,
                    ..
                } => {
                    assert_eq!(seq, expected);
                    assert_eq!((channel, origin), ((seq % 3) as u32, 7));
                    xp_payload(seq, &mut want);
                    assert_eq!(buf, want, "payload of {seq}");
                    expected += 1;
                    ctl.atomic_u64(status(8))
                        .unwrap()
                        .store(expected, Ordering::Release);
                }
                ReadResult::Empty => {
                    sleeps += 1;
                    let timeout = Duration::from_secs(1);
                    let t = Instant::now();
                    if (sleeps + i) % 2 == 0 {
                        r.wait_futex(Some(timeout));
                    } else {
                        r.wait_eventfd(ev.as_fd(), Some(timeout));
                    }
                    // Sleeping the whole timeout although an entry is pending now means the
                    // entry came while we slept and nobody woke us: a lost wake-up.
                    if t.elapsed() >= timeout && r.pending() > 0 {
                        ctl.atomic_u32(status(4))
                            .unwrap()
                            .fetch_add(1, Ordering::AcqRel);
                    }
                }
                ReadResult::Overrun { lost } => panic!("lossless ring overran by {lost}"),
            }
        }
    }
}
