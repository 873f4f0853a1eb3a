//! # fusionfb-sys — the platform layer
//!
//! This crate's room in the house: every raw system call and ioctl fusionfb makes, and
//! (nearly) all of its `unsafe`. It sits under every other crate: Fusion (the IPC layer),
//! gfx-drivers (displays), fusionfb-input and the client library call these wrappers and are
//! safe Rust themselves (the iceoryx2 habit: keep the `unsafe` in one small room and test the
//! logic above it). The wrappers are thin: futex wait/wake on shared (not process-private)
//! words, memfd creation and sealing, shared mappings with bounds-checked atomic accessors,
//! eventfd doorbells, `SOCK_SEQPACKET` messages carrying file descriptors (`SCM_RIGHTS`),
//! peer credentials, pidfds and `flock`; the framebuffer ([`fb`]) and virtual-terminal
//! ([`vt`]) ioctls; `DMA_BUF_IOCTL_SYNC`; libseat, loaded at run time (`libseat`, feature
//! `libseat`); an epoll [`Poller`]; and [`source::Pollable`],
//! the one-fd event source every endpoint implements.
//!
//! Written by hand on `rustix` because no crate offers a shared-memory mapping that hands out
//! atomics at offsets with bounds and alignment checks, which is what every structure Fusion
//! keeps in shared memory needs.
//!
//! ```
//! use fusionfb_sys as sys;
//! use std::os::fd::AsFd;
//! let fd = sys::memfd_create("pool", 4096).unwrap();
//! let master = sys::Mapping::new(fd.as_fd(), 4096, true).unwrap();
//! sys::memfd_seal_readonly(fd.as_fd()).unwrap();
//! assert!(sys::Mapping::new(fd.as_fd(), 4096, true).is_err()); // no writable map any more
//! let slave = sys::Mapping::new(fd.as_fd(), 4096, false).unwrap();
//! master.atomic_u32(0).unwrap().store(5, std::sync::atomic::Ordering::Release);
//! assert_eq!(slave.atomic_u32(0).unwrap().load(std::sync::atomic::Ordering::Acquire), 5);
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::thread::futex;

/// Most file descriptors one message may carry.
pub const MAX_FDS: usize = 8;

/// Result of a futex wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutexWait {
    /// Woken (or the word already differed, or a spurious wake-up): re-check the word.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// `FUTEX_WAIT` on a word that may live in memory shared between processes.
///
/// Returns when the word no longer holds `expected`, when woken, on a signal, or after
/// `timeout`. Callers always re-check the word.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let ts = timeout.map(|d| rustix::thread::futex::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Err(Errno::TIMEDOUT) => FutexWait::TimedOut,
        _ => FutexWait::Woken,
    }
}

/// `FUTEX_WAKE` up to `count` waiters on a shared word; returns how many were woken.
pub fn futex_wake(word: &AtomicU32, count: u32) -> usize {
    futex::wake(word, futex::Flags::empty(), count).unwrap_or(0)
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// Runs `f` in the child after every `fork` of this process (`pthread_atfork`), to drop
/// per-thread caches that would be wrong there.
pub fn at_fork_child(f: extern "C" fn()) {
    // SAFETY: registering a plain function pointer; it runs in the child's only thread.
    unsafe {
        libc::pthread_atfork(None, None, Some(f));
    }
}

/// The calling process's id.
pub fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// Monotonic clock in nanoseconds (`CLOCK_MONOTONIC`, the clock input events carry).
pub fn now_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// How many CPUs the machine has online (not this process's affinity mask: a process
/// pinned to one CPU may still talk to one running on another).
pub fn online_cpus() -> usize {
    // SAFETY: a plain libc query.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Pins the thread or process `pid` (`None`: the calling thread) to `cpu`, or lets it run
/// on every CPU again (`None`: every CPU there may be, which the kernel narrows to the
/// online ones; not the count this thread sees, which is 1 while it is pinned).
pub fn pin_to_cpu(pid: Option<u32>, cpu: Option<usize>) -> std::io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    match cpu {
        Some(c) => set.set(c),
        None => (0..rustix::thread::CpuSet::MAX_CPU).for_each(|c| set.set(c)),
    }
    let pid = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32));
    rustix::thread::sched_setaffinity(pid, &set)?;
    Ok(())
}

