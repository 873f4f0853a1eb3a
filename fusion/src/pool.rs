//! Shared-memory pools: a memfd, a TLSF allocator over it, and per-fusionee accounting.
//!
//! # Concept
//!
//! A **pool** is one memfd, mapped by the master and by every slave that needs it, with an
//! allocator that hands out blocks of it. The master owns every pool: it creates the memfd,
//! runs the allocator (slaves ask it for blocks over the socket), keeps the allocation table
//! and passes the fd to slaves with `SCM_RIGHTS`. The first 4 KiB of every pool is a
//! header ([`HEADER_SIZE`]: magic, version, id, size, access, name, and an area the master
//! may use for its own purposes, [`HEADER_USER_AREA`]); blocks come from the rest.
//!
//! Pools come in two kinds ([`PoolAccess`]):
//!
//! - **Read-only** pools hold master state (the core's shared objects). The master maps the
//!   memfd read-write, then seals it with `F_SEAL_FUTURE_WRITE`: from then on nobody, not
//!   even the master, can make a new writable mapping, whether from the fd passed over the
//!   socket or by reopening `/proc/<master>/fd/N`. A buggy or hostile slave can read master
//!   state but never corrupt it.
//! - **Writable** pools hold what slaves write: their pixel buffers, lock words, ring
//!   cursors. A slave can scribble over any byte of such a pool, so the master only ever
//!   copies data out of it (and validates what it reads).
//!
//! Both kinds are sealed against shrinking and growing (so no mapping ever faults with
//! `SIGBUS`) and their seals are locked (`F_SEAL_SEAL`), so a slave cannot add seals either.
//!
//! # Offsets, not pointers
//!
//! Every process maps a pool wherever its kernel puts it, so nothing in shared memory and
//! nothing on the wire is a pointer: a block is named by a [`ShmHandle`] — pool id, byte
//! offset from the start of the memfd, and length. DirectFB instead mapped every pool at
//! the same fixed address in every process; offsets need no address-space reservation and
//! work with ASLR. (Alignment is relative to the mapping, which is page-aligned everywhere,
//! so alignments up to [`MAX_ALIGN`] hold in every process.)
//!
//! # Accounting and reclaim
//!
//! Every block is recorded with the fusionee that allocated it (its *owner*). Only the
//! owner or the master ([`MASTER`]) may free or resize it; a wrong owner gets
//! [`Error::Access`], an unknown or already freed handle gets [`Error::NotFound`] — never a
//! panic, never a corrupted heap, because a handle is only believed after it was found in
//! the allocation table. When a fusionee leaves or dies the master calls
//! [`ShmPool::reclaim`] and gets back every byte it held (DirectFB leaked them). A per-owner
//! quota ([`ShmPool::set_quota`], counted in requested bytes) keeps one slave from
//! exhausting a pool.
//!
//! # The allocator
//!
//! TLSF (two-level segregated fit, the [`rlsf`] crate) allocates and frees in constant time
//! with bounded fragmentation, which is what a display server wants on its hot path, and
//! it manages an arbitrary memory range without asking the OS for anything.
//!
//! TLSF keeps its block headers next to the blocks. Here they do **not** live in the
//! shared memory: the allocator runs over a private, sparse *shadow* mapping of the same
//! size, and an allocation at shadow offset `o` is the block at offset `o` of the memfd. So
//! a slave writing anywhere in a writable pool can never corrupt the master's heap, the
//! shared memory holds nothing but user data, and only the shadow pages holding headers
//! ever cost memory. Untouched memfd pages cost nothing either; large blocks are given back
//! to the kernel when freed (writable pools only: the kernel refuses hole punching in pools
//! sealed read-only).
//!
//! # Performance notes
//!
//! `alloc`/`free` do no heap allocation on the fast path: one TLSF operation, one lookup in
//! the allocation table (a `HashMap` keyed by offset, pre-sized, with a cheap
//! multiplicative hash — keys are offsets the master chose, not attacker input) and one in
//! the per-owner table. `calloc` must zero (a block may be reused); large zeroed blocks in
//! writable pools are cleared by punching a hole rather than writing every byte.
//! `realloc` shrinks in place and grows by allocate-copy-free (TLSF's in-place growth
//! would copy inside the shadow, not the memfd).
//!
//! # Example
//!
//! ```
//! use fusion::pool::{PoolAccess, PoolView, ShmPool, MASTER};
//! use fusion::PoolId;
//!
//! // The master creates a pool (sparse: 1 MiB of address space, no memory yet).
//! let mut pool = ShmPool::create(PoolId(1), "example", 1 << 20, PoolAccess::ReadOnly)?;
//! let h = pool.alloc(MASTER, 64)?;
//! pool.write(h, b"state")?;
//!
//! // It passes `pool.fd()` to a slave over the socket; the slave maps it:
//! let fd = pool.fd().try_clone_to_owned()?;
//! let view = PoolView::open(PoolId(1), fd, PoolAccess::ReadOnly)?;
//! let mut buf = [0u8; 5];
//! view.read(h, &mut buf)?;
//! assert_eq!(&buf, b"state");
//! assert!(view.write(h, b"x").is_err()); // read-only pool
//!
//! pool.free(MASTER, h)?;
//! assert!(pool.free(MASTER, h).is_err()); // double free is refused
//! # Ok::<(), fusion::Error>(())
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::id::{FusioneeId, PoolId};

use crate::error::{Error, Result};
use crate::sys::{self, Mapping};

/// Owner id of the master: it may free or resize any block.
pub const MASTER: FusioneeId = crate::wire::MASTER_ID;
/// Bytes at the start of every pool reserved for the header; blocks never start below.
pub const HEADER_SIZE: usize = 4096;
/// Part of the header the master may use freely (through [`ShmPool::map`]), e.g. to
/// publish the offset of a root structure. Slaves see it (read-only for them in read-only
/// pools, but writable by any slave in writable pools).
pub const HEADER_USER_AREA: std::ops::Range<usize> = 512..HEADER_SIZE;
/// Default (and minimum) alignment of blocks: a cache line, so atomics of different
/// owners never share one.
pub const DEFAULT_ALIGN: usize = 64;
/// Largest alignment a block may ask for: a page (pixel buffers want it). Larger values
/// would not hold in other processes, whose mappings are only page-aligned.
pub const MAX_ALIGN: usize = 4096;
/// Longest pool name, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Magic number at offset 0 of every pool (`"FUSNPOOL"`).
pub const POOL_MAGIC: u64 = u64::from_le_bytes(*b"FUSNPOOL");
/// Version of the header layout.
pub const POOL_VERSION: u32 = 1;

// Header layout (little endian).
const H_MAGIC: usize = 0; // u64
const H_VERSION: usize = 8; // u32
const H_ID: usize = 12; // u32
const H_SIZE: usize = 16; // u64
const H_ACCESS: usize = 24; // u32: 0 read-only, 1 writable
const H_NAME_LEN: usize = 28; // u32
const H_NAME: usize = 32; // up to MAX_NAME_LEN bytes

/// Granularity in which freed or zeroed memory is given back to the kernel.
const PAGE: u64 = 4096;
/// Blocks at least this large give their whole pages back to the kernel when freed, and
/// are zeroed by hole punching in `calloc` (writable pools only).
const RELEASE_MIN: u64 = 128 * 1024;
/// Initial capacity of the allocation table (avoids rehashing on the hot path).
const TABLE_CAPACITY: usize = 1024;

/// How slaves may map a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoolAccess {
    /// Master state: slaves can only ever map it read-only (the memfd is sealed).
    ReadOnly,
    /// Data slaves write (pixel buffers, lock words): slaves may map it writable.
    Writable,
}

impl PoolAccess {
    fn to_u32(self) -> u32 {
        match self {
            PoolAccess::ReadOnly => 0,
            PoolAccess::Writable => 1,
        }
    }

    fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(PoolAccess::ReadOnly),
            1 => Some(PoolAccess::Writable),
            _ => None,
        }
    }
}

/// A block in a pool: pool id, byte offset from the start of the memfd, and length.
///
/// Valid in every process that maps the pool; it carries no pointer. The master believes a
/// handle only after finding it in its allocation table; a [`PoolView`] checks it against
/// the bounds of its mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShmHandle {
    /// Id of the pool the block lives in.
    pub pool: PoolId,
    /// Offset of the first byte from the start of the pool's memfd.
    pub offset: u64,
    /// Length in bytes (as requested).
    pub len: u64,
}

