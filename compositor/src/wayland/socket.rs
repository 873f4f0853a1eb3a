//! The Wayland socket: where it is, and the one event source that puts it and the display's
//! connections on the master's loop.
//!
//! The socket is `$XDG_RUNTIME_DIR/<name>`, `<name>` being `[wayland] socket` or
//! `fusionfb-<world>` (an absolute `socket` is used as it is). Without `XDG_RUNTIME_DIR` (a
//! root service, a board's init script) it goes into the world's own directory, which only
//! the master's user (and its group, if configured) can enter; the log says so, and apps the
//! master starts get the absolute path as `WAYLAND_DISPLAY` (libwayland takes one). The
//! socket is bound as libwayland binds it, with a `.lock` file beside it, so a second server
//! on the same name is refused and a stale socket left by a dead one is replaced.
//!
//! Under `fusionfb run`'s supervisor the supervisor binds it ([`WaylandListener::bind`]) and
//! hands it to each master ([`HANDOVER_ENV`]), so it outlives a master that dies: a client
//! that connects meanwhile waits in its backlog for the next one. (Written by hand rather
//! than with wayland-server's `ListeningSocket`, which cannot be made from an inherited
//! descriptor.)

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use calloop::generic::Generic;
use calloop::{EventSource, Interest, Mode, Poll, PostAction, Readiness, Token, TokenFactory};
use tracing::info;

use super::{WaylandConfig, WaylandError};

/// Where the socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPlace {
    /// Its path.
    pub path: PathBuf,
    /// What a client puts in `WAYLAND_DISPLAY`: the name when the socket is in
    /// `$XDG_RUNTIME_DIR`, else the path.
    pub display: String,
}

impl SocketPlace {
    /// The place for `cfg` in this process's environment.
    pub fn choose(cfg: &WaylandConfig) -> SocketPlace {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        Self::choose_in(cfg, runtime)
    }

    /// The place for `cfg` given `$XDG_RUNTIME_DIR` (`runtime`).
    pub fn choose_in(cfg: &WaylandConfig, runtime: Option<PathBuf>) -> SocketPlace {
        let name = cfg
            .socket
            .clone()
            .unwrap_or_else(|| format!("fusionfb-{}", cfg.world));
        if name.starts_with('/') {
            return SocketPlace {
                path: PathBuf::from(&name),
                display: name,
            };
        }
        match runtime {
            Some(dir) => SocketPlace {
                path: dir.join(&name),
                display: name,
            },
            None => {
                let path = cfg.fallback_dir.join(&name);
                info!(
                    "wayland: XDG_RUNTIME_DIR is not set; the socket goes into the world's \
                     directory, {}",
                    cfg.fallback_dir.display()
                );
                SocketPlace {
                    display: path.display().to_string(),
                    path,
                }
            }
        }
    }

    /// Binds the socket.
    pub fn bind(&self) -> Result<WaylandListener, WaylandError> {
        if let Some(dir) = self.path.parent() {
            if !dir.exists() {
                return Err(WaylandError::Socket {
                    path: self.path.clone(),
                    message: format!("the directory {} does not exist", dir.display()),
                });
            }
        }
        WaylandListener::bind(&self.path)
    }
}

/// Names the Wayland socket handed down by `fusionfb run`'s supervisor in the master's
/// environment: `<lock fd>:<listener fd>:<path>`.
pub const HANDOVER_ENV: &str = "FUSIONFB_WAYLAND_HANDOVER";

/// The listening Wayland socket and its `.lock` file (see the module docs).
#[derive(Debug)]
pub struct WaylandListener {
    listener: UnixListener,
    lock: File,
    path: PathBuf,
    /// Handed down: the supervisor's to remove, not this process's.
    handed_down: bool,
}