/// The CPUs the calling thread may run on (its affinity mask), lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    rustix::thread::sched_getaffinity(None).map_or_else(
        |_| Vec::new(),
        |set| {
            (0..rustix::thread::CpuSet::MAX_CPU)
                .filter(|&c| set.is_set(c))
                .collect()
        },
    )
}

/// CPU time (user + system) this process has used, in ns (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn cpu_time_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Creates a memfd of `size` bytes, sealed against shrinking (it may still grow).
pub fn memfd_create(name: &str, size: usize) -> std::io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, size as u64)?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK)?;
    Ok(fd)
}

/// Forbids any new writable mapping or `write()` of a memfd (`F_SEAL_FUTURE_WRITE`) and
/// growing it. Mappings made before stay writable: the master maps its pools first, then
/// seals, then hands the fd to slaves, who can only map it read-only.
pub fn memfd_seal_readonly(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    rustix::fs::fcntl_add_seals(fd, SealFlags::FUTURE_WRITE | SealFlags::GROW)?;
    Ok(())
}

/// Fixes the size of a memfd for good and locks its seals (`F_SEAL_GROW | F_SEAL_SEAL`):
/// nobody holding the fd can grow it (shrinking is sealed at creation), nor add seals
/// later (a slave could otherwise add `F_SEAL_FUTURE_WRITE` to a writable pool and keep
/// every later slave from mapping it). Call after [`memfd_seal_readonly`], if at all.
pub fn memfd_seal_final(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    rustix::fs::fcntl_add_seals(fd, SealFlags::GROW | SealFlags::SEAL)?;
    Ok(())
}

/// Whether `fd` is a memfd sealed against shrinking (`F_SEAL_SHRINK`): its pages stay for as
/// long as a mapping of it lives, whoever else holds it.
pub fn memfd_cannot_shrink(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(SealFlags::SHRINK))
}

/// Gives the pages of `offset..offset + len` of a memfd back to the kernel
/// (`FALLOC_FL_PUNCH_HOLE`); they read as zeroes afterwards, in every mapping. Fails with
/// `EPERM` on memfds sealed with `F_SEAL_FUTURE_WRITE`.
pub fn punch_hole(fd: BorrowedFd<'_>, offset: u64, len: u64) -> std::io::Result<()> {
    rustix::fs::fallocate(
        fd,
        rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
        offset,
        len,
    )?;
    Ok(())
}

/// Clears `FD_CLOEXEC`, so the descriptor survives `exec` (to hand it to a child process).
pub fn clear_cloexec(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let mut flags = rustix::io::fcntl_getfd(fd)?;
    flags.remove(rustix::io::FdFlags::CLOEXEC);
    rustix::io::fcntl_setfd(fd, flags)?;
    Ok(())
}

/// Makes `cmd`'s child inherit the descriptors `keep` (their close-on-exec flag is cleared
/// in the child only, so they keep their numbers) and receive `SIGTERM` when this process
/// dies (`PR_SET_PDEATHSIG`), so a supervised child never outlives its supervisor unnoticed.
/// The child leaves at once (status 3) if this process is already gone when it starts.
pub fn inherit_and_die_with_parent(cmd: &mut std::process::Command, keep: Vec<i32>) {
    use std::os::unix::process::CommandExt;
    let parent = getpid();
    // SAFETY: between fork and exec only async-signal-safe calls are made (prctl, getppid,
    // fcntl through rustix's raw syscalls); nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            if libc::getppid() as u32 != parent {
                libc::_exit(3);
            }
            for &n in &keep {
                let fd = BorrowedFd::borrow_raw(n);
                clear_cloexec(fd)?;
            }
            Ok(())
        });
    }
}