/// A snapshot of a pool's use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolStats {
    /// Pool id.
    pub id: PoolId,
    /// Pool name.
    pub name: String,
    /// How slaves may map it.
    pub access: PoolAccess,
    /// Size of the memfd, header included.
    pub size: u64,
    /// Bytes the allocator manages (size minus header and allocator bookkeeping).
    pub capacity: u64,
    /// Bytes currently allocated (as requested).
    pub used: u64,
    /// Live blocks.
    pub allocations: u64,
    /// Highest `used` ever seen.
    pub peak: u64,
    /// Per owner with live blocks: `(owner, bytes, blocks)`, sorted by owner.
    pub owners: Vec<(FusioneeId, u64, u32)>,
}

/// Hasher for the tables keyed by offsets and fusionee ids: a folded multiply, cheap and
/// good enough for keys that are multiples of 64. Not DoS-resistant; the master chooses
/// every key.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let m = (self.0 as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (m as u64) ^ ((m >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The allocator and its table: the only code in this module that uses `unsafe` (and, with
/// the benchmark binary, the only code in the crate: rlsf's API is raw pointers).
#[allow(unsafe_code)]
mod heap {
    use std::alloc::Layout;
    use std::collections::hash_map::Entry;
    use std::ptr::NonNull;

    use super::FastMap;
    use crate::error::{Error, Result};
    use crate::id::FusioneeId;
    use crate::sys::Mapping;

    /// TLSF with a 32-bit first level (blocks up to 128 GiB) and 32 second-level classes.
    type Tlsf = rlsf::Tlsf<'static, u32, u32, 32, 32>;

    /// One live block.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Block {
        pub owner: FusioneeId,
        pub len: u64,
        pub align: u32,
    }

    /// TLSF over a private shadow mapping, plus the table of live blocks.
    ///
    /// Invariant: an offset is a key of `blocks` iff `tlsf` handed out the shadow address
    /// `shadow + offset`, allocated with alignment `blocks[offset].align`, and it has not
    /// been given back since. Every `deallocate`/`reallocate` below removes or looks up its
    /// offset in `blocks` first, so no caller can make us hand TLSF a pointer it did not
    /// allocate, whatever handle it forges.
    pub(super) struct Heap {
        // Declared before `shadow`, so it is dropped first (it has no `Drop` and never
        // touches the memory when dropped, but the order keeps the reasoning simple).
        tlsf: Box<Tlsf>,
        blocks: FastMap<u64, Block>,
        shadow: Mapping,
        capacity: usize,
    }

    impl Heap {
        /// A heap managing offsets `start..size`.
        pub(super) fn new(size: usize, start: usize) -> Result<Self> {
            let shadow = Mapping::anonymous(size)?;
            let region = shadow
                .ptr_at(start, size.saturating_sub(start))
                .and_then(NonNull::new)
                .ok_or_else(|| Error::Invalid("pool smaller than its header".into()))?;
            let region = NonNull::slice_from_raw_parts(region, size - start);
            let mut tlsf = Box::new(Tlsf::new());
            // SAFETY: `insert_free_block_ptr` makes TLSF the owner of `region`, which must
            // outlive it. `region` lies inside `shadow`, a private anonymous mapping that
            // nothing else in the process knows of (we never give out pointers into it,
            // only offsets), and `shadow` is a field of the same struct as `tlsf`: it is
            // unmapped only when the `Heap` is dropped, after `tlsf` (field order), and a
            // move of the `Heap` moves the `Mapping` handle, not the mapped memory. That
            // is why the lifetime parameter can be `'static`: no reference with it ever
            // escapes (allocations leave this module as offsets).
            let inserted = unsafe { tlsf.insert_free_block_ptr(region) };
            let capacity = inserted
                .ok_or_else(|| Error::Invalid("pool too small for the allocator".into()))?;
            let mut blocks = FastMap::default();
            blocks.reserve(super::TABLE_CAPACITY);
            Ok(Self {
                tlsf,
                blocks,
                shadow,
                capacity: capacity.get(),
            })
        }

        /// Bytes the allocator manages.
        pub(super) fn capacity(&self) -> usize {
            self.capacity
        }

        /// Number of live blocks.
        pub(super) fn count(&self) -> usize {
            self.blocks.len()
        }

        /// The live block at `off`.
        pub(super) fn get(&self, off: u64) -> Option<&Block> {
            self.blocks.get(&off)
        }

        fn offset_of(&self, p: NonNull<u8>) -> u64 {
            (p.as_ptr() as usize - self.shadow.as_ptr() as usize) as u64
        }

        fn ptr_of(&self, off: u64) -> Option<NonNull<u8>> {
            self.shadow.ptr_at(off as usize, 0).and_then(NonNull::new)
        }

        /// Allocates `len` bytes aligned to `align` for `owner`; `None` when out of memory
        /// (or the layout is impossible).
        pub(super) fn alloc(&mut self, len: usize, align: usize, owner: FusioneeId) -> Option<u64> {
            let layout = Layout::from_size_align(len, align).ok()?;
            let p = self.tlsf.allocate(layout)?;
            let off = self.offset_of(p);
            self.blocks.insert(
                off,
                Block {
                    owner,
                    len: len as u64,
                    align: align as u32,
                },
            );
            Some(off)
        }

        /// Frees the block at `off` if `allow` accepts it.
        pub(super) fn free(
            &mut self,
            off: u64,
            allow: impl FnOnce(&Block) -> Result<()>,
        ) -> Result<Block> {
            let Entry::Occupied(e) = self.blocks.entry(off) else {
                return Err(Error::NotFound(format!("shm block at offset {off}")));
            };
            allow(e.get())?;
            let b = e.remove();
            let p = self.ptr_of(off).expect("live block inside the shadow");
            // SAFETY: `off` was a key of `blocks` (just removed), so by the invariant `p`
            // was allocated by `self.tlsf` with alignment `b.align` and not freed since.
            unsafe { self.tlsf.deallocate(p, b.align as usize) };
            Ok(b)
        }

        /// Shrinks the block at `off` to `new_len` bytes; returns its (normally unchanged)
        /// offset, `None` when `off` is not a live block or `new_len` is not smaller.
        /// If the offset changed, the caller must move the data (the shadow holds none).
        pub(super) fn shrink(&mut self, off: u64, new_len: usize) -> Option<u64> {
            let b = *self.blocks.get(&off)?;
            if new_len as u64 >= b.len {
                return None;
            }
            let layout = Layout::from_size_align(new_len, b.align as usize).ok()?;
            let p = self.ptr_of(off)?;
            // SAFETY: `off` is a key of `blocks`, so `p` was allocated by `self.tlsf` with
            // alignment `b.align` (the alignment of `layout`) and is live. Shrinking is
            // done in place by rlsf 0.2 (no copy); should it ever move the block, its copy
            // only touches shadow bytes, and we handle the new offset below. On `None`
            // the old block is untouched and still live.
            let q = unsafe { self.tlsf.reallocate(p, layout) }?;
            let new_off = self.offset_of(q);
            if new_off != off {
                self.blocks.remove(&off);
            }
            self.blocks.insert(
                new_off,
                Block {
                    len: new_len as u64,
                    ..b
                },
            );
            Some(new_off)
        }

        /// Frees every block of `owner`, calling `each(offset, block)` for each; returns
        /// `(blocks, bytes)` freed.
        pub(super) fn reclaim(
            &mut self,
            owner: FusioneeId,
            mut each: impl FnMut(u64, &Block),
        ) -> (u32, u64) {
            let (mut n, mut bytes) = (0u32, 0u64);
            let tlsf = &mut self.tlsf;
            let shadow = &self.shadow;
            self.blocks.retain(|&off, b| {
                if b.owner != owner {
                    return true;
                }
                let p = shadow
                    .ptr_at(off as usize, 0)
                    .and_then(NonNull::new)
                    .expect("live block inside the shadow");
                // SAFETY: `off` is a key of `blocks` (removed by returning `false`), so by
                // the invariant `p` was allocated by `tlsf` with alignment `b.align` and
                // is live.
                unsafe { tlsf.deallocate(p, b.align as usize) };
                each(off, b);
                n += 1;
                bytes += b.len;
                false
            });
            (n, bytes)
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct OwnerUse {
    bytes: u64,
    blocks: u32,
    quota: Option<u64>,
}

/// A shared-memory pool, master side: the memfd, the master's read-write mapping, the
/// allocator and the accounting.
///
/// `Send` (and `Sync`): the master may keep its pools in whichever thread runs its
/// dispatcher. Methods that change the pool take `&mut self`.
pub struct ShmPool {
    id: PoolId,
    name: String,
    access: PoolAccess,
    size: usize,
    heap: heap::Heap,
    owners: FastMap<FusioneeId, OwnerUse>,
    used: u64,
    peak: u64,
    map: std::sync::Arc<Mapping>,
    fd: OwnedFd,
}

impl std::fmt::Debug for ShmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmPool")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("access", &self.access)
            .field("size", &self.size)
            .field("used", &self.used)
            .field("allocations", &self.heap.count())
            .finish()
    }
}

