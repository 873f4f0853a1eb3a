//! The channel between `fusionfb run`'s supervisor and the master it started: a datagram
//! socket pair, one JSON message per datagram, both ends non-blocking.
//!
//! The master says when its display is up ([`ToSupervisor::Up`], with the Wayland display
//! apps should use) and that its loop still turns ([`ToSupervisor::Alive`], every
//! [`ALIVE_EVERY`]); the supervisor tells it how the `[[app]]` programs are doing
//! ([`ToMaster::Apps`]), for `fusionfb status`. The master finds its end through
//! [`ENV`] (an inherited descriptor number) and how many masters died before it through
//! [`RESTARTS_ENV`].

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use fusionfb_protocol::AppStatus;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tracing::debug;

/// Names the master's end of the link (a descriptor number) in the master's environment.
pub const ENV: &str = "FUSIONFB_SUPERVISOR_FD";
/// How many masters of this world died and were restarted before this one.
pub const RESTARTS_ENV: &str = "FUSIONFB_RESTARTS";
/// How often the master says it is alive (rarely: an idle master should sleep; the
/// supervisor's hang check and a systemd watchdog allow several times as long).
pub const ALIVE_EVERY: Duration = Duration::from_secs(5);
/// The largest message (the apps' report of a long `[[app]]` list fits easily).
const MAX_MESSAGE: usize = 64 << 10;

/// What the master tells its supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToSupervisor {
    /// The display is up and the world admits slaves; apps may start.
    Up {
        /// `WAYLAND_DISPLAY` for the apps, when the master runs its Wayland frontend.
        wayland_display: Option<String>,
    },
    /// The master's loop turned within the last [`ALIVE_EVERY`].
    Alive,
}

/// What the supervisor tells the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToMaster {
    /// The `[[app]]` programs' state, in config order.
    Apps(Vec<AppStatus>),
}

/// One end of the link. See the module docs.
#[derive(Debug)]
pub struct Link {
    sock: UnixDatagram,
}

impl Link {
    /// A new link: the supervisor's end, and the master's end to hand to the child.
    pub fn pair() -> std::io::Result<(Link, OwnedFd)> {
        let (a, b) = UnixDatagram::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((Link { sock: a }, OwnedFd::from(b)))
    }

    /// The master's end named in the environment ([`ENV`]), and the restart count; `None`
    /// when this process was not started by a supervisor. The variables are removed.
    pub fn from_env() -> Option<(Link, u32)> {
        let raw: i32 = std::env::var(ENV).ok()?.parse().ok()?;
        let restarts = std::env::var(RESTARTS_ENV)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        std::env::remove_var(ENV);
        std::env::remove_var(RESTARTS_ENV);
        let fd = fusionfb_sys::adopt_inherited_fd(raw).ok()?;
        let sock = UnixDatagram::from(fd);
        sock.set_nonblocking(true).ok()?;
        Some((Link { sock }, restarts))
    }

    /// Sends `msg`; a failure (the other end is gone or not reading) is logged, not fatal.
    pub fn send<T: Serialize>(&self, msg: &T) {
        match serde_json::to_vec(msg) {
            Ok(bytes) => {
                if let Err(e) = self.sock.send(&bytes) {
                    debug!("supervisor link: not sent: {e}");
                }
            }
            Err(e) => debug!("supervisor link: not encoded: {e}"),
        }
    }

    /// The next message, if one waits; malformed ones are skipped.
    pub fn recv<T: DeserializeOwned>(&self) -> Option<T> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let n = self.sock.recv(&mut buf).ok()?;
            match serde_json::from_slice(&buf[..n]) {
                Ok(msg) => return Some(msg),
                Err(e) => debug!("supervisor link: malformed message skipped: {e}"),
            }
        }
    }
}

impl AsFd for Link {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_in_order_and_garbage_is_skipped() {
        let (sup, master) = Link::pair().unwrap();
        let master = Link {
            sock: UnixDatagram::from(master),
        };
        master.send(&ToSupervisor::Up {
            wayland_display: Some("wayland-1".into()),
        });
        master.send(&ToSupervisor::Alive);
        assert_eq!(
            sup.recv::<ToSupervisor>(),
            Some(ToSupervisor::Up {
                wayland_display: Some("wayland-1".into())
            })
        );
        assert_eq!(sup.recv::<ToSupervisor>(), Some(ToSupervisor::Alive));
        assert_eq!(sup.recv::<ToSupervisor>(), None);
        master.sock.send(b"not json").unwrap();
        sup.send(&ToMaster::Apps(vec![AppStatus::default()]));
        assert_eq!(
            master.recv::<ToMaster>(),
            Some(ToMaster::Apps(vec![AppStatus::default()]))
        );
        assert_eq!(sup.recv::<ToSupervisor>(), None);
    }
}