/// Size of the file behind `fd`.
pub fn fd_size(fd: BorrowedFd<'_>) -> std::io::Result<usize> {
    let size = rustix::fs::fstat(fd)?.st_size as usize;
    if size > 0 {
        return Ok(size);
    }
    // Some kernels report 0 for a dma-buf in fstat; its end is where lseek says.
    match rustix::fs::seek(fd, rustix::fs::SeekFrom::End(0)) {
        Ok(end) => {
            let _ = rustix::fs::seek(fd, rustix::fs::SeekFrom::Start(0));
            Ok(end as usize)
        }
        Err(_) => Ok(size),
    }
}

/// `DMA_BUF_SYNC_READ`: the CPU reads in the bracketed access.
pub const DMA_BUF_SYNC_READ: u64 = 1;
/// `DMA_BUF_SYNC_WRITE`: the CPU writes in the bracketed access.
pub const DMA_BUF_SYNC_WRITE: u64 = 2;
/// `DMA_BUF_SYNC_START`: the access begins.
pub const DMA_BUF_SYNC_START: u64 = 0;
/// `DMA_BUF_SYNC_END`: the access ends.
pub const DMA_BUF_SYNC_END: u64 = 4;

/// `DMA_BUF_IOCTL_SYNC` on a dma-buf fd: brackets CPU access to its mapping (flags: one of
/// START/END with READ and/or WRITE), so caches are flushed or invalidated where the device
/// needs it. On an fd that is no dma-buf the kernel answers `ENOTTY`.
pub fn dma_buf_sync(fd: BorrowedFd<'_>, flags: u64) -> std::io::Result<()> {
    const OPCODE: rustix::ioctl::Opcode = rustix::ioctl::opcode::write::<u64>(b'b', 0);
    loop {
        // SAFETY: DMA_BUF_IOCTL_SYNC takes a pointer to one `struct dma_buf_sync { u64 }`,
        // which `Setter` passes and keeps alive for the call.
        let r =
            unsafe { rustix::ioctl::ioctl(fd, rustix::ioctl::Setter::<OPCODE, u64>::new(flags)) };
        match r {
            Err(Errno::INTR) | Err(Errno::AGAIN) => continue,
            r => return Ok(r?),
        }
    }
}

/// A shared mapping of a memfd (or any file), unmapped on drop.
///
/// Memory in it may change under our feet (other processes write it), so it never hands
/// out `&[u8]`; it copies bytes in and out and gives atomics at checked offsets.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
    /// Bytes mapped before `ptr` because mmap offsets must be page-aligned ([`Mapping::new_at`]).
    lead: usize,
}

