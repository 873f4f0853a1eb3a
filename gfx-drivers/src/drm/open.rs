//! Opening the card: through a libseat session where a seat manager runs, directly as root
//! otherwise; and finding the first usable card when the config names none.
//!
//! libseat's *builtin* backend succeeds as root even without seatd or logind (it then opens
//! devices itself but never gets VT-switch events), so a session is only used when a seat
//! manager is there to give one: `LIBSEAT_BACKEND` is set, or seatd's socket or logind's
//! seat directory exists. Otherwise the device is opened `O_RDWR | O_CLOEXEC` directly,
//! which needs root (or the `video` group) and makes us DRM master if nobody else is. libseat
//! is loaded only then ([`super::seat`]); where a seat manager runs but libseat is not
//! installed, the card is opened directly too, with a warning.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use smithay::backend::session::Session;
use smithay::reexports::drm::control::{connector, Device as ControlDevice};
use smithay::reexports::drm::Device as BasicDevice;

use super::seat::{SeatError, SeatNotifier, SeatSession};
use crate::backend::Error;

/// seatd's socket.
pub const SEATD_SOCKET: &str = "/run/seatd.sock";
/// Where logind keeps its seats while it runs.
pub const LOGIND_SEATS: &str = "/run/systemd/seats";

/// Why a session is (or is not) used, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChoice {
    /// Through libseat (its reason).
    LibSeat(String),
    /// Directly, as root (its reason).
    Direct(String),
}

/// Decides between libseat and a direct open from what the system shows.
pub fn choose_session(
    libseat_backend: Option<&str>,
    seatd_socket: bool,
    logind: bool,
) -> SessionChoice {
    match (libseat_backend, seatd_socket, logind) {
        (Some(b), _, _) if !b.is_empty() => SessionChoice::LibSeat(format!("LIBSEAT_BACKEND={b}")),
        (_, true, _) => SessionChoice::LibSeat(format!("seatd runs ({SEATD_SOCKET})")),
        (_, _, true) => SessionChoice::LibSeat(format!("logind runs ({LOGIND_SEATS})")),
        _ => SessionChoice::Direct("no seat manager (no seatd, no logind)".into()),
    }
}

/// The session choice for this system.
pub fn system_session_choice() -> SessionChoice {
    let backend = std::env::var("LIBSEAT_BACKEND").ok();
    choose_session(
        backend.as_deref(),
        Path::new(SEATD_SOCKET).exists(),
        Path::new(LOGIND_SEATS).is_dir(),
    )
}

/// An open card.
pub struct Opened {
    /// The card's fd.
    pub fd: OwnedFd,
    /// Its path.
    pub path: PathBuf,
    /// The session it was opened through, if any.
    pub session: Option<(SeatSession, SeatNotifier)>,
    /// How it was opened, for the log.
    pub how: SessionChoice,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("path", &self.path)
            .field("how", &self.how)
            .finish()
    }
}

fn open_direct(path: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
        Error::Unavailable(format!(
            "{}: {e} (run as root, or in the video group, or under seatd/logind)",
            path.display()
        ))
    })
}

/// Opens `path` (or, without one, the first card with a connected connector) as the
/// session choice says.
pub fn open(path: Option<&Path>) -> Result<Opened, Error> {
    let mut how = system_session_choice();
    let mut session = match &how {
        SessionChoice::LibSeat(why) => match SeatSession::open() {
            Ok(s) => Some(s),
            // A seat manager runs but libseat is not installed: as root (or in `video`),
            // the card still opens directly, as it would with no seat manager.
            Err(SeatError::NoLibrary(e)) => {
                tracing::warn!("{why}, but libseat cannot be loaded ({e}): opening directly");
                how = SessionChoice::Direct(format!("{why}, but no libseat"));
                None
            }
            Err(e) => {
                return Err(Error::Unavailable(format!("libseat session ({why}): {e}")));
            }
        },
        SessionChoice::Direct(_) => None,
    };
    let mut open_one = |p: &Path| -> Result<OwnedFd, Error> {
        match &mut session {
            Some((s, _)) => s
                .open(
                    p,
                    OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
                )
                .map_err(|e| Error::Unavailable(format!("{}: libseat: {e}", p.display()))),
            None => open_direct(p),
        }
    };
    let (fd, path) = match path {
        Some(p) => (open_one(p)?, p.to_path_buf()),
        None => {
            let mut why = Vec::new();
            let mut found = None;
            for p in cards() {
                match open_one(&p).and_then(|fd| {
                    let n = connected_connectors(&Card(&fd))?;
                    Ok((fd, n))
                }) {
                    Ok((fd, n)) if n > 0 => {
                        found = Some((fd, p));
                        break;
                    }
                    Ok(_) => why.push(format!("{}: nothing connected", p.display())),
                    Err(e) => why.push(e.to_string()),
                }
            }
            found.ok_or_else(|| {
                Error::Unavailable(if why.is_empty() {
                    "no /dev/dri/card* device".into()
                } else {
                    format!("no usable DRM card: {}", why.join("; "))
                })
            })?
        }
    };
    Ok(Opened {
        fd,
        path,
        session,
        how,
    })
}

/// `/dev/dri/card*`, in order.
pub fn cards() -> Vec<PathBuf> {
    let mut cards: Vec<PathBuf> = std::fs::read_dir("/dev/dri")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("card"))
        })
        .collect();
    cards.sort();
    cards
}

/// Whether a usable card exists: one that opens and has a connected connector (what
/// `--backend auto` asks before choosing DRM).
pub fn usable_card(path: Option<&Path>) -> Result<PathBuf, String> {
    let candidates = match path {
        Some(p) => vec![p.to_path_buf()],
        None => cards(),
    };
    let mut why = Vec::new();
    for p in candidates {
        match open_direct(&p).and_then(|fd| connected_connectors(&Card(&fd))) {
            Ok(n) if n > 0 => return Ok(p),
            Ok(_) => why.push(format!("{}: nothing connected", p.display())),
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(if why.is_empty() {
        "no /dev/dri/card*".into()
    } else {
        why.join("; ")
    })
}

/// A borrowed fd as a DRM device, for probing.
struct Card<'a>(&'a OwnedFd);

impl std::os::fd::AsFd for Card<'_> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl BasicDevice for Card<'_> {}
impl ControlDevice for Card<'_> {}

fn connected_connectors(card: &Card<'_>) -> Result<usize, Error> {
    let res = card
        .resource_handles()
        .map_err(|e| Error::Unavailable(format!("not a KMS device (no mode resources): {e}")))?;
    Ok(res
        .connectors()
        .iter()
        .filter_map(|&c| card.get_connector(c, false).ok())
        .filter(|c| c.state() == connector::State::Connected)
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_only_where_a_seat_manager_runs() {
        assert!(matches!(
            choose_session(None, false, false),
            SessionChoice::Direct(_)
        ));
        assert!(matches!(
            choose_session(Some(""), false, false),
            SessionChoice::Direct(_)
        ));
        assert_eq!(
            choose_session(Some("seatd"), false, false),
            SessionChoice::LibSeat("LIBSEAT_BACKEND=seatd".into())
        );
        assert!(
            matches!(choose_session(None, true, true), SessionChoice::LibSeat(w) if w.contains("seatd"))
        );
        assert!(
            matches!(choose_session(None, false, true), SessionChoice::LibSeat(w) if w.contains("logind"))
        );
    }

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let e = open_direct(Path::new("/nonexistent/card9")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/card9"), "{e}");
        assert!(usable_card(Some(Path::new("/nonexistent/card9"))).is_err());
    }
}