fn check_align(align: usize) -> Result<usize> {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(Error::Invalid(format!(
            "alignment {align} (must be a power of two up to {MAX_ALIGN})"
        )));
    }
    Ok(align.max(DEFAULT_ALIGN))
}

fn check_size(size: usize) -> Result<()> {
    if size == 0 {
        return Err(Error::Invalid("zero-sized shm block".into()));
    }
    Ok(())
}

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// Gives the whole pages inside `off..off+len` back to the kernel, for large blocks of
/// writable pools (read-only pools refuse hole punching).
fn release_pages(fd: BorrowedFd<'_>, access: PoolAccess, off: u64, len: u64) {
    if access != PoolAccess::Writable || len < RELEASE_MIN {
        return;
    }
    let start = round_up(off, PAGE);
    let end = (off + len) / PAGE * PAGE;
    if end > start {
        // Best effort: on failure the pages just stay resident.
        let _ = sys::punch_hole(fd, start, end - start);
    }
}

fn map_io(e: std::io::Error, what: &str) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Error::Access(format!("{what}: {e}")),
        _ => Error::io(what, &e),
    }
}

impl ShmPool {
    /// Creates pool `id` named `name` of `size` bytes (rounded up to whole pages, header
    /// included), whose slaves may map it as `access` says.
    ///
    /// The memfd is sparse: only pages that are written cost memory.
    pub fn create(id: PoolId, name: &str, size: usize, access: PoolAccess) -> Result<Self> {
        if name.len() > MAX_NAME_LEN || name.contains('\0') {
            return Err(Error::Invalid(format!(
                "pool name must be at most {MAX_NAME_LEN} bytes without NUL"
            )));
        }
        let size = size
            .checked_next_multiple_of(PAGE as usize)
            .filter(|&s| s >= 2 * HEADER_SIZE)
            .ok_or_else(|| {
                Error::Invalid(format!("pool size {size} (at least {})", 2 * HEADER_SIZE))
            })?;
        let mut memfd_name = format!("fusion-pool-{id}-{name}");
        while memfd_name.len() > 200 {
            memfd_name.pop();
        }
        let fd = sys::memfd_create(&memfd_name, size)?;
        let map = Mapping::new(fd.as_fd(), size, true)?;
        let mut header = [0u8; H_NAME + MAX_NAME_LEN];
        header[H_MAGIC..H_MAGIC + 8].copy_from_slice(&POOL_MAGIC.to_le_bytes());
        header[H_VERSION..H_VERSION + 4].copy_from_slice(&POOL_VERSION.to_le_bytes());
        header[H_ID..H_ID + 4].copy_from_slice(&id.0.to_le_bytes());
        header[H_SIZE..H_SIZE + 8].copy_from_slice(&(size as u64).to_le_bytes());
        header[H_ACCESS..H_ACCESS + 4].copy_from_slice(&access.to_u32().to_le_bytes());
        header[H_NAME_LEN..H_NAME_LEN + 4].copy_from_slice(&(name.len() as u32).to_le_bytes());
        header[H_NAME..H_NAME + name.len()].copy_from_slice(name.as_bytes());
        if !map.write(0, &header) {
            return Err(Error::io(
                "writing the pool header",
                &std::io::Error::other("the header lies outside the mapping"),
            ));
        }
        if access == PoolAccess::ReadOnly {
            sys::memfd_seal_readonly(fd.as_fd())?;
        }
        sys::memfd_seal_final(fd.as_fd())?;
        let heap = heap::Heap::new(size, HEADER_SIZE)?;
        let mut owners = FastMap::default();
        owners.reserve(64);
        Ok(Self {
            id,
            name: name.to_owned(),
            access,
            size,
            heap,
            owners,
            used: 0,
            peak: 0,
            map: std::sync::Arc::new(map),
            fd,
        })
    }

    /// Pool id.
    pub fn id(&self) -> PoolId {
        self.id
    }

    /// Pool name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How slaves may map the pool.
    pub fn access(&self) -> PoolAccess {
        self.access
    }

    /// Size of the memfd in bytes, header included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The memfd, to pass to slaves (`SCM_RIGHTS`). For read-only pools it is sealed: a
    /// slave can map it read-only only.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The master's read-write mapping of the whole memfd (offset 0 is the header).
    pub fn map(&self) -> &Mapping {
        &self.map
    }

    /// The master's mapping, shared with structures that keep it (rings, locks).
    pub fn shared_map(&self) -> std::sync::Arc<Mapping> {
        self.map.clone()
    }

    fn check_pool(&self, h: &ShmHandle) -> Result<()> {
        if h.pool != self.id {
            return Err(Error::Invalid(format!(
                "handle of pool {} used with pool {}",
                h.pool, self.id
            )));
        }
        Ok(())
    }

    /// The live block `h` names, if any.
    fn lookup(&self, h: &ShmHandle) -> Result<heap::Block> {
        self.check_pool(h)?;
        match self.heap.get(h.offset) {
            Some(b) if b.len == h.len => Ok(*b),
            _ => Err(Error::NotFound(format!(
                "shm block {}+{} in pool {}",
                h.offset, h.len, self.id
            ))),
        }
    }

    /// Allocates `size` bytes for `owner`, aligned to [`DEFAULT_ALIGN`].
    pub fn alloc(&mut self, owner: FusioneeId, size: usize) -> Result<ShmHandle> {
        self.alloc_aligned(owner, size, DEFAULT_ALIGN)
    }

    /// Allocates `size` bytes for `owner`, aligned to `align` (a power of two up to
    /// [`MAX_ALIGN`]; smaller values are raised to [`DEFAULT_ALIGN`]).
    ///
    /// The contents are unspecified (a reused block keeps old data). Errors: `Invalid`
    /// (zero size, bad alignment), `Quota`, `NoMemory`.
    pub fn alloc_aligned(
        &mut self,
        owner: FusioneeId,
        size: usize,
        align: usize,
    ) -> Result<ShmHandle> {
        let align = check_align(align)?;
        check_size(size)?;
        let len = size as u64;
        let ou = self.owners.entry(owner).or_default();
        if let Some(q) = ou.quota {
            if ou.bytes.saturating_add(len) > q {
                return Err(Error::Quota(format!(
                    "fusionee {owner}: {} + {len} bytes exceeds {q} in pool {:?}",
                    ou.bytes, self.name
                )));
            }
        }
        let Some(offset) = self.heap.alloc(size, align, owner) else {
            return Err(Error::NoMemory(self.name.clone()));
        };
        ou.bytes += len;
        ou.blocks += 1;
        self.used += len;
        self.peak = self.peak.max(self.used);
        Ok(ShmHandle {
            pool: self.id,
            offset,
            len,
        })
    }

    /// Like [`alloc`](Self::alloc), zero-filled.
    pub fn calloc(&mut self, owner: FusioneeId, size: usize) -> Result<ShmHandle> {
        self.calloc_aligned(owner, size, DEFAULT_ALIGN)
    }

    /// Like [`alloc_aligned`](Self::alloc_aligned), zero-filled.
    pub fn calloc_aligned(
        &mut self,
        owner: FusioneeId,
        size: usize,
        align: usize,
    ) -> Result<ShmHandle> {
        let h = self.alloc_aligned(owner, size, align)?;
        self.zero(h.offset, h.len);
        Ok(h)
    }