// SAFETY: the mapping is plain shared memory; all access goes through atomics or copies.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, writable or read-only.
    pub fn new(fd: BorrowedFd<'_>, len: usize, writable: bool) -> std::io::Result<Self> {
        Self::new_at(fd, 0, len, writable)
    }

    /// Maps `len` bytes of `fd` from byte `offset` on, shared, writable or read-only: a region
    /// of a device's memory such as one half of a double-buffered framebuffer. `offset` need
    /// not be page-aligned (the mapping starts at the page holding it; the bytes before
    /// `offset` are mapped but never reachable). DRM dumb buffers are mapped this way too: at
    /// the fake offset `DRM_IOCTL_MODE_MAP_DUMB` gives, on the card's fd.
    pub fn new_at(
        fd: BorrowedFd<'_>,
        offset: u64,
        len: usize,
        writable: bool,
    ) -> std::io::Result<Self> {
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty mapping",
            ));
        }
        let page = page_size() as u64;
        let lead = (offset % page) as usize;
        let total = len.checked_add(lead).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "mapping too large")
        })?;
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh mapping at an address the kernel chooses; nothing aliases it yet.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                total,
                prot,
                MapFlags::SHARED,
                fd,
                offset - lead as u64,
            )?
        };
        let base = NonNull::new(base.cast::<u8>()).expect("mmap returned null");
        Ok(Self {
            // SAFETY: `lead` < `total`, so the pointer stays inside the mapping.
            ptr: unsafe { base.add(lead) },
            len,
            writable,
            lead,
        })
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: mappings have at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether this process may write through the mapping.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Base address (for allocators that manage the mapping, and for tests).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    #[inline]
    fn check(&self, offset: usize, len: usize, align: usize) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= self.len) && offset % align == 0
    }

    /// The `AtomicU32` at `offset`, or `None` when out of bounds or misaligned.
    #[inline]
    pub fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        if !self.check(offset, 4, 4) {
            return None;
        }
        // SAFETY: in bounds and aligned; AtomicU32 tolerates concurrent access; a read-only
        // mapping is only ever loaded from (callers use `load` on read-only maps; a store
        // would fault, which is a bug in Fusion, not memory unsafety).
        Some(unsafe { &*(self.ptr.as_ptr().add(offset) as *const AtomicU32) })
    }

    /// The `AtomicU64` at `offset`, or `None` when out of bounds or misaligned.
    #[inline]
    pub fn atomic_u64(&self, offset: usize) -> Option<&AtomicU64> {
        if !self.check(offset, 8, 8) {
            return None;
        }
        // SAFETY: as for `atomic_u32`.
        Some(unsafe { &*(self.ptr.as_ptr().add(offset) as *const AtomicU64) })
    }

    /// Copies `out.len()` bytes from `offset`; `false` when out of bounds.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> bool {
        if !self.check(offset, out.len(), 1) {
            return false;
        }
        // SAFETY: in bounds; a racing writer yields torn bytes, never UB for u8 copies
        // through raw pointers into a local buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        true
    }

    /// Copies `data` to `offset`; `false` when out of bounds or the mapping is read-only.
    pub fn write(&self, offset: usize, data: &[u8]) -> bool {
        if !self.writable || !self.check(offset, data.len(), 1) {
            return false;
        }
        // SAFETY: in bounds of a writable shared mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len())
        };
        true
    }

    /// Fills `len` bytes at `offset` with `byte`; `false` when out of bounds or read-only.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> bool {
        if !self.writable || !self.check(offset, len, 1) {
            return false;
        }
        // SAFETY: in bounds of a writable shared mapping.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(offset), byte, len) };
        true
    }

    /// Raw pointer to `offset` for zero-copy access by callers that own the range
    /// (a slave's own pixel buffer); `None` when `offset..offset+len` is out of bounds.
    pub fn ptr_at(&self, offset: usize, len: usize) -> Option<*mut u8> {
        if !self.check(offset, len, 1) {
            return None;
        }
        // SAFETY: in bounds.
        Some(unsafe { self.ptr.as_ptr().add(offset) })
    }

    /// A private, anonymous, read-write mapping of `len` zero bytes that reserves no swap
    /// (`MAP_NORESERVE`): pages cost memory only once written. Process-local scratch space,
    /// e.g. the out-of-band allocator metadata of a shared-memory pool.
    pub fn anonymous(len: usize) -> std::io::Result<Self> {
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty mapping",
            ));
        }
        // SAFETY: a fresh private mapping at an address the kernel chooses; nothing aliases it.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )?
        };
        Ok(Self {
            ptr: NonNull::new(ptr.cast()).expect("mmap returned null"),
            len,
            writable: true,
            lead: 0,
        })
    }

    /// Copies `len` bytes from `src` to `dst` inside the mapping (the ranges may overlap);
    /// `false` when either range is out of bounds or the mapping is read-only.
    pub fn copy_within(&self, src: usize, dst: usize, len: usize) -> bool {
        if !self.writable || !self.check(src, len, 1) || !self.check(dst, len, 1) {
            return false;
        }
        // SAFETY: both ranges are in bounds of a writable mapping; `copy` allows overlap.
        unsafe { std::ptr::copy(self.ptr.as_ptr().add(src), self.ptr.as_ptr().add(dst), len) };
        true
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we created this mapping (starting `lead` bytes before `ptr`) and nobody
        // else unmaps it.
        unsafe {
            let _ = rustix::mm::munmap(
                self.ptr.as_ptr().sub(self.lead).cast(),
                self.len + self.lead,
            );
        }
    }
}

pub mod fb;
pub mod heap;
#[cfg(feature = "libseat")]
pub mod libseat;
pub mod source;
pub mod view;
pub mod vt;

pub use heap::release_free_heap;
pub use view::LockedMapping;

/// The size of a memory page (mmap offsets are multiples of it).
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the running system.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Creates a non-blocking, close-on-exec eventfd (a doorbell).
pub fn eventfd() -> std::io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(
        0,
        EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
    )?)
}

