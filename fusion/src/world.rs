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
//! A slave given no `runtime_dir` looks for its world's master in every directory one can
//! live in ([`search_dirs`]: `$FUSIONFB_RUNTIME_DIR`, `$XDG_RUNTIME_DIR/fusionfb`,
//! `/run/fusionfb`, `/tmp/fusionfb-<uid>`) and enters the first that answers, so an app
//! started from a login shell finds a master that runs as a root service. When none answers,
//! [`crate::Error::NoMaster`] lists the directories tried and the worlds found there.
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
//! assert_eq!(master.id(), fusion::wire::MASTER_ID);
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

    /// Where a slave looks for this world's master, in order: the configured `runtime_dir`
    /// alone if there is one, else [`search_dirs`] of this process's environment. The master
    /// always lives in [`base_dir`](Self::base_dir), which is on that list.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        if let Some(d) = &self.runtime_dir {
            return vec![d.clone()];
        }
        search_dirs(
            std::env::var_os("FUSIONFB_RUNTIME_DIR").as_deref(),
            std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
            rustix::process::getuid().as_raw(),
        )
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

/// The runtime directories where a master can live, in the order a slave tries them, given
/// the values of `FUSIONFB_RUNTIME_DIR` and `XDG_RUNTIME_DIR` and the uid: the first, then
/// `$XDG_RUNTIME_DIR/fusionfb`, then `/run/fusionfb` (where a master run as a root service
/// lives), then, for other users than root, `/tmp/fusionfb-<uid>`. Empty values are skipped,
/// duplicates dropped.
///
/// ```
/// use std::path::PathBuf;
/// let dirs = fusion::world::search_dirs(None, Some("/run/user/1000".as_ref()), 1000);
/// assert_eq!(
///     dirs,
///     [
///         PathBuf::from("/run/user/1000/fusionfb"),
///         PathBuf::from("/run/fusionfb"),
///         PathBuf::from("/tmp/fusionfb-1000"),
///     ]
/// );
/// ```
pub fn search_dirs(
    fusionfb_runtime_dir: Option<&std::ffi::OsStr>,
    xdg_runtime_dir: Option<&std::ffi::OsStr>,
    uid: u32,
) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut add = |d: PathBuf| {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    };
    if let Some(d) = fusionfb_runtime_dir.filter(|d| !d.is_empty()) {
        add(PathBuf::from(d));
    }
    if let Some(d) = xdg_runtime_dir.filter(|d| !d.is_empty()) {
        add(PathBuf::from(d).join("fusionfb"));
    }
    add(PathBuf::from("/run/fusionfb"));
    if uid != 0 {
        add(PathBuf::from(format!("/tmp/fusionfb-{uid}")));
    }
    dirs
}

/// What a slave found in runtime directory `dir` (for [`crate::Error::NoMaster`]): the worlds
/// there, i.e. subdirectories holding a master socket, sorted; or why it could not tell.
pub fn look_in(dir: &std::path::Path) -> crate::Looked {
    let mut looked = crate::Looked {
        dir: dir.display().to_string(),
        worlds: Vec::new(),
        note: None,
    };
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            looked.worlds = entries
                .flatten()
                .filter(|e| e.path().join("master.sock").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            looked.worlds.sort();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            looked.note = Some("missing".into());
        }
        Err(e) => looked.note = Some(format!("cannot list: {e}")),
    }
    looked
}

/// The name of group `gid` in `/etc/group`, if it has one there.
pub fn group_name(gid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let g: u32 = f.nth(1)?.parse().ok()?;
        (g == gid && !name.is_empty()).then(|| name.to_string())
    })
}

/// `"video" (gid 44)`, or `gid 44` for a group without a name: for messages.
pub fn group_label(gid: u32) -> String {
    match group_name(gid) {
        Some(n) => format!("{n:?} (gid {gid})"),
        None => format!("gid {gid}"),
    }
}

