//! The baseline locks, both living in shared memory: a bare futex mutex and a glibc
//! robust process-shared `pthread_mutex_t`; and [`BenchLock`], the interface the lock
//! cases measure (Fusion's skirmish implements it to get its rows).

use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use fusionfb_sys::{self as sys, Mapping};

/// A lock the lock cases can measure.
pub trait BenchLock {
    /// Acquires the lock (blocking).
    fn lock(&self) -> io::Result<()>;
    /// Releases it.
    fn unlock(&self);
}

impl<L: BenchLock + ?Sized> BenchLock for &L {
    fn lock(&self) -> io::Result<()> {
        (**self).lock()
    }
    fn unlock(&self) {
        (**self).unlock()
    }
}

/// Ulrich Drepper's "mutex2" from *Futexes Are Tricky*: a three-state futex word
/// (0 free, 1 locked, 2 locked with possible waiters) on shared (non-private) futexes.
/// No robustness, no owner, no recursion: the floor a process-shared lock can reach.
#[derive(Debug, Clone, Copy)]
pub struct FutexMutex<'a> {
    word: &'a AtomicU32,
}

impl<'a> FutexMutex<'a> {
    /// A mutex over `word` (which must start at 0, e.g. in fresh shared memory).
    pub fn new(word: &'a AtomicU32) -> Self {
        Self { word }
    }
}

/// `cmpxchg` returning the old value, as in the paper.
fn cmpxchg(word: &AtomicU32, current: u32, new: u32) -> u32 {
    match word.compare_exchange(current, new, Acquire, Relaxed) {
        Ok(v) | Err(v) => v,
    }
}

impl BenchLock for FutexMutex<'_> {
    fn lock(&self) -> io::Result<()> {
        let mut c = cmpxchg(self.word, 0, 1);
        while c != 0 {
            if c == 2 || cmpxchg(self.word, 1, 2) != 0 {
                sys::futex_wait(self.word, 2, None);
            }
            c = cmpxchg(self.word, 0, 2);
        }
        Ok(())
    }

    fn unlock(&self) {
        if self.word.fetch_sub(1, Release) != 1 {
            self.word.store(0, Release);
            sys::futex_wake(self.word, 1);
        }
    }
}

/// A glibc `pthread_mutex_t` in shared memory, `PTHREAD_PROCESS_SHARED` and
/// `PTHREAD_MUTEX_ROBUST` (what a C program would use for a cross-process lock that
/// survives its holder's death).
#[derive(Debug)]
pub struct RobustPthreadMutex<'a> {
    m: *mut libc::pthread_mutex_t,
    _map: PhantomData<&'a Mapping>,
}

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        let e = io::Error::from_raw_os_error(r);
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

impl<'a> RobustPthreadMutex<'a> {
    /// Initialises a mutex at `offset` of `map` (forked partners share it as is).
    pub fn init(map: &'a Mapping, offset: usize) -> io::Result<Self> {
        let size = std::mem::size_of::<libc::pthread_mutex_t>();
        let align = std::mem::align_of::<libc::pthread_mutex_t>();
        let ptr = map
            .ptr_at(offset, size)
            .filter(|p| (*p as usize) % align == 0)
            .ok_or_else(|| io::Error::other("pthread mutex slot out of bounds or misaligned"))?
            .cast::<libc::pthread_mutex_t>();
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: standard attribute set-up on a local; `ptr` is in bounds, aligned, in a
        // writable shared mapping that outlives `Self` (the lifetime ties them), and
        // nothing else uses the slot yet.
        unsafe {
            check(
                libc::pthread_mutexattr_init(attr.as_mut_ptr()),
                "pthread_mutexattr_init",
            )?;
            let r = (|| {
                check(
                    libc::pthread_mutexattr_setpshared(
                        attr.as_mut_ptr(),
                        libc::PTHREAD_PROCESS_SHARED,
                    ),
                    "pthread_mutexattr_setpshared",
                )?;
                check(
                    libc::pthread_mutexattr_setrobust(
                        attr.as_mut_ptr(),
                        libc::PTHREAD_MUTEX_ROBUST,
                    ),
                    "pthread_mutexattr_setrobust",
                )?;
                check(
                    libc::pthread_mutex_init(ptr, attr.as_ptr()),
                    "pthread_mutex_init",
                )
            })();
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            r?;
        }
        Ok(Self {
            m: ptr,
            _map: PhantomData,
        })
    }
}

impl BenchLock for RobustPthreadMutex<'_> {
    fn lock(&self) -> io::Result<()> {
        // SAFETY: `m` is an initialised mutex in a live shared mapping.
        match unsafe { libc::pthread_mutex_lock(self.m) } {
            0 => Ok(()),
            libc::EOWNERDEAD => {
                // The partner died holding it: repair the lock, then fail the case.
                // SAFETY: we own the mutex now (EOWNERDEAD hands it over).
                unsafe {
                    libc::pthread_mutex_consistent(self.m);
                    libc::pthread_mutex_unlock(self.m);
                }
                Err(io::Error::other("pthread mutex: previous owner died"))
            }
            r => check(r, "pthread_mutex_lock"),
        }
    }

    fn unlock(&self) {
        // SAFETY: called only by the holder, on an initialised mutex in a live mapping.
        unsafe { libc::pthread_mutex_unlock(self.m) };
    }
}