    /// Zeroes `off..off+len`: large ranges of writable pools by punching a hole (no page
    /// is touched, resident ones are released), the rest by writing.
    fn zero(&self, off: u64, len: u64) {
        if self.access == PoolAccess::Writable && len >= RELEASE_MIN {
            let start = round_up(off, PAGE);
            let end = (off + len) / PAGE * PAGE;
            if end > start && sys::punch_hole(self.fd.as_fd(), start, end - start).is_ok() {
                self.map.fill(off as usize, (start - off) as usize, 0);
                self.map.fill(end as usize, (off + len - end) as usize, 0);
                return;
            }
        }
        self.map.fill(off as usize, len as usize, 0);
    }

    /// Resizes the block `h` to `new_size` bytes, keeping its contents (up to the smaller
    /// size) and its owner; returns the new handle (the old one is dead unless equal).
    ///
    /// Only the block's owner or the master may resize it. Shrinking happens in place;
    /// growing allocates a new block, copies and frees the old one, so on `NoMemory` or
    /// `Quota` the old block is still valid.
    pub fn realloc(
        &mut self,
        owner: FusioneeId,
        h: ShmHandle,
        new_size: usize,
    ) -> Result<ShmHandle> {
        check_size(new_size)?;
        let b = self.lookup(&h)?;
        if owner != MASTER && b.owner != owner {
            return Err(Error::Access(format!(
                "fusionee {owner} may not resize a block of fusionee {}",
                b.owner
            )));
        }
        let new_len = new_size as u64;
        if new_len == b.len {
            return Ok(h);
        }
        if new_len > b.len {
            let ou = self.owners.entry(b.owner).or_default();
            if let Some(q) = ou.quota {
                if ou.bytes - b.len + new_len > q {
                    return Err(Error::Quota(format!(
                        "fusionee {}: growing to {new_len} bytes exceeds {q} in pool {:?}",
                        b.owner, self.name
                    )));
                }
            }
        }
        let new_off = if new_len < b.len {
            match self.heap.shrink(h.offset, new_size) {
                Some(o) => {
                    if o != h.offset {
                        self.map
                            .copy_within(h.offset as usize, o as usize, new_size);
                    } else {
                        release_pages(self.fd.as_fd(), self.access, o + new_len, b.len - new_len);
                    }
                    o
                }
                None => self.move_block(h.offset, &b, new_size)?,
            }
        } else {
            self.move_block(h.offset, &b, new_size)?
        };
        let ou = self.owners.entry(b.owner).or_default();
        ou.bytes = ou.bytes - b.len + new_len;
        self.used = self.used - b.len + new_len;
        self.peak = self.peak.max(self.used);
        Ok(ShmHandle {
            pool: self.id,
            offset: new_off,
            len: new_len,
        })
    }

    /// Allocate-copy-free; the accounting is left to the caller.
    fn move_block(&mut self, off: u64, b: &heap::Block, new_size: usize) -> Result<u64> {
        let Some(new_off) = self.heap.alloc(new_size, b.align as usize, b.owner) else {
            return Err(Error::NoMemory(self.name.clone()));
        };
        let keep = b.len.min(new_size as u64) as usize;
        self.map.copy_within(off as usize, new_off as usize, keep);
        let freed = self.heap.free(off, |_| Ok(()));
        debug_assert!(freed.is_ok(), "old block vanished during realloc");
        release_pages(self.fd.as_fd(), self.access, off, b.len);
        Ok(new_off)
    }

    /// Frees the block `h` on behalf of `owner`, which must have allocated it (or be the
    /// [`MASTER`]). Errors: `Access` (someone else's block), `NotFound` (unknown handle,
    /// double free), `Invalid` (handle of another pool).
    pub fn free(&mut self, owner: FusioneeId, h: ShmHandle) -> Result<()> {
        self.check_pool(&h)?;
        let pool = self.id;
        let b = self.heap.free(h.offset, |b| {
            if b.len != h.len {
                Err(Error::NotFound(format!(
                    "shm block {}+{} in pool {pool}",
                    h.offset, h.len
                )))
            } else if owner != MASTER && b.owner != owner {
                Err(Error::Access(format!(
                    "fusionee {owner} may not free a block of fusionee {}",
                    b.owner
                )))
            } else {
                Ok(())
            }
        })?;
        if let Some(ou) = self.owners.get_mut(&b.owner) {
            ou.bytes -= b.len;
            ou.blocks -= 1;
        }
        self.used -= b.len;
        release_pages(self.fd.as_fd(), self.access, h.offset, b.len);
        Ok(())
    }

    /// Frees the block `h` whoever owns it (a master decision).
    pub fn free_any(&mut self, h: ShmHandle) -> Result<()> {
        self.free(MASTER, h)
    }

    /// Frees every block `owner` allocated (it left or died); returns `(blocks, bytes)`.
    /// Its quota, if any, stays set (see [`clear_quota`](Self::clear_quota)).
    pub fn reclaim(&mut self, owner: FusioneeId) -> (u32, u64) {
        let fd = self.fd.as_fd();
        let access = self.access;
        let (n, bytes) = self
            .heap
            .reclaim(owner, |off, b| release_pages(fd, access, off, b.len));
        if let Some(ou) = self.owners.get_mut(&owner) {
            ou.bytes = 0;
            ou.blocks = 0;
        }
        self.used -= bytes;
        (n, bytes)
    }

    /// Limits `owner` to `bytes` allocated bytes in this pool (requested sizes); further
    /// allocations fail with [`Error::Quota`]. Blocks it already has are kept.
    pub fn set_quota(&mut self, owner: FusioneeId, bytes: u64) {
        self.owners.entry(owner).or_default().quota = Some(bytes);
    }

    /// Removes `owner`'s quota.
    pub fn clear_quota(&mut self, owner: FusioneeId) {
        if let Some(ou) = self.owners.get_mut(&owner) {
            ou.quota = None;
        }
    }

    /// The owner of the live block `h`.
    pub fn owner_of(&self, h: ShmHandle) -> Result<FusioneeId> {
        Ok(self.lookup(&h)?.owner)
    }

    /// Bytes currently allocated (requested sizes).
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Usage snapshot.
    pub fn stats(&self) -> PoolStats {
        let mut owners: Vec<(FusioneeId, u64, u32)> = self
            .owners
            .iter()
            .filter(|(_, u)| u.blocks > 0)
            .map(|(&o, u)| (o, u.bytes, u.blocks))
            .collect();
        owners.sort_unstable();
        PoolStats {
            id: self.id,
            name: self.name.clone(),
            access: self.access,
            size: self.size as u64,
            capacity: self.heap.capacity() as u64,
            used: self.used,
            allocations: self.heap.count() as u64,
            peak: self.peak,
            owners,
        }
    }

    fn range(&self, h: &ShmHandle, at: usize, n: usize) -> Result<usize> {
        self.lookup(h)?;
        block_range(h, at, n)
    }

    /// Copies `out.len()` bytes from the start of block `h`.
    pub fn read(&self, h: ShmHandle, out: &mut [u8]) -> Result<()> {
        self.read_at(h, 0, out)
    }

    /// Copies `out.len()` bytes from byte `at` of block `h`.
    pub fn read_at(&self, h: ShmHandle, at: usize, out: &mut [u8]) -> Result<()> {
        let off = self.range(&h, at, out.len())?;
        bool_ok(self.map.read(off, out))
    }

    /// Copies `data` to the start of block `h`.
    pub fn write(&self, h: ShmHandle, data: &[u8]) -> Result<()> {
        self.write_at(h, 0, data)
    }

    /// Copies `data` to byte `at` of block `h`.
    pub fn write_at(&self, h: ShmHandle, at: usize, data: &[u8]) -> Result<()> {
        let off = self.range(&h, at, data.len())?;
        bool_ok(self.map.write(off, data))
    }

    /// Address of block `h` in the master's mapping, for zero-copy use. The memory may be
    /// written by slaves (writable pools) at any time: access it through raw pointers or
    /// atomics, never as `&[u8]`.
    pub fn ptr(&self, h: ShmHandle) -> Result<*mut u8> {
        let off = self.range(&h, 0, h.len as usize)?;
        self.map
            .ptr_at(off, h.len as usize)
            .ok_or_else(|| out_of_bounds(&h))
    }
}

fn out_of_bounds(h: &ShmHandle) -> Error {
    Error::Invalid(format!(
        "shm range {}+{} out of bounds of pool {}",
        h.offset, h.len, h.pool
    ))
}

fn bool_ok(ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid("shm range out of bounds".into()))
    }
}

