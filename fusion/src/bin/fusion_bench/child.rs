//! Partner processes: fork one, run a benchmark loop in it, and reap it — or kill and
//! reap it when anything goes wrong.
//!
//! `fork` is safe here because the bench binary is single-threaded: it forks only from
//! the main thread, before it has started any other thread, so the child inherits no lock
//! held by a thread that does not exist in it. The child only runs the loop it was given
//! and leaves with `_exit` (no destructors, no flushing of inherited buffers, no return
//! into the parent's code).
//!
//! Nothing is left running: a [`Child`] that is dropped without a successful
//! [`Child::wait`] is `SIGKILL`ed and reaped; the hang guard in `main` kills and reaps
//! every registered child ([`kill_all`]) before it ends the process; and every child asks
//! the kernel to `SIGKILL` it when the parent dies anyway (`PR_SET_PDEATHSIG`).

use std::io;
use std::io::Write;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// Pids of children not yet reaped, for [`kill_all`] (a signal handler cannot walk a
/// `Vec`). More children than slots at once would only escape `kill_all`, not `Drop`.
static LIVE: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

fn register(pid: libc::pid_t) {
    let _ = LIVE
        .iter()
        .find(|slot| slot.compare_exchange(0, pid, SeqCst, SeqCst).is_ok());
}

fn unregister(pid: libc::pid_t) {
    for slot in &LIVE {
        let _ = slot.compare_exchange(pid, 0, SeqCst, SeqCst);
    }
}

/// Kills and reaps every child not yet reaped. Async-signal-safe (atomics, `kill`,
/// `waitpid`): the hang guard calls it from its `SIGALRM` handler.
pub fn kill_all() {
    for slot in &LIVE {
        let pid = slot.swap(0, SeqCst);
        if pid > 0 {
            // SAFETY: our own unreaped child; plain system calls.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                while libc::waitpid(pid, std::ptr::null_mut(), 0) < 0
                    && *libc::__errno_location() == libc::EINTR
                {}
            }
        }
    }
}

/// A forked partner process; killed and reaped on drop unless it was waited for.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

/// Forks a partner process that runs `f` and exits (status 0 when `f` returns `Ok`).
///
/// Must be called from the main thread of a single-threaded process (see the module doc).
/// In the parent, `f` is dropped right away, so descriptors it owns (the child's ends of
/// socket pairs) are closed there.
pub fn spawn<F: FnOnce() -> io::Result<()>>(f: F) -> io::Result<Child> {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: plain libc calls; the process is single-threaded when it forks (module doc).
    let parent = unsafe { libc::getpid() };
    // SAFETY: as above.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the child: ask to die with the parent, and leave if it is already
        // gone (then we were reparented before the request took effect).
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if libc::getppid() != parent {
                libc::_exit(3);
            }
        }
        crate::fusion_bench::pin::partner();
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                eprintln!("fusion-bench: partner process failed: {e}");
                1
            }
            Err(_) => 101,
        };
        // SAFETY: leave without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) }
    }
    register(pid);
    drop(f);
    Ok(Child { pid, reaped: false })
}

impl Child {
    /// `Ok` while the child runs; an error once it has exited (it is reaped then).
    /// For the parent's wait loops, so a dead partner ends the case instead of hanging it.
    pub fn check_alive(&mut self) -> io::Result<()> {
        match self.try_reap()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "partner process {} ended early ({})",
                self.pid,
                describe(status)
            ))),
        }
    }

    /// Waits up to `timeout` for the child to exit; an error when it fails or times out
    /// (then it is killed and reaped).
    pub fn wait(mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_reap()? {
                if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                    return Ok(());
                }
                return Err(io::Error::other(format!(
                    "partner process {} failed ({})",
                    self.pid,
                    describe(status)
                )));
            }
            if Instant::now() >= deadline {
                self.kill_and_reap();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("partner process {} did not finish; killed", self.pid),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reaps the child if it has exited; `Some(status)` then.
    fn try_reap(&mut self) -> io::Result<Option<libc::c_int>> {
        if self.reaped {
            return Err(io::Error::other("partner process already reaped"));
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match r {
            0 => Ok(None),
            r if r == self.pid => {
                self.reaped = true;
                unregister(self.pid);
                Ok(Some(status))
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(None);
                }
                self.reaped = true; // ECHILD: nothing left to reap
                unregister(self.pid);
                Err(e)
            }
        }
    }

    fn kill_and_reap(&mut self) {
        if self.reaped {
            return;
        }
        unregister(self.pid);
        // SAFETY: signalling and reaping our own, not yet reaped, child (its pid cannot
        // have been recycled while it is an unreaped zombie).
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            while libc::waitpid(self.pid, &mut status, 0) < 0
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
        }
        self.reaped = true;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Waits for all `children` (each up to `timeout`); on the first failure the rest are
/// killed and reaped (by drop) and the error returned.
pub fn wait_all(children: Vec<Child>, timeout: Duration) -> io::Result<()> {
    for c in children {
        c.wait(timeout)?;
    }
    Ok(())
}

fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}