/// Rings a doorbell (adds one to the eventfd counter).
pub fn eventfd_signal(fd: BorrowedFd<'_>) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Clears a non-blocking doorbell; returns whether it had rung.
pub fn eventfd_drain(fd: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8];
    matches!(rustix::io::read(fd, &mut buf), Ok(8))
}

/// Waits until one of `fds` is readable (or hung up) or `timeout` passes.
/// Returns, per fd, whether it is ready; `None` on timeout.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Option<Vec<bool>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(fd, PollFlags::IN))
        .collect();
    let ts = timeout.map(|d| rustix::time::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    });
    loop {
        match rustix::event::poll(&mut pfds, ts.as_ref()) {
            Ok(0) => return None,
            Ok(_) => return Some(pfds.iter().map(|p| !p.revents().is_empty()).collect()),
            Err(Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
}

/// A received message: bytes plus the file descriptors that came with it.
#[derive(Debug, Default)]
pub struct Received {
    /// The message bytes.
    pub data: Vec<u8>,
    /// Descriptors passed with `SCM_RIGHTS`.
    pub fds: Vec<OwnedFd>,
    /// The message was longer than the buffer and was cut (a protocol violation).
    pub truncated: bool,
}

/// Sends one `SOCK_SEQPACKET` message with optional descriptors. Never raises `SIGPIPE`.
pub fn send_msg(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty()
        && (fds.len() > MAX_FDS || !control.push(SendAncillaryMessage::ScmRights(fds)))
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "too many file descriptors in one message",
        ));
    }
    loop {
        match rustix::net::sendmsg(
            sock,
            &[IoSlice::new(data)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message of at most `max` bytes. `Ok(None)` means the peer hung up;
/// `WouldBlock` is returned as an error for non-blocking sockets with nothing queued.
pub fn recv_msg(
    sock: BorrowedFd<'_>,
    max: usize,
    dontwait: bool,
) -> std::io::Result<Option<Received>> {
    thread_local! {
        // One receive buffer per thread, reused: zeroing 64 KiB per packet would cost more
        // than the rest of a call's round trip.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut flags = RecvFlags::CMSG_CLOEXEC;
    if dontwait {
        flags |= RecvFlags::DONTWAIT;
    }
    let (msg, data) = BUF.with(|b| {
        let mut buf = b.borrow_mut();
        if buf.len() < max {
            buf.resize(max, 0);
        }
        loop {
            match rustix::net::recvmsg(
                sock,
                &mut [IoSliceMut::new(&mut buf[..max])],
                &mut control,
                flags,
            ) {
                Ok(m) => return Ok((m.clone(), buf[..m.bytes.min(max)].to_vec())),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(std::io::Error::from(e)),
            }
        }
    })?;
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(iter) = m {
            fds.extend(iter);
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    let truncated = msg.flags.contains(rustix::net::ReturnFlags::TRUNC)
        || msg.flags.contains(rustix::net::ReturnFlags::CTRUNC);
    Ok(Some(Received {
        data,
        fds,
        truncated,
    }))
}

/// Whether the peer of a connected socket has shut down or closed it (without waiting).
/// Tells a hang-up from an empty `SOCK_SEQPACKET` packet, which both read as zero bytes.
pub fn peer_hung_up(sock: BorrowedFd<'_>) -> bool {
    let mut pfd = [PollFd::new(&sock, PollFlags::RDHUP)];
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match rustix::event::poll(&mut pfd, Some(&zero)) {
        Ok(_) => pfd[0]
            .revents()
            .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR),
        Err(_) => true,
    }
}

/// Credentials of the process on the other end of a unix socket (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: u32,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Reads `SO_PEERCRED` of a connected unix socket.
pub fn peer_cred(sock: BorrowedFd<'_>) -> std::io::Result<PeerCred> {
    let c = rustix::net::sockopt::socket_peercred(sock)?;
    Ok(PeerCred {
        pid: c.pid.as_raw_nonzero().get() as u32,
        uid: c.uid.as_raw(),
        gid: c.gid.as_raw(),
    })
}

/// Opens a pidfd for `pid` (so a signal never reaches a recycled pid).
pub fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid as i32)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pid 0"))?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// Sends `SIGKILL` through a pidfd.
pub fn pidfd_kill(pidfd: BorrowedFd<'_>) -> std::io::Result<()> {
    Ok(rustix::process::pidfd_send_signal(
        pidfd,
        rustix::process::Signal::KILL,
    )?)
}

/// Sends `SIGTERM` through a pidfd.
pub fn pidfd_term(pidfd: BorrowedFd<'_>) -> std::io::Result<()> {
    Ok(rustix::process::pidfd_send_signal(
        pidfd,
        rustix::process::Signal::TERM,
    )?)
}

/// Sends `SIGHUP` through a pidfd (a reload request).
pub fn pidfd_hup(pidfd: BorrowedFd<'_>) -> std::io::Result<()> {
    Ok(rustix::process::pidfd_send_signal(
        pidfd,
        rustix::process::Signal::HUP,
    )?)
}

/// Whether the process behind a pidfd has exited (its pidfd polls readable).
pub fn pidfd_exited(pidfd: BorrowedFd<'_>) -> bool {
    poll_readable(&[pidfd], Some(Duration::ZERO)).is_some()
}

/// Takes an exclusive `flock` without blocking; `false` when another process holds it.
pub fn try_flock_exclusive(fd: BorrowedFd<'_>) -> std::io::Result<bool> {
    match rustix::fs::flock(fd, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> std::io::Result<()> {
    let mut fl = rustix::fs::fcntl_getfl(fd)?;
    fl.set(rustix::fs::OFlags::NONBLOCK, on);
    rustix::fs::fcntl_setfl(fd, fl)?;
    Ok(())
}

/// Path of the running executable, for introspection.
pub fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Takes ownership of a descriptor number inherited across `exec` (named by the parent, for
/// instance in an environment variable) and marks it close-on-exec again.
///
/// Fails with `EBADF` when no such descriptor is open. Call it once per number, at start-up,
/// for numbers nothing else in the process owns (a second call would close it twice).
pub fn adopt_inherited_fd(raw: i32) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    if raw < 0 {
        return Err(Errno::BADF.into());
    }
    // SAFETY: borrowed only for the duration of the fcntl calls; `F_GETFD` tells us the
    // number names an open descriptor before we take it over.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    rustix::io::fcntl_getfd(borrowed)?;
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC)?;
    // SAFETY: the descriptor is open (checked above) and, per this function's contract, owned
    // by nothing else in this process.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The gid of group `name` (`getgrnam_r`, growing its buffer on `ERANGE`); `NotFound` when
/// there is no such group.
pub fn group_id(name: &str) -> std::io::Result<u32> {
    use std::io::{Error, ErrorKind};
    let cname = std::ffi::CString::new(name)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "group name contains a NUL byte"))?;
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: `libc::group` is plain data (integers and pointers); all zeroes is a valid value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `cname` is NUL-terminated, `grp` and
        // `found` are live locals, and `buf` is writable for `buf.len()` bytes. We read only
        // `gr_gid`, a plain integer, so nothing points into `buf` after it is dropped.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(Error::from_raw_os_error(rc));
        }
        if found.is_null() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no group named {name:?}"),
            ));
        }
        return Ok(grp.gr_gid);
    }
}

