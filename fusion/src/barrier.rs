//! A fork/exec barrier: two processes wait for each other at start-up.
//!
//! Like systemd's `barrier.c`: a parent makes a [`Barrier`] before it spawns a child, hands
//! the child its end (the fd survives `exec`; its number travels in the
//! `FUSION_BARRIER_FD` environment variable), and both sides [`Barrier::place`] marks and
//! [`Barrier::sync`] on the other's. Typical use: the master spawns an app and waits until
//! the app has entered the world before it goes on (`fusionfb demo`), or a test waits until
//! a child slave is ready. If the other side dies, waiting ends at once with
//! [`crate::Error::PeerGone`] instead of hanging — the kernel closes its end of the socket.
//!
//! ```no_run
//! use fusion::barrier::Barrier;
//! let (mut parent, child) = Barrier::pair().unwrap();
//! let mut cmd = std::process::Command::new("my-slave");
//! child.pass_to(&mut cmd).unwrap();
//! let _proc = cmd.spawn().unwrap();
//! drop(child);
//! parent.sync(Some(std::time::Duration::from_secs(5))).unwrap(); // the slave placed its mark
//! ```

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sys;
use crate::{Error, Result};

/// The environment variable that carries a child's barrier fd.
pub const ENV: &str = "FUSION_BARRIER_FD";

/// One end of a barrier.
#[derive(Debug)]
pub struct Barrier {
    fd: OwnedFd,
    placed: u64,
    seen: u64,
}

impl Barrier {
    /// Creates both ends.
    pub fn pair() -> Result<(Barrier, Barrier)> {
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((Self::from_fd(a), Self::from_fd(b)))
    }

    fn from_fd(fd: OwnedFd) -> Self {
        Self {
            fd,
            placed: 0,
            seen: 0,
        }
    }

    /// Lets `cmd`'s child inherit this end: the fd survives exec, its number goes in
    /// [`ENV`]. Drop this end in the parent after spawning.
    pub fn pass_to(&self, cmd: &mut std::process::Command) -> Result<()> {
        sys::clear_cloexec(self.fd.as_fd())?;
        cmd.env(ENV, self.fd.as_raw_fd().to_string());
        Ok(())
    }

    /// The end a parent passed to this process, if any (reads and clears [`ENV`]).
    pub fn from_env() -> Option<Barrier> {
        let n: i32 = std::env::var(ENV).ok()?.parse().ok()?;
        // Only adopt it if it is really open (and never stdin, stdout or stderr); it becomes
        // close-on-exec again. The variable goes, so nobody in this process adopts it twice.
        if n < 3 {
            return None;
        }
        let fd = sys::adopt_inherited_fd(n).ok()?;
        std::env::remove_var(ENV);
        Some(Self::from_fd(fd))
    }

    /// Places a mark the other side's [`Barrier::sync`] waits for.
    pub fn place(&mut self) -> Result<()> {
        sys::send_msg(self.fd.as_fd(), &[1], &[])
            .map_err(|_| Error::PeerGone(crate::FusioneeId(0)))?;
        self.placed += 1;
        Ok(())
    }

    /// Waits until the other side has placed as many marks as we have seen plus one.
    pub fn sync(&mut self, timeout: Option<Duration>) -> Result<()> {
        let end = timeout.map(|t| Instant::now() + t);
        loop {
            let left = end.map(|e| e.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(Error::TimedOut);
            }
            if sys::poll_readable(&[self.fd.as_fd()], left).is_none() {
                return Err(Error::TimedOut);
            }
            match sys::recv_msg(self.fd.as_fd(), 16, true) {
                Ok(Some(_)) => {
                    self.seen += 1;
                    return Ok(());
                }
                Ok(None) => return Err(Error::PeerGone(crate::FusioneeId(0))),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return Err(Error::PeerGone(crate::FusioneeId(0))),
            }
        }
    }

    /// Places a mark and waits for the other side's (both sides reach the same point).
    pub fn place_and_sync(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.place()?;
        self.sync(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_meet_and_death_is_seen() {
        let (mut a, mut b) = Barrier::pair().unwrap();
        let t = std::thread::spawn(move || {
            b.place_and_sync(Some(Duration::from_secs(5))).unwrap();
            drop(b);
        });
        a.place_and_sync(Some(Duration::from_secs(5))).unwrap();
        t.join().unwrap();
        assert_eq!(
            a.sync(Some(Duration::from_secs(5))),
            Err(Error::PeerGone(crate::FusioneeId(0)))
        );
    }

    #[test]
    fn times_out() {
        let (mut a, _b) = Barrier::pair().unwrap();
        assert_eq!(
            a.sync(Some(Duration::from_millis(20))),
            Err(Error::TimedOut)
        );
    }
}
