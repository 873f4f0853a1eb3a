//! A world's lock and listening socket held by a supervising parent, so that they outlive
//! the master (a master that dies and is restarted takes them over).
//!
//! Without a handover a [`Master`](crate::Master) takes its world's `master.lock` and binds
//! `master.sock` itself, and both go with it: between its death and the next master's start a
//! slave that looks for the world finds no master, and a second master could take the world.
//! With one, a long-lived parent (`fusionfb run`'s supervisor) takes them once
//! ([`Handover::take`]) and hands them to each master it starts, through two inherited
//! descriptors named in [`ENV`]. The socket then never stops listening: a slave that
//! connects while no master runs waits in its backlog and is admitted by the next one (the
//! handshake waits up to five seconds), and the world is never free for another master.
//!
//! The same socket can come from systemd's fd store (`FDSTORE=1`), given back at the
//! service's next start ([`Handover::take_with`]).
//!
//! ```
//! use fusion::handover::Handover;
//! let dir = std::env::temp_dir().join(format!("fusion-doc-handover-{}", std::process::id()));
//! let cfg = fusion::WorldConfig::new("handed").runtime_dir(&dir);
//! let held = Handover::take(&cfg).unwrap();
//! // Another would-be holder (or master) finds the world busy.
//! assert!(matches!(Handover::take(&cfg), Err(fusion::Error::WorldBusy(_))));
//! assert!(held.env_value().starts_with("handed:"));
//! ```

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use tracing::{info, warn};

use crate::sys;
use crate::world::WorldConfig;
use crate::{Error, Result};

/// The environment variable naming a handed-down world: `<world>:<lock fd>:<listener fd>`.
pub const ENV: &str = "FUSION_HANDOVER";

/// A world's lock (held) and listening socket. See the module docs.
#[derive(Debug)]
pub struct Handover {
    /// `master.lock`, `flock`ed.
    pub lock: File,
    /// `master.sock`, listening, non-blocking.
    pub listener: OwnedFd,
    name: String,
}

impl Handover {
    /// Creates the world's directories, takes its lock and binds its socket (replacing what
    /// a dead master left). [`Error::WorldBusy`] when a live master or holder has it.
    pub fn take(cfg: &WorldConfig) -> Result<Handover> {
        Self::take_with(cfg, None)
    }

    /// [`Handover::take`], with a listening socket kept from an earlier life (systemd's fd
    /// store) instead of binding a new one.
    pub fn take_with(cfg: &WorldConfig, listener: Option<OwnedFd>) -> Result<Handover> {
        cfg.validate()?;
        let dir = cfg.dir();
        let base = cfg.base_dir();
        // Members of a configured group must be able to reach the world through the base
        // directory (traverse only, no listing), also when an earlier master made it.
        crate::master::create_dir(&base, if cfg.group.is_some() { 0o711 } else { 0o700 })?;
        if let Some(gid) = cfg.group {
            crate::master::open_base_for_group(&base, gid);
        }
        crate::master::create_dir(&dir, if cfg.group.is_some() { 0o770 } else { 0o700 })?;
        crate::master::set_world_dir_mode(&dir, cfg.group);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(cfg.lock_path())?;
        if !sys::try_flock_exclusive(lock.as_fd())? {
            return Err(Error::WorldBusy(cfg.name.clone()));
        }
        let sock_path = cfg.socket_path();
        let listener = match listener {
            Some(fd) => {
                info!(world = %cfg.name, "listening on the socket kept from before");
                fd
            }
            None => {
                if sock_path.exists() {
                    warn!(world = %cfg.name, "replacing a stale world left by a dead master");
                    let _ = std::fs::remove_file(&sock_path);
                }
                sys::listen_seqpacket(&sock_path)?
            }
        };
        if let Some(gid) = cfg.group {
            use std::os::unix::fs::PermissionsExt;
            // connect() needs write permission on the socket: the group must own it.
            let _ = std::os::unix::fs::chown(&sock_path, None, Some(gid));
            let _ = std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o770));
        }
        Ok(Handover {
            lock,
            listener,
            name: cfg.name.clone(),
        })
    }

    /// The value of [`ENV`] that names these descriptors to a child which inherits them
    /// ([`Handover::inheritable`] makes them survive `exec`).
    pub fn env_value(&self) -> String {
        format!(
            "{}:{}:{}",
            self.name,
            self.lock.as_raw_fd(),
            self.listener.as_raw_fd()
        )
    }

    /// The two descriptors, for a child to inherit: clear their close-on-exec flag in the
    /// child (between `fork` and `exec`) with `fusionfb_sys::clear_cloexec`.
    pub fn inheritable(&self) -> [BorrowedFd<'_>; 2] {
        [self.lock.as_fd(), self.listener.as_fd()]
    }

    /// The handover [`ENV`] names for world `name`, taken over (and the variable removed, so
    /// that the master's own children do not see it); `None` when there is none, or it
    /// names another world or descriptors that are not open.
    pub fn from_env(name: &str) -> Option<Handover> {
        let value = std::env::var(ENV).ok()?;
        let mut parts = value.rsplitn(3, ':');
        let (listener, lock, world) = (parts.next()?, parts.next()?, parts.next()?);
        if world != name {
            return None;
        }
        std::env::remove_var(ENV);
        let lock = sys::adopt_inherited_fd(lock.parse().ok()?).ok()?;
        let listener = sys::adopt_inherited_fd(listener.parse().ok()?).ok()?;
        info!(world = %name, "took over the world's lock and socket from the supervisor");
        Some(Handover {
            lock: File::from(lock),
            listener,
            name: name.to_string(),
        })
    }
}