/// A calendar time in the local time zone (what `localtime_r` gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Day of the week, 0 (Sunday) – 6.
    pub weekday: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–60 (a leap second).
    pub second: u32,
}

/// Reads the time zone (`TZ`, else `/etc/localtime`) into libc's globals (`tzset`). Call it
/// once at start, before other threads exist; [`local_time`] then uses the zone.
pub fn load_time_zone() {
    extern "C" {
        fn tzset();
    }
    // SAFETY: `tzset` reads `TZ` and the zone files into libc's globals; the caller calls it
    // before other threads exist, so nothing races with it.
    unsafe { tzset() };
}

/// `secs` since the Unix epoch as a calendar time in the local time zone (`localtime_r`).
pub fn local_time(secs: i64) -> LocalTime {
    let secs = secs as libc::time_t;
    // SAFETY: `localtime_r` only reads `secs` and writes the `tm` we own; it is the
    // thread-safe variant. A zeroed `tm` is a valid value of the plain C struct.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    let u = |v: libc::c_int| v.max(0) as u32;
    LocalTime {
        year: tm.tm_year + 1900,
        month: u(tm.tm_mon + 1),
        day: u(tm.tm_mday),
        weekday: u(tm.tm_wday).min(6),
        hour: u(tm.tm_hour),
        minute: u(tm.tm_min),
        second: u(tm.tm_sec),
    }
}

