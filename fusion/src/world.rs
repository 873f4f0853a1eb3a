//! Worlds: where a master lives and how a process finds it.
//!
//! A world is a directory, `$XDG_RUNTIME_DIR/fusionfb/<name>` (else `/run/fusionfb/<name>` as
//! root, else `/tmp/fusionfb-<uid>/<name>`), mode 0700 (0770 with a configured group). It holds
//! two files:
//!
//! - `master.lock`, which the master holds with `flock` for its whole life. The kernel drops
//!   the lock when the master dies, so "is there a live master?" is one non-blocking `flock`
//!   away, never a guess from a pid file. A new master that gets the lock removes whatever the
//!   dead one left (a stale world is replaced, never trusted).
//! - `master.sock`, the master's listening `SOCK_SEQPACKET` socket.
//!
//! [`WorldConfig`] names the world and carries the policy: who may enter (same uid by default,
//! or members of a configured group), the ABI number every fusionee must share, and where the
//! runtime directory is (tests point it at a temporary directory).
//!
//! ```
//! use fusion::world::{enter, Entered, WorldConfig};
//! use fusion::wire::Role;
//! let dir = std::env::temp_dir().join(format!("fusion-doc-world-{}", std::process::id()));
//! let cfg = WorldConfig::new("board").runtime_dir(&dir).abi(46);
//! assert!(cfg.socket_path().ends_with("board/master.sock"));
//! // The first process to enter with Role::Any becomes the master.
//! let Ok(Entered::Master(master)) = enter(cfg, Role::Any) else { panic!() };
//! assert_eq!(master.id(), 1);
//! ```

use std::path::PathBuf;

/// How to find and guard a world.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// The world's name (a single path component).
    pub name: String,
    /// The directory that holds worlds; `None` picks the default described in the module doc.
    pub runtime_dir: Option<PathBuf>,
    /// Application ABI number; masters and slaves must agree exactly.
    pub abi: u32,
    /// A group whose members may enter besides the master's uid (and root).
    pub group: Option<u32>,
    /// Name shown in introspection.
    pub client_name: String,
}

impl WorldConfig {
    /// A world called `name` with the default directory, the ABI of [`default_abi`] and
    /// same-uid policy.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            runtime_dir: None,
            abi: default_abi(),
            group: None,
            client_name: std::env::args()
                .next()
                .map(|a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or(a)
                })
                .unwrap_or_default(),
        }
    }

    /// Sets the runtime directory that holds worlds.
    pub fn runtime_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runtime_dir = Some(dir.into());
        self
    }

    /// Sets the ABI number.
    pub fn abi(mut self, abi: u32) -> Self {
        self.abi = abi;
        self
    }

    /// Admits members of `gid` too.
    pub fn group(mut self, gid: u32) -> Self {
        self.group = Some(gid);
        self
    }

    /// Sets the name shown in introspection.
    pub fn client_name(mut self, name: &str) -> Self {
        self.client_name = name.to_string();
        self
    }

    /// The directory that holds all worlds.
    pub fn base_dir(&self) -> PathBuf {
        if let Some(d) = &self.runtime_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("FUSIONFB_RUNTIME_DIR") {
            return PathBuf::from(d);
        }
        if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
            return PathBuf::from(d).join("fusionfb");
        }
        let uid = rustix::process::getuid().as_raw();
        if uid == 0 {
            PathBuf::from("/run/fusionfb")
        } else {
            PathBuf::from(format!("/tmp/fusionfb-{uid}"))
        }
    }

    /// This world's directory.
    pub fn dir(&self) -> PathBuf {
        self.base_dir().join(&self.name)
    }

    /// The master's socket.
    pub fn socket_path(&self) -> PathBuf {
        self.dir().join("master.sock")
    }

    /// The master's lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.dir().join("master.lock")
    }

    /// Checks the name is one safe path component.
    pub fn validate(&self) -> crate::Result<()> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || n == "."
            || n == ".."
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(crate::Error::Invalid(format!(
                "world name {n:?}: use 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        Ok(())
    }
}

/// The world name from `FUSIONFB_WORLD`, else `default`.
pub fn default_world_name() -> String {
    std::env::var("FUSIONFB_WORLD")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// The application ABI a process enters with unless it sets one ([`WorldConfig::abi`]):
/// `FUSIONFB_ABI` when it holds a number, else 0. An application built for a world whose
/// master runs another ABI (`[world] abi = N`) calls `.abi(N)` itself; the variable lets
/// tools and the demo applications (`fusionfb status`, `fusionfb-paint`) join such a world.
pub fn default_abi() -> u32 {
    std::env::var("FUSIONFB_ABI")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// What [`enter`] made of this process.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per process
pub enum Entered {
    /// We created the world.
    Master(crate::Master),
    /// We joined it.
    Slave(crate::Slave),
}

/// Enters a world in a role: [`Role::Master`] creates it, [`Role::Slave`] joins it,
/// [`Role::Any`] creates it unless a live master has it, and joins then (DirectFB's
/// `FER_ANY`: the first application started becomes the master).
///
/// [`Role::Master`]: crate::wire::Role::Master
/// [`Role::Slave`]: crate::wire::Role::Slave
/// [`Role::Any`]: crate::wire::Role::Any
pub fn enter(cfg: WorldConfig, role: crate::wire::Role) -> crate::Result<Entered> {
    use crate::wire::Role;
    match role {
        Role::Master => crate::Master::create(cfg).map(Entered::Master),
        Role::Slave => crate::Slave::enter(cfg).map(Entered::Slave),
        Role::Any => {
            // A master may come or go between the two attempts: try a few times.
            let mut last = crate::Error::NoMaster(cfg.name.clone());
            for _ in 0..5 {
                match crate::Master::create(cfg.clone()) {
                    Ok(m) => return Ok(Entered::Master(m)),
                    Err(crate::Error::WorldBusy(_)) => {}
                    Err(e) => return Err(e),
                }
                match crate::Slave::enter(cfg.clone()) {
                    Ok(s) => return Ok(Entered::Slave(s)),
                    Err(e @ crate::Error::NoMaster(_)) => last = e,
                    Err(e) => return Err(e),
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(last)
        }
    }
}