impl WaylandListener {
    /// Binds `path` as libwayland does: `path.lock` taken with `flock` (a live server on
    /// the name refuses us), a stale socket replaced, the socket listening, non-blocking.
    pub fn bind(path: &Path) -> Result<WaylandListener, WaylandError> {
        let err = |message: String| WaylandError::Socket {
            path: path.to_path_buf(),
            message,
        };
        let lock_path = lock_path(path);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| err(format!("{}: {e}", lock_path.display())))?;
        match fusionfb_sys::try_flock_exclusive(lock.as_fd()) {
            Ok(true) => {}
            Ok(false) => {
                return Err(err(
                    "already in use by another server (choose another with [wayland] socket)"
                        .into(),
                ))
            }
            Err(e) => return Err(err(format!("{}: {e}", lock_path.display()))),
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(|e| err(e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| err(e.to_string()))?;
        Ok(WaylandListener {
            listener,
            lock,
            path: path.to_path_buf(),
            handed_down: false,
        })
    }

    /// The socket at `path` handed down in [`HANDOVER_ENV`] (the variable is removed), if
    /// there is one for that path.
    pub fn from_env(path: &Path) -> Option<WaylandListener> {
        let value = std::env::var(HANDOVER_ENV).ok()?;
        let mut parts = value.splitn(3, ':');
        let (lock, listener, at) = (parts.next()?, parts.next()?, parts.next()?);
        if Path::new(at) != path {
            return None;
        }
        std::env::remove_var(HANDOVER_ENV);
        let lock = fusionfb_sys::adopt_inherited_fd(lock.parse().ok()?).ok()?;
        let listener = fusionfb_sys::adopt_inherited_fd(listener.parse().ok()?).ok()?;
        let listener = UnixListener::from(listener);
        listener.set_nonblocking(true).ok()?;
        info!(socket = %path.display(), "wayland: took over the socket from the supervisor");
        Some(WaylandListener {
            listener,
            lock: File::from(lock),
            path: path.to_path_buf(),
            handed_down: true,
        })
    }

    /// The value of [`HANDOVER_ENV`] naming this socket to a child that inherits
    /// [`WaylandListener::inheritable`].
    pub fn env_value(&self) -> String {
        format!(
            "{}:{}:{}",
            self.lock.as_raw_fd(),
            self.listener.as_raw_fd(),
            self.path.display()
        )
    }

    /// The lock and the socket, for a child to inherit.
    pub fn inheritable(&self) -> [BorrowedFd<'_>; 2] {
        [self.lock.as_fd(), self.listener.as_fd()]
    }

    /// A waiting connection, if any.
    pub fn accept(&self) -> std::io::Result<Option<UnixStream>> {
        match self.listener.accept() {
            Ok((stream, _)) => Ok(Some(stream)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for WaylandListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Drop for WaylandListener {
    fn drop(&mut self) {
        if !self.handed_down {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_file(lock_path(&self.path));
        }
    }
}

/// `path.lock`.
fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// What the [`WaylandSource`] reports.
#[derive(Debug)]
pub enum WaylandReady {
    /// A client connected.
    Client(UnixStream),
    /// Clients sent something: dispatch the display.
    Display,
}

/// The listening socket and the display's connections as one calloop source: the Wayland
/// frontend is one `insert_source` on the master's loop.
#[derive(Debug)]
pub struct WaylandSource {
    listener: Generic<WaylandListener>,
    display: Generic<OwnedFd>,
}

impl WaylandSource {
    /// The source for `listener` and the display's poll fd.
    pub fn new(listener: WaylandListener, display_fd: OwnedFd) -> WaylandSource {
        WaylandSource {
            listener: Generic::new(listener, Interest::READ, Mode::Level),
            display: Generic::new(display_fd, Interest::READ, Mode::Level),
        }
    }
}

impl EventSource for WaylandSource {
    type Event = WaylandReady;
    type Metadata = ();
    type Ret = ();
    type Error = std::io::Error;

    fn process_events<F>(
        &mut self,
        readiness: Readiness,
        token: Token,
        mut callback: F,
    ) -> Result<PostAction, Self::Error>
    where
        F: FnMut(Self::Event, &mut Self::Metadata) -> Self::Ret,
    {
        let mut accepted = Vec::new();
        self.listener
            .process_events(readiness, token, |_, socket| {
                while let Some(stream) = socket.accept()? {
                    accepted.push(stream);
                }
                Ok(PostAction::Continue)
            })
            .map_err(std::io::Error::other)?;
        for s in accepted {
            callback(WaylandReady::Client(s), &mut ());
        }
        let mut ready = false;
        self.display
            .process_events(readiness, token, |_, _| {
                ready = true;
                Ok(PostAction::Continue)
            })
            .map_err(std::io::Error::other)?;
        if ready {
            callback(WaylandReady::Display, &mut ());
        }
        Ok(PostAction::Continue)
    }

    fn register(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        self.listener.register(poll, factory)?;
        self.display.register(poll, factory)
    }

    fn reregister(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        self.listener.reregister(poll, factory)?;
        self.display.reregister(poll, factory)
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        self.listener.unregister(poll)?;
        self.display.unregister(poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(socket: Option<&str>) -> WaylandConfig {
        WaylandConfig {
            socket: socket.map(str::to_string),
            world: "w1".into(),
            fallback_dir: PathBuf::from("/run/fusionfb/w1"),
            keyboard: Default::default(),
            rules: Vec::new(),
        }
    }

    #[test]
    fn the_socket_is_named_after_the_world_in_the_runtime_dir() {
        let p = SocketPlace::choose_in(&cfg(None), Some("/run/user/7".into()));
        assert_eq!(p.path, PathBuf::from("/run/user/7/fusionfb-w1"));
        assert_eq!(p.display, "fusionfb-w1");
    }

    #[test]
    fn without_a_runtime_dir_the_world_dir_holds_it_and_clients_get_the_path() {
        let p = SocketPlace::choose_in(&cfg(Some("wayland-1")), None);
        assert_eq!(p.path, PathBuf::from("/run/fusionfb/w1/wayland-1"));
        assert_eq!(p.display, "/run/fusionfb/w1/wayland-1");
    }

    #[test]
    fn an_absolute_socket_is_used_as_it_is() {
        let p = SocketPlace::choose_in(&cfg(Some("/tmp/x/wl")), Some("/run/user/7".into()));
        assert_eq!(p.path, PathBuf::from("/tmp/x/wl"));
        assert_eq!(p.display, "/tmp/x/wl");
    }
}