/// Borrowed view helper used where an `OwnedFd` must be lent out.
pub fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    fd.as_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_at_an_offset_sees_that_page() {
        let fd = memfd_create("t", 3 * 4096).unwrap();
        let whole = Mapping::new(fd.as_fd(), 3 * 4096, true).unwrap();
        assert!(whole.write(2 * 4096 + 5, &[42]));
        let tail = Mapping::new_at(fd.as_fd(), 2 * 4096, 4096, false).unwrap();
        let mut b = [0u8; 1];
        assert!(tail.read(5, &mut b));
        assert_eq!(b[0], 42);
        // An unaligned offset maps from the page holding it.
        let odd = Mapping::new_at(fd.as_fd(), 2 * 4096 - 5, 16, false).unwrap();
        assert!(odd.read(10, &mut b));
        assert_eq!(b[0], 42);
    }

    #[test]
    fn dma_buf_sync_on_a_memfd_is_enotty_and_size_is_fstat() {
        let fd = memfd_create("t", 8192).unwrap();
        let e = dma_buf_sync(fd.as_fd(), DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::NOTTY.raw_os_error()));
        assert_eq!(fd_size(fd.as_fd()).unwrap(), 8192);
    }

    #[test]
    fn memfd_map_atomics_and_bounds() {
        let fd = memfd_create("t", 4096).unwrap();
        let m = Mapping::new(fd.as_fd(), 4096, true).unwrap();
        m.atomic_u32(8)
            .unwrap()
            .store(7, std::sync::atomic::Ordering::SeqCst);
        let ro = Mapping::new(fd.as_fd(), 4096, false).unwrap();
        assert_eq!(
            ro.atomic_u32(8)
                .unwrap()
                .load(std::sync::atomic::Ordering::SeqCst),
            7
        );
        assert!(m.atomic_u32(4094).is_none());
        assert!(m.atomic_u32(3).is_none());
        assert!(!ro.write(0, b"x"));
        assert!(m.write(100, b"abc"));
        let mut out = [0u8; 3];
        assert!(ro.read(100, &mut out));
        assert_eq!(&out, b"abc");
    }

    #[test]
    fn sealed_memfd_refuses_writable_maps() {
        let fd = memfd_create("t", 4096).unwrap();
        let rw = Mapping::new(fd.as_fd(), 4096, true).unwrap();
        memfd_seal_readonly(fd.as_fd()).unwrap();
        assert!(Mapping::new(fd.as_fd(), 4096, true).is_err());
        assert!(Mapping::new(fd.as_fd(), 4096, false).is_ok());
        assert!(rw.write(0, b"still"));
    }

    #[test]
    fn seqpacket_carries_fds() {
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let e = eventfd().unwrap();
        send_msg(a.as_fd(), b"hello", &[e.as_fd()]).unwrap();
        let r = recv_msg(b.as_fd(), 64, false).unwrap().unwrap();
        assert_eq!(r.data, b"hello");
        assert_eq!(r.fds.len(), 1);
        eventfd_signal(r.fds[0].as_fd());
        assert!(eventfd_drain(e.as_fd()));
        assert_eq!(peer_cred(a.as_fd()).unwrap().pid, getpid());
        drop(a);
        assert!(recv_msg(b.as_fd(), 64, false).unwrap().is_none());
    }
}

/// An epoll set: the one pollable fd behind every Fusion endpoint.
#[derive(Debug)]
pub struct Poller {
    fd: OwnedFd,
}