/// The text of [`crate::Error::Access`] when connecting to world `name`'s socket at `sock`
/// was refused by the file system: which directory (or the socket) keeps this user out,
/// whose it is, and what would let the user in.
pub fn access_denied_text(name: &str, sock: &std::path::Path) -> String {
    use rustix::fs::Access;
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::getuid().as_raw();
    let mut chain: Vec<&std::path::Path> = sock.ancestors().skip(1).collect();
    chain.reverse();
    let blocker = chain
        .into_iter()
        .find(|d| rustix::fs::access(*d, Access::EXEC_OK).is_err())
        .unwrap_or(sock);
    let whose = match std::fs::metadata(blocker) {
        Ok(m) => format!(
            "{} (owner uid {}, group {}, mode {:o})",
            blocker.display(),
            m.uid(),
            group_label(m.gid()),
            m.mode() & 0o7777
        ),
        Err(_) => blocker.display().to_string(),
    };
    format!(
        "cannot reach the master of world {name:?} at {}: {whose} keeps uid {me} out; the \
         master must admit you: set `[world] group = \"video\"` (or another group) in the \
         master's config and restart it (it then opens the world's directories to that \
         group), and make uid {me} a member of that group (log in again afterwards)",
        sock.display()
    )
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
            let mut last = crate::Error::NoMaster {
                world: cfg.name.clone(),
                looked: Vec::new(),
            };
            // The busy world is in our own base directory: join there, not elsewhere.
            let here = cfg.clone().runtime_dir(cfg.base_dir());
            for _ in 0..5 {
                match crate::Master::create(cfg.clone()) {
                    Ok(m) => return Ok(Entered::Master(m)),
                    Err(crate::Error::WorldBusy(_)) => {}
                    Err(e) => return Err(e),
                }
                match crate::Slave::enter(here.clone()) {
                    Ok(s) => return Ok(Entered::Slave(s)),
                    Err(e @ crate::Error::NoMaster { .. }) => last = e,
                    Err(e) => return Err(e),
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(last)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn dirs(f: Option<&str>, x: Option<&str>, uid: u32) -> Vec<String> {
        search_dirs(f.map(OsStr::new), x.map(OsStr::new), uid)
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn search_order() {
        // An app from a login shell finds a root service's master after its own directory.
        assert_eq!(
            dirs(None, Some("/run/user/0"), 0),
            ["/run/user/0/fusionfb", "/run/fusionfb"]
        );
        assert_eq!(dirs(None, None, 0), ["/run/fusionfb"]);
        assert_eq!(
            dirs(Some("/srv/w"), Some("/run/user/7"), 7),
            [
                "/srv/w",
                "/run/user/7/fusionfb",
                "/run/fusionfb",
                "/tmp/fusionfb-7"
            ]
        );
        // Empty values are unset; duplicates are tried once.
        assert_eq!(
            dirs(Some(""), Some(""), 7),
            ["/run/fusionfb", "/tmp/fusionfb-7"]
        );
        assert_eq!(dirs(Some("/run/fusionfb"), None, 0), ["/run/fusionfb"]);
    }

    #[test]
    fn an_explicit_runtime_dir_is_the_only_place() {
        let cfg = WorldConfig::new("w").runtime_dir("/somewhere");
        assert_eq!(cfg.search_dirs(), [PathBuf::from("/somewhere")]);
    }

    #[test]
    fn the_master_dir_is_searched() {
        // Whatever this process's environment, the master's directory is on the list.
        let cfg = WorldConfig::new("w");
        assert!(cfg.search_dirs().contains(&cfg.base_dir()));
    }

    #[test]
    fn no_master_names_dirs_and_worlds() {
        let e = crate::Error::NoMaster {
            world: "demo2".into(),
            looked: vec![
                crate::Looked {
                    dir: "/run/user/0/fusionfb".into(),
                    worlds: vec!["demo".into()],
                    note: None,
                },
                crate::Looked {
                    dir: "/run/fusionfb".into(),
                    worlds: vec![],
                    note: Some("missing".into()),
                },
            ],
        };
        let text = e.to_string();
        assert!(
            text.starts_with(
                "no master in world \"demo2\": looked in /run/user/0/fusionfb (worlds: demo), \
                 /run/fusionfb (missing)"
            ),
            "{text}"
        );
        assert!(text.contains("FUSIONFB_RUNTIME_DIR"), "{text}");
    }
}