/// Absolute offset of bytes `at..at+n` of block `h`, checked against the block and the
/// header (the mapping itself is checked again by [`Mapping`]).
fn block_range(h: &ShmHandle, at: usize, n: usize) -> Result<usize> {
    let inside = (at as u64)
        .checked_add(n as u64)
        .is_some_and(|end| end <= h.len);
    if !inside || h.offset < HEADER_SIZE as u64 {
        return Err(out_of_bounds(h));
    }
    let off = h
        .offset
        .checked_add(at as u64)
        .ok_or_else(|| out_of_bounds(h))?;
    usize::try_from(off).map_err(|_| out_of_bounds(h))
}

/// A slave's view of a pool: its mapping of the memfd the master passed, read-only or
/// writable.
///
/// A view cannot consult the master's allocation table, so it checks handles against the
/// bounds of the pool only: a forged handle reads or writes some other block of the same
/// pool at worst (which a slave could do through the mapping anyway), never outside it.
#[derive(Debug)]
pub struct PoolView {
    id: PoolId,
    name: String,
    access: PoolAccess,
    map: Mapping,
}

impl PoolView {
    /// Maps the pool memfd `fd` (all of it) as `access` says and validates its header.
    ///
    /// Errors: `Access` when asking for a writable view of a read-only pool (the kernel
    /// refuses the mapping), `Invalid` when the fd is not a pool or not pool `id`.
    pub fn open(id: PoolId, fd: OwnedFd, access: PoolAccess) -> Result<Self> {
        let size = sys::fd_size(fd.as_fd())?;
        if size < 2 * HEADER_SIZE {
            return Err(Error::Invalid(format!("fd of {size} bytes is not a pool")));
        }
        let writable = access == PoolAccess::Writable;
        let map = Mapping::new(fd.as_fd(), size, writable)
            .map_err(|e| map_io(e, &format!("mapping pool {id}")))?;
        let mut header = [0u8; H_NAME + MAX_NAME_LEN];
        bool_ok(map.read(0, &mut header))?;
        let u32_at = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().unwrap());
        if u64_at(H_MAGIC) != POOL_MAGIC || u32_at(H_VERSION) != POOL_VERSION {
            return Err(Error::Invalid(format!(
                "fd is not a fusion pool (pool {id})"
            )));
        }
        if u32_at(H_ID) != id.0 {
            return Err(Error::Invalid(format!(
                "fd holds pool {}, not pool {id}",
                u32_at(H_ID)
            )));
        }
        if u64_at(H_SIZE) != size as u64 {
            return Err(Error::Invalid(format!(
                "pool {id}: header says {} bytes, fd has {size}",
                u64_at(H_SIZE)
            )));
        }
        let pool_access = PoolAccess::from_u32(u32_at(H_ACCESS))
            .ok_or_else(|| Error::Invalid(format!("pool {id}: bad access field")))?;
        if writable && pool_access == PoolAccess::ReadOnly {
            return Err(Error::Access(format!("pool {id} is read-only")));
        }
        let name_len = (u32_at(H_NAME_LEN) as usize).min(MAX_NAME_LEN);
        let name = String::from_utf8_lossy(&header[H_NAME..H_NAME + name_len]).into_owned();
        Ok(Self {
            id,
            name,
            access,
            map,
        })
    }

    /// Pool id.
    pub fn id(&self) -> PoolId {
        self.id
    }

    /// Pool name, from the header.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How this view is mapped.
    pub fn access(&self) -> PoolAccess {
        self.access
    }

    /// The mapping (for atomics at offsets, e.g. lock words in a writable pool).
    pub fn map(&self) -> &Mapping {
        &self.map
    }

    fn range(&self, h: &ShmHandle, at: usize, n: usize) -> Result<usize> {
        if h.pool != self.id {
            return Err(Error::Invalid(format!(
                "handle of pool {} used with pool {}",
                h.pool, self.id
            )));
        }
        let off = block_range(h, at, n)?;
        // The whole block must lie in the mapping, not just the accessed part.
        let end = h.offset.checked_add(h.len);
        if end.is_none_or(|e| e > self.map.len() as u64) {
            return Err(out_of_bounds(h));
        }
        Ok(off)
    }

    /// Copies `out.len()` bytes from the start of block `h`.
    pub fn read(&self, h: ShmHandle, out: &mut [u8]) -> Result<()> {
        self.read_at(h, 0, out)
    }

    /// Copies `out.len()` bytes from byte `at` of block `h`.
    pub fn read_at(&self, h: ShmHandle, at: usize, out: &mut [u8]) -> Result<()> {
        let off = self.range(&h, at, out.len())?;
        bool_ok(self.map.read(off, out))
    }

    /// Copies `data` to the start of block `h`; `Access` error on read-only views.
    pub fn write(&self, h: ShmHandle, data: &[u8]) -> Result<()> {
        self.write_at(h, 0, data)
    }

    /// Copies `data` to byte `at` of block `h`; `Access` error on read-only views.
    pub fn write_at(&self, h: ShmHandle, at: usize, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        let off = self.range(&h, at, data.len())?;
        bool_ok(self.map.write(off, data))
    }

    fn check_writable(&self) -> Result<()> {
        if self.access != PoolAccess::Writable {
            return Err(Error::Access(format!(
                "pool {} is mapped read-only",
                self.id
            )));
        }
        Ok(())
    }

    /// Address of block `h` in this mapping, for zero-copy reading (bounds-checked). Other
    /// processes may write the memory concurrently: use raw pointers or atomics.
    pub fn ptr(&self, h: ShmHandle) -> Result<*const u8> {
        let off = self.range(&h, 0, h.len as usize)?;
        self.map
            .ptr_at(off, h.len as usize)
            .map(|p| p as *const u8)
            .ok_or_else(|| out_of_bounds(&h))
    }

    /// Writable address of block `h`, for zero-copy use by its owner (a slave drawing
    /// into its pixel buffer); `Access` error on read-only views.
    pub fn ptr_mut(&self, h: ShmHandle) -> Result<*mut u8> {
        self.check_writable()?;
        let off = self.range(&h, 0, h.len as usize)?;
        self.map
            .ptr_at(off, h.len as usize)
            .ok_or_else(|| out_of_bounds(&h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn pattern(h: &ShmHandle, seed: u8) -> Vec<u8> {
        (0..h.len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    fn read_all(pool: &ShmPool, h: ShmHandle) -> Vec<u8> {
        let mut v = vec![0u8; h.len as usize];
        pool.read(h, &mut v).unwrap();
        v
    }

    #[test]
    fn shm_pool_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ShmPool>();
        check::<PoolView>();
    }

    #[test]
    fn alloc_free_calloc_realloc_round_trips() {
        for access in [PoolAccess::ReadOnly, PoolAccess::Writable] {
            let mut pool = ShmPool::create(PoolId(3), "rt", 4 << 20, access).unwrap();
            let base = pool.used();
            let h = pool.alloc(MASTER, 100).unwrap();
            assert_eq!(h.pool, PoolId(3));
            assert_eq!(h.len, 100);
            assert!(h.offset >= HEADER_SIZE as u64);
            assert_eq!(h.offset % DEFAULT_ALIGN as u64, 0);
            pool.write(h, &[0xAA; 100]).unwrap();
            assert_eq!(read_all(&pool, h), vec![0xAA; 100]);
            assert_eq!(pool.owner_of(h).unwrap(), MASTER);
            pool.free(MASTER, h).unwrap();

            // calloc reuses the dirty block and must still hand out zeroes.
            let z = pool.calloc(MASTER, 100).unwrap();
            assert_eq!(z.offset, h.offset, "TLSF reuses the freed block");
            assert_eq!(read_all(&pool, z), vec![0; 100]);

            // Large calloc (hole punching on writable pools, fill on read-only ones).
            let big = pool.alloc_aligned(MASTER, 300_000, 4096).unwrap();
            assert_eq!(big.offset % 4096, 0);
            pool.write(big, &vec![0x55; 300_000]).unwrap();
            pool.free(MASTER, big).unwrap();
            let bigz = pool.calloc_aligned(MASTER, 300_001, 4096).unwrap();
            assert_eq!(bigz.offset, big.offset);
            assert!(read_all(&pool, bigz).iter().all(|&b| b == 0));
            pool.free(MASTER, bigz).unwrap();

            // realloc grow (with a neighbour in the way) and shrink keep the contents.
            let a = pool.alloc(FusioneeId(7), 64).unwrap();
            let blocker = pool.alloc(FusioneeId(7), 64).unwrap();
            let data = pattern(&a, 1);
            pool.write(a, &data).unwrap();
            let a2 = pool.realloc(FusioneeId(7), a, 10_000).unwrap();
            assert_eq!(a2.len, 10_000);
            let mut head = vec![0u8; 64];
            pool.read(a2, &mut head).unwrap();
            assert_eq!(head, data);
            assert!(
                pool.free(FusioneeId(7), a).is_err(),
                "the old handle is dead"
            );
            let data2 = pattern(&a2, 2);
            pool.write(a2, &data2).unwrap();
            let a3 = pool.realloc(FusioneeId(7), a2, 5000).unwrap();
            assert_eq!(a3.offset, a2.offset, "shrinking is in place");
            assert_eq!(read_all(&pool, a3), data2[..5000]);
            assert_eq!(pool.realloc(FusioneeId(7), a3, 5000).unwrap(), a3);
            assert_eq!(
                pool.stats().owners,
                vec![(MASTER, 100, 1), (FusioneeId(7), 5064, 2)]
            );
            pool.free(FusioneeId(7), a3).unwrap();
            pool.free(FusioneeId(7), blocker).unwrap();
            pool.free(MASTER, z).unwrap();
            assert_eq!(pool.used(), base);
            assert_eq!(pool.stats().allocations, 0);
            assert!(pool.stats().peak >= 300_001);
        }
    }

    #[test]
    fn pools_are_sparse_and_large_frees_give_memory_back() {
        let resident = |pool: &ShmPool| rustix::fs::fstat(pool.fd()).unwrap().st_blocks * 512;
        let mut pool =
            ShmPool::create(PoolId(8), "sparse", 64 << 20, PoolAccess::Writable).unwrap();
        assert!(resident(&pool) <= 8192, "only the header is resident");
        let h = pool.alloc_aligned(FusioneeId(2), 4 << 20, 4096).unwrap();
        pool.write(h, &vec![1u8; 4 << 20]).unwrap();
        assert!(resident(&pool) >= 4 << 20);
        pool.free(FusioneeId(2), h).unwrap();
        assert!(
            resident(&pool) <= 16384,
            "freed pages went back to the kernel"
        );
        let z = pool.calloc(FusioneeId(2), 4 << 20).unwrap();
        assert!(
            resident(&pool) <= 16384,
            "calloc punches instead of writing zeroes"
        );
        pool.free(FusioneeId(2), z).unwrap();
    }

    #[test]
    fn invalid_arguments() {
        assert!(matches!(
            ShmPool::create(PoolId(1), "tiny", 4096, PoolAccess::Writable),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            ShmPool::create(
                PoolId(1),
                &"x".repeat(MAX_NAME_LEN + 1),
                1 << 20,
                PoolAccess::Writable
            ),
            Err(Error::Invalid(_))
        ));
        assert!(ShmPool::create(
            PoolId(1),
            &"x".repeat(MAX_NAME_LEN),
            1 << 20,
            PoolAccess::Writable
        )
        .is_ok());
        let mut pool = ShmPool::create(PoolId(1), "args", 1 << 20, PoolAccess::Writable).unwrap();
        assert_eq!(pool.size(), 1 << 20);
        assert!(matches!(pool.alloc(MASTER, 0), Err(Error::Invalid(_))));
        assert!(matches!(
            pool.alloc_aligned(MASTER, 8, 3),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            pool.alloc_aligned(MASTER, 8, 8192),
            Err(Error::Invalid(_))
        ));
        let h = pool.alloc_aligned(MASTER, 8, 8).unwrap();
        assert_eq!(
            h.offset % DEFAULT_ALIGN as u64,
            0,
            "alignment is raised to 64"
        );
        assert!(matches!(pool.realloc(MASTER, h, 0), Err(Error::Invalid(_))));
        let mut four = [0u8; 9];
        assert!(pool.read(h, &mut four).is_err(), "read past the block");
        assert!(
            pool.write_at(h, 4, &[0; 5]).is_err(),
            "write past the block"
        );
        pool.write_at(h, 4, &[1; 4]).unwrap();
    }

    #[test]
    fn random_sequences_keep_the_heap_consistent() {
        for (seed, access) in [
            (0x1234_5678_9abc_def1u64, PoolAccess::Writable),
            (0x0fed_cba9_8765_4321, PoolAccess::ReadOnly),
            (42, PoolAccess::Writable),
        ] {
            let mut rng = Rng(seed);
            let mut pool = ShmPool::create(PoolId(9), "random", 8 << 20, access).unwrap();
            let base = pool.used();
            let mut live: Vec<(ShmHandle, u8, u32)> = Vec::new();
            let mut ooms = 0;
            for step in 0..4000u32 {
                let r = rng.below(100);
                if r < 50 || live.is_empty() {
                    let size = match rng.below(10) {
                        0 => 1 + rng.below(400_000) as usize,
                        1..=3 => 1 + rng.below(8192) as usize,
                        _ => 1 + rng.below(512) as usize,
                    };
                    let align = [64, 128, 256, 4096][rng.below(4) as usize];
                    let owner = 2 + rng.below(5) as u32;
                    let res = if rng.below(4) == 0 {
                        pool.calloc_aligned(FusioneeId(owner), size, align)
                    } else {
                        pool.alloc_aligned(FusioneeId(owner), size, align)
                    };
                    match res {
                        Ok(h) => {
                            assert_eq!(h.offset % align as u64, 0);
                            let seed = step as u8;
                            pool.write(h, &pattern(&h, seed)).unwrap();
                            live.push((h, seed, owner));
                        }
                        Err(Error::NoMemory(_)) => ooms += 1,
                        Err(e) => panic!("unexpected {e}"),
                    }
                } else if r < 85 {
                    let i = rng.below(live.len() as u64) as usize;
                    let (h, seed, owner) = live.swap_remove(i);
                    assert_eq!(
                        read_all(&pool, h),
                        pattern(&h, seed),
                        "block was overwritten"
                    );
                    pool.free(FusioneeId(owner), h).unwrap();
                    assert!(matches!(
                        pool.free(FusioneeId(owner), h),
                        Err(Error::NotFound(_))
                    ));
                } else {
                    let i = rng.below(live.len() as u64) as usize;
                    let (h, seed, owner) = live[i];
                    let new_size = 1 + rng.below(20_000) as usize;
                    match pool.realloc(FusioneeId(owner), h, new_size) {
                        Ok(h2) => {
                            let keep = h.len.min(h2.len) as usize;
                            let mut got = vec![0u8; keep];
                            pool.read(h2, &mut got).unwrap();
                            assert_eq!(got, pattern(&h, seed)[..keep]);
                            let seed = seed.wrapping_add(1);
                            pool.write(h2, &pattern(&h2, seed)).unwrap();
                            live[i] = (h2, seed, owner);
                        }
                        Err(Error::NoMemory(_)) => ooms += 1,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                if step % 97 == 0 {
                    let mut sorted: Vec<ShmHandle> = live.iter().map(|l| l.0).collect();
                    sorted.sort_by_key(|h| h.offset);
                    for w in sorted.windows(2) {
                        assert!(w[0].offset + w[0].len <= w[1].offset, "blocks overlap");
                    }
                    let st = pool.stats();
                    assert_eq!(st.allocations, live.len() as u64);
                    assert_eq!(st.used, live.iter().map(|l| l.0.len).sum::<u64>());
                    let per_owner: u64 = st.owners.iter().map(|o| o.1).sum();
                    assert_eq!(per_owner, st.used);
                }
            }
            let _ = ooms;
            for (h, seed, owner) in live.drain(..) {
                assert_eq!(read_all(&pool, h), pattern(&h, seed));
                pool.free(FusioneeId(owner), h).unwrap();
            }
            assert_eq!(pool.used(), base);
            assert_eq!(pool.stats().allocations, 0);
            assert!(pool.stats().owners.is_empty());
            // Everything coalesced again: nearly the whole pool is one free block (TLSF
            // rounds a request up to its size class, so ask for a little less).
            let cap = pool.stats().capacity as usize;
            let all = pool.alloc(MASTER, cap - cap / 16).unwrap();
            pool.free(MASTER, all).unwrap();
        }
    }

    #[test]
    fn wrong_owner_cannot_free_or_resize() {
        let mut pool = ShmPool::create(PoolId(2), "owners", 1 << 20, PoolAccess::Writable).unwrap();
        let h = pool.alloc(FusioneeId(5), 128).unwrap();
        assert!(matches!(pool.free(FusioneeId(6), h), Err(Error::Access(_))));
        assert!(matches!(
            pool.realloc(FusioneeId(6), h, 256),
            Err(Error::Access(_))
        ));
        assert_eq!(
            pool.owner_of(h).unwrap(),
            FusioneeId(5),
            "refusal changed nothing"
        );
        pool.free(FusioneeId(5), h).unwrap();

        let h = pool.alloc(FusioneeId(5), 128).unwrap();
        let h = pool.realloc(MASTER, h, 4096).unwrap();
        assert_eq!(
            pool.owner_of(h).unwrap(),
            FusioneeId(5),
            "master resizes keep the owner"
        );
        assert_eq!(pool.stats().owners, vec![(FusioneeId(5), 4096, 1)]);
        pool.free(MASTER, h).unwrap();

        let h = pool.alloc(FusioneeId(5), 128).unwrap();
        pool.free_any(h).unwrap();
        assert_eq!(pool.used(), 0);
    }

    #[test]
    fn double_free_and_forged_handles_are_refused() {
        let mut pool = ShmPool::create(PoolId(4), "forged", 1 << 20, PoolAccess::Writable).unwrap();
        let h = pool.alloc(FusioneeId(3), 256).unwrap();
        let keep = pool.alloc(FusioneeId(3), 256).unwrap();
        pool.free(FusioneeId(3), h).unwrap();
        assert!(matches!(
            pool.free(FusioneeId(3), h),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(pool.free(MASTER, h), Err(Error::NotFound(_))));
        assert!(matches!(
            pool.realloc(FusioneeId(3), h, 10),
            Err(Error::NotFound(_))
        ));
        let mut buf = [0u8; 4];
        assert!(
            pool.read(h, &mut buf).is_err(),
            "freed handles are dead for reads too"
        );

        let forged = [
            ShmHandle { len: 255, ..keep },
            ShmHandle {
                offset: keep.offset + 64,
                ..keep
            },
            ShmHandle {
                offset: 0,
                len: 16,
                pool: PoolId(4),
            },
            ShmHandle {
                offset: 8,
                len: 16,
                pool: PoolId(4),
            },
            ShmHandle {
                offset: u64::MAX - 7,
                len: 16,
                pool: PoolId(4),
            },
            ShmHandle {
                offset: (1 << 20) - 16,
                len: 1 << 40,
                pool: PoolId(4),
            },
            ShmHandle {
                offset: u64::MAX,
                len: u64::MAX,
                pool: PoolId(4),
            },
        ];
        for f in forged {
            assert!(
                matches!(pool.free(MASTER, f), Err(Error::NotFound(_))),
                "{f:?}"
            );
            assert!(
                matches!(pool.realloc(FusioneeId(3), f, 64), Err(Error::NotFound(_))),
                "{f:?}"
            );
            assert!(pool.read(f, &mut buf).is_err(), "{f:?}");
            assert!(pool.write(f, &buf).is_err(), "{f:?}");
            assert!(pool.ptr(f).is_err(), "{f:?}");
            assert!(pool.owner_of(f).is_err(), "{f:?}");
        }
        let other_pool = ShmHandle {
            pool: PoolId(99),
            ..keep
        };
        assert!(matches!(
            pool.free(FusioneeId(3), other_pool),
            Err(Error::Invalid(_))
        ));

        // Random garbage never panics and never frees the live block.
        let mut rng = Rng(7);
        for _ in 0..10_000 {
            let f = ShmHandle {
                pool: PoolId(4),
                offset: rng.next() % (2 << 20),
                len: rng.next() % 4096,
            };
            if f == keep {
                continue;
            }
            assert!(pool.free(FusioneeId(3), f).is_err());
        }
        assert_eq!(pool.stats().allocations, 1);
        pool.free(FusioneeId(3), keep).unwrap();

        // A slave view refuses out-of-range handles, and the header.
        let view = PoolView::open(
            PoolId(4),
            pool.fd().try_clone_to_owned().unwrap(),
            PoolAccess::Writable,
        )
        .unwrap();
        for f in forged.iter().skip(2) {
            assert!(
                matches!(view.read(*f, &mut buf), Err(Error::Invalid(_))),
                "{f:?}"
            );
            assert!(
                matches!(view.write(*f, &buf), Err(Error::Invalid(_))),
                "{f:?}"
            );
            assert!(view.ptr(*f).is_err(), "{f:?}");
            assert!(view.ptr_mut(*f).is_err(), "{f:?}");
        }
        assert!(view.read(other_pool, &mut buf).is_err());
        assert!(
            view.read(keep, &mut [0u8; 257]).is_err(),
            "longer than the block"
        );
        view.write_at(keep, 252, &buf).unwrap();
        assert!(view.write_at(keep, 253, &buf).is_err());
    }

    #[test]
    fn reclaim_frees_everything_of_one_owner() {
        let mut pool =
            ShmPool::create(PoolId(5), "reclaim", 4 << 20, PoolAccess::Writable).unwrap();
        let mine = pool.alloc(MASTER, 1000).unwrap();
        let mut theirs = Vec::new();
        for i in 0..50 {
            theirs.push(pool.alloc(FusioneeId(8), 100 + i).unwrap());
        }
        theirs.push(pool.calloc_aligned(FusioneeId(8), 1 << 20, 4096).unwrap());
        let other = pool.alloc(FusioneeId(9), 77).unwrap();
        let expected: u64 = theirs.iter().map(|h| h.len).sum();
        assert_eq!(pool.reclaim(FusioneeId(8)), (51, expected));
        assert_eq!(pool.reclaim(FusioneeId(8)), (0, 0));
        assert_eq!(pool.used(), 1077);
        assert_eq!(
            pool.stats().owners,
            vec![(MASTER, 1000, 1), (FusioneeId(9), 77, 1)]
        );
        for h in &theirs {
            assert!(matches!(
                pool.free(FusioneeId(8), *h),
                Err(Error::NotFound(_))
            ));
        }
        pool.free(FusioneeId(9), other).unwrap();
        pool.free(MASTER, mine).unwrap();
        assert_eq!(pool.used(), 0);
    }

    #[test]
    fn quota_is_enforced() {
        let mut pool = ShmPool::create(PoolId(6), "quota", 1 << 20, PoolAccess::Writable).unwrap();
        pool.set_quota(FusioneeId(7), 1000);
        let a = pool.alloc(FusioneeId(7), 600).unwrap();
        assert!(matches!(
            pool.alloc(FusioneeId(7), 600),
            Err(Error::Quota(_))
        ));
        assert!(matches!(
            pool.calloc(FusioneeId(7), 401),
            Err(Error::Quota(_))
        ));
        let b = pool.alloc(FusioneeId(8), 600).unwrap();
        assert!(matches!(
            pool.realloc(FusioneeId(7), a, 1001),
            Err(Error::Quota(_))
        ));
        let a = pool.realloc(FusioneeId(7), a, 1000).unwrap();
        assert!(matches!(pool.alloc(FusioneeId(7), 1), Err(Error::Quota(_))));
        pool.free(FusioneeId(7), a).unwrap();
        let c = pool.alloc(FusioneeId(7), 1000).unwrap();
        pool.clear_quota(FusioneeId(7));
        let d = pool.alloc(FusioneeId(7), 5000).unwrap();
        assert_eq!(pool.reclaim(FusioneeId(7)), (2, 6000));
        pool.set_quota(FusioneeId(7), 10);
        assert!(pool.alloc(FusioneeId(7), 11).is_err());
        let _ = (b, c, d);
    }

    #[test]
    fn out_of_memory_is_no_memory_and_recovers() {
        let mut pool =
            ShmPool::create(PoolId(7), "small", 64 * 1024, PoolAccess::Writable).unwrap();
        assert!(matches!(
            pool.alloc(MASTER, 1 << 20),
            Err(Error::NoMemory(_))
        ));
        assert!(matches!(
            pool.alloc(MASTER, usize::MAX),
            Err(Error::NoMemory(_))
        ));
        let mut hs = Vec::new();
        loop {
            match pool.alloc(FusioneeId(2), 1000) {
                Ok(h) => hs.push(h),
                Err(Error::NoMemory(name)) => {
                    assert_eq!(name, "small");
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(hs.len() > 40, "{} blocks", hs.len());
        let h0 = hs[0];
        assert!(matches!(
            pool.realloc(FusioneeId(2), h0, 50_000),
            Err(Error::NoMemory(_))
        ));
        assert_eq!(
            pool.owner_of(h0).unwrap(),
            FusioneeId(2),
            "failed realloc keeps the block"
        );
        for h in hs {
            pool.free(FusioneeId(2), h).unwrap();
        }
        let big = pool.alloc(MASTER, 50_000).unwrap();
        pool.free(MASTER, big).unwrap();
    }

    #[test]
    fn read_only_pool_cannot_be_mapped_writable() {
        let mut ro = ShmPool::create(PoolId(10), "ro", 1 << 20, PoolAccess::ReadOnly).unwrap();
        let h = ro.alloc(MASTER, 64).unwrap();
        ro.write(h, b"master state").unwrap();
        let len = ro.size();

        assert!(Mapping::new(ro.fd(), len, true).is_err());
        let path = format!("/proc/self/fd/{}", ro.fd().as_raw_fd());
        let reopened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(Mapping::new(reopened.as_fd(), len, true).is_err());
        assert!(
            rustix::fs::ftruncate(&reopened, 2 << 20).is_err(),
            "cannot grow"
        );
        assert!(
            rustix::fs::ftruncate(&reopened, 4096).is_err(),
            "cannot shrink"
        );
        assert!(
            rustix::io::write(&reopened, b"x").is_err(),
            "cannot write()"
        );
        assert!(matches!(
            PoolView::open(PoolId(10), reopened.into(), PoolAccess::Writable),
            Err(Error::Access(_))
        ));
        let view = PoolView::open(
            PoolId(10),
            ro.fd().try_clone_to_owned().unwrap(),
            PoolAccess::ReadOnly,
        )
        .unwrap();
        assert_eq!(view.name(), "ro");
        let mut buf = [0u8; 12];
        view.read(h, &mut buf).unwrap();
        assert_eq!(&buf, b"master state");
        assert!(matches!(view.write(h, b"x"), Err(Error::Access(_))));
        assert!(matches!(view.ptr_mut(h), Err(Error::Access(_))));
        assert!(view.ptr(h).is_ok());
        // The master's own mapping stays writable.
        ro.write(h, b"still mine").unwrap();
        ro.free(MASTER, h).unwrap();

        let rw = ShmPool::create(PoolId(11), "rw", 1 << 20, PoolAccess::Writable).unwrap();
        assert!(Mapping::new(rw.fd(), len, true).is_ok());
        let path = format!("/proc/self/fd/{}", rw.fd().as_raw_fd());
        let reopened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(Mapping::new(reopened.as_fd(), len, true).is_ok());
        assert!(
            rustix::fs::ftruncate(&reopened, 2 << 20).is_err(),
            "cannot grow"
        );
        assert!(
            rustix::fs::fcntl_add_seals(&reopened, rustix::fs::SealFlags::FUTURE_WRITE).is_err(),
            "a slave cannot seal a writable pool read-only for the others"
        );
        assert!(PoolView::open(PoolId(11), reopened.into(), PoolAccess::Writable).is_ok());
    }

    #[test]
    fn view_rejects_foreign_fds() {
        let fd = sys::memfd_create("not-a-pool", 1 << 16).unwrap();
        assert!(matches!(
            PoolView::open(PoolId(1), fd, PoolAccess::ReadOnly),
            Err(Error::Invalid(_))
        ));
        let pool = ShmPool::create(PoolId(12), "p", 1 << 16, PoolAccess::Writable).unwrap();
        let fd = pool.fd().try_clone_to_owned().unwrap();
        assert!(matches!(
            PoolView::open(PoolId(13), fd, PoolAccess::ReadOnly),
            Err(Error::Invalid(_))
        ));
        let tiny = sys::memfd_create("tiny", 100).unwrap();
        assert!(PoolView::open(PoolId(1), tiny, PoolAccess::ReadOnly).is_err());
    }

    const CHILD_ENV: &str = "FUSION_POOL_TEST_CHILD";
    const RO_ID: u32 = 20;
    const RW_ID: u32 = 21;

    fn handle_str(fd: i32, h: ShmHandle) -> String {
        format!("{fd}:{}:{}", h.offset, h.len)
    }

    fn parse_handle(s: &str, pool: u32) -> (i32, ShmHandle) {
        let v: Vec<u64> = s.split(':').map(|x| x.parse().unwrap()).collect();
        (
            v[0] as i32,
            ShmHandle {
                pool: PoolId(pool),
                offset: v[1],
                len: v[2],
            },
        )
    }

    /// Runs only in the child process of `second_process_reads_and_writes`.
    #[test]
    #[ignore = "child half of second_process_reads_and_writes"]
    fn child_entry() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (ro_spec, rw_spec) = spec.split_once(',').unwrap();
        let (ro_fd, ro_h) = parse_handle(ro_spec, RO_ID);
        let (rw_fd, rw_h) = parse_handle(rw_spec, RW_ID);
        let open = |fd: i32, write: bool| -> OwnedFd {
            std::fs::OpenOptions::new()
                .read(true)
                .write(write)
                .open(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .into()
        };

        // The read-only pool: readable, never writable (not even via /proc).
        assert!(matches!(
            PoolView::open(PoolId(RO_ID), open(ro_fd, true), PoolAccess::Writable),
            Err(Error::Access(_))
        ));
        let ro = PoolView::open(PoolId(RO_ID), open(ro_fd, false), PoolAccess::ReadOnly).unwrap();
        let mut buf = vec![0u8; ro_h.len as usize];
        ro.read(ro_h, &mut buf).unwrap();
        assert_eq!(buf, b"written by the master");
        assert!(ro.write(ro_h, b"evil").is_err());

        // The writable pool: the slave writes into its block.
        let rw = PoolView::open(PoolId(RW_ID), open(rw_fd, true), PoolAccess::Writable).unwrap();
        assert_eq!(rw.name(), "child-rw");
        rw.write(rw_h, b"written by the slave").unwrap();
        let word = rw.map().atomic_u32(rw_h.offset as usize + 60).unwrap();
        word.fetch_add(41, std::sync::atomic::Ordering::SeqCst);
    }

    #[test]
    fn second_process_reads_and_writes() {
        let mut ro =
            ShmPool::create(PoolId(RO_ID), "child-ro", 1 << 20, PoolAccess::ReadOnly).unwrap();
        let mut rw =
            ShmPool::create(PoolId(RW_ID), "child-rw", 1 << 20, PoolAccess::Writable).unwrap();
        let msg = b"written by the master";
        let ro_h = ro.alloc(MASTER, msg.len()).unwrap();
        ro.write(ro_h, msg).unwrap();
        let rw_h = rw.calloc(FusioneeId(2), 64).unwrap();
        rw.map()
            .atomic_u32(rw_h.offset as usize + 60)
            .unwrap()
            .store(1, std::sync::atomic::Ordering::SeqCst);

        // Inheritable duplicates; they are closed again right after the spawn.
        let ro_dup = ro.fd().try_clone_to_owned().unwrap();
        let rw_dup = rw.fd().try_clone_to_owned().unwrap();
        sys::clear_cloexec(ro_dup.as_fd()).unwrap();
        sys::clear_cloexec(rw_dup.as_fd()).unwrap();
        let spec = format!(
            "{},{}",
            handle_str(ro_dup.as_raw_fd(), ro_h),
            handle_str(rw_dup.as_raw_fd(), rw_h)
        );
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pool::tests::child_entry",
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, spec)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop((ro_dup, rw_dup));

        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child process hung");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            status.success(),
            "child failed: {status}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "child did not run the test:\n{stdout}"
        );

        let mut buf = [0u8; 20];
        rw.read(rw_h, &mut buf).unwrap();
        assert_eq!(&buf, b"written by the slave");
        let word = rw.map().atomic_u32(rw_h.offset as usize + 60).unwrap();
        assert_eq!(word.load(std::sync::atomic::Ordering::SeqCst), 42);
        let mut m = [0u8; 21];
        ro.read(ro_h, &mut m).unwrap();
        assert_eq!(&m, msg, "the slave could not change master state");
        rw.free(FusioneeId(2), rw_h).unwrap();
        ro.free(MASTER, ro_h).unwrap();
    }
}