impl Poller {
    /// Creates an empty set.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            fd: rustix::event::epoll::create(rustix::event::epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Watches `fd` for readability (and hang-up), reporting `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> std::io::Result<()> {
        use rustix::event::epoll;
        epoll::add(
            &self.fd,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
        )?;
        Ok(())
    }

    /// Watches `fd` edge-triggered: every write to an eventfd reports `token` once, and
    /// nobody needs to read the counter back (a doorbell costs one syscall, not two).
    pub fn add_edge(&self, fd: BorrowedFd<'_>, token: u64) -> std::io::Result<()> {
        use rustix::event::epoll;
        epoll::add(
            &self.fd,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        Ok(())
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: BorrowedFd<'_>) {
        let _ = rustix::event::epoll::delete(&self.fd, fd);
    }

    /// Waits up to `timeout` (`None`: forever) and returns the ready tokens.
    pub fn wait(&self, timeout: Option<Duration>, out: &mut Vec<u64>) -> std::io::Result<()> {
        out.clear();
        let ts = timeout.map(|d| rustix::time::Timespec {
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as _,
        });
        // On the stack: a wait allocates nothing (a slave waits on every dispatch).
        let mut events = [std::mem::MaybeUninit::<rustix::event::epoll::Event>::uninit(); 64];
        match rustix::event::epoll::wait(&self.fd, &mut events, ts.as_ref()) {
            Ok((ready, _)) => out.extend(ready.iter().map(|e| e.data.u64())),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

impl AsFd for Poller {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Creates a non-blocking listening `SOCK_SEQPACKET` socket at `path`.
pub fn listen_seqpacket(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    use rustix::net::*;
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    bind(&fd, &SocketAddrUnix::new(path)?)?;
    listen(&fd, 64)?;
    Ok(fd)
}

/// Connects a blocking `SOCK_SEQPACKET` socket to `path`.
pub fn connect_seqpacket(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    use rustix::net::*;
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(fd)
}

/// Accepts one pending connection, non-blocking; `Ok(None)` when none waits.
pub fn accept(listener: BorrowedFd<'_>) -> std::io::Result<Option<OwnedFd>> {
    use rustix::net::*;
    match accept_with(listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::AGAIN) => Ok(None),
        Err(Errno::INTR) | Err(Errno::CONNABORTED) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A fixed-size window of a shared mapping whose bounds were checked once, at creation:
/// fields at constant offsets are then reached without a runtime check (the offsets are
/// checked at compile time). For hot paths such as a lock's uncontended prevail/dismiss.
#[derive(Debug, Clone)]
pub struct Window<const LEN: usize> {
    map: std::sync::Arc<Mapping>,
    base: NonNull<u8>,
}

// SAFETY: like `Mapping`, the window is plain shared memory reached through atomics; the
// `Arc` keeps the mapping alive as long as the window.
unsafe impl<const LEN: usize> Send for Window<LEN> {}
// SAFETY: as above.
unsafe impl<const LEN: usize> Sync for Window<LEN> {}

impl<const LEN: usize> Window<LEN> {
    /// The `LEN` bytes at `offset` (8-byte aligned) of `map`, or `None` when out of bounds.
    pub fn new(map: std::sync::Arc<Mapping>, offset: usize) -> Option<Self> {
        if !map.check(offset, LEN, 8) {
            return None;
        }
        // SAFETY: offset + LEN is within the mapping (checked above).
        let base = unsafe { NonNull::new_unchecked(map.as_ptr().add(offset)) };
        Some(Self { map, base })
    }

    /// The mapping this window looks into.
    pub fn mapping(&self) -> &std::sync::Arc<Mapping> {
        &self.map
    }

    /// The `AtomicU32` at constant offset `OFF` (checked against `LEN` at compile time).
    #[inline(always)]
    pub fn u32<const OFF: usize>(&self) -> &AtomicU32 {
        const { assert!(OFF + 4 <= LEN && OFF % 4 == 0, "field outside the window") };
        // SAFETY: in bounds (compile-time check above, window checked at creation) and
        // aligned (base is 8-aligned, OFF a multiple of 4); alive as long as `self.map`.
        unsafe { &*(self.base.as_ptr().add(OFF) as *const AtomicU32) }
    }
}
