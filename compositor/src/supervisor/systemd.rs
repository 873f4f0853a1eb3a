//! `fusionfb run` under systemd (`configs/fusionfb.service`, `Type=notify`): the world's
//! listening socket kept in the service's fd store across restarts of the whole service
//! (`FDSTORE=1`, named [`FD_NAME`], given back in `LISTEN_FDS` at the next start),
//! `READY=1` once the first master's display is up, a `STATUS=` line, and `WATCHDOG=1` while
//! the master's loop turns. Each is a no-op without `NOTIFY_SOCKET`. The `sd-notify` crate
//! speaks the protocol.

use std::os::fd::{AsFd, OwnedFd};

use sd_notify::NotifyState;
use tracing::{debug, info, warn};

/// The fd store's name for the world's listening socket.
pub const FD_NAME: &str = "fusion-listener";

/// The listening socket the service's fd store gave back at this start, if any.
pub fn stored_listener() -> Option<OwnedFd> {
    let fds = match sd_notify::listen_fds_with_names() {
        Ok(fds) => fds,
        Err(e) => {
            warn!("LISTEN_FDS from systemd unreadable: {e}");
            return None;
        }
    };
    let mut found = None;
    for (raw, name) in fds {
        match fusionfb_sys::adopt_inherited_fd(raw) {
            Ok(fd) if name == FD_NAME && found.is_none() => found = Some(fd),
            Ok(other) => drop(other),
            Err(e) => debug!("LISTEN_FDS {raw}: {e}"),
        }
    }
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDNAMES");
    if found.is_some() {
        info!("systemd gave back the world's listening socket from its fd store");
    }
    found
}

/// Puts the world's listening socket in the service's fd store.
pub fn store_listener(listener: &OwnedFd) {
    let state = [NotifyState::FdStore, NotifyState::FdName(FD_NAME)];
    if let Err(e) = sd_notify::notify_with_fds(&state, &[listener.as_fd()]) {
        warn!("systemd: FDSTORE not accepted: {e}");
    }
}

/// `READY=1` (the first time) and a `STATUS=` line.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A `STATUS=` line.
pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// `WATCHDOG=1`, when the service has a watchdog.
pub fn watchdog() {
    if sd_notify::watchdog_enabled().is_some() {
        notify(&[NotifyState::Watchdog]);
    }
}

/// `STOPPING=1`.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        debug!("systemd notify: {e}");
    }
}
