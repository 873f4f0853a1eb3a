//! The console: the Linux virtual terminal the display is shown on, when the master owns it
//! itself because no seat manager (seatd, logind) does.
//!
//! Opened directly as root, a display backend shares the screen with the kernel's text
//! console. Without care the console's cursor and kernel messages draw over an fbdev
//! display, keys typed on the board's keyboard also reach a shell on that console, and a VT
//! switch (`chvt`, Ctrl+Alt+Fn) leaves two owners fighting over the display. DirectFB's
//! `vt.c` handled this the same way [`Console`] does:
//!
//! - the VT goes to **graphics mode** (`KDSETMODE KD_GRAPHICS`): the console stops drawing;
//! - the console's **keyboard is switched off** (`KDSKBMODE K_OFF`): libinput still reads the
//!   keyboard through evdev, the tty gets nothing;
//! - **switching is process-controlled** (`VT_SETMODE VT_PROCESS`): a switch away signals
//!   the master (`SIGUSR1`), which pauses its display and then lets the switch go ahead
//!   (`VT_RELDISP 1`); coming back signals `SIGUSR2`, acknowledged with
//!   `VT_RELDISP VT_ACKACQ` before the display is taken again. Clients are not told: their
//!   frames complete on a timer while the display is away (see the backends).
//!
//! Everything is put back as it was when the [`Console`] is dropped. A master killed with
//! SIGKILL cannot do that: the VT stays in graphics mode with the keyboard off (as with X or
//! weston-launch); `configs/fusionfb.service` resets the TTY on stop for that reason.
//!
//! The signals are caught with `signal-hook`, which writes a byte into a socket per signal;
//! [`Console::fds`] are those sockets, for the backend's event loop. Written by hand (the
//! ioctls are in `fusionfb_sys::vt`) because no maintained crate does VT handling apart from a
//! seat manager's; with a libseat session this module is not used at all.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;

use fusionfb_sys::vt as sys;
use rustix::fs::{Mode, OFlags};
use signal_hook::SigId;

use crate::backend::Error;

/// Whether the master takes the console when it opens the display directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VtChoice {
    /// Take the VT the master runs on (its standard input, if that is a VT) or else the
    /// active one, when the display is opened directly; leave it to the seat manager when
    /// there is a session. Where there is no VT at all (no `/dev/tty0`) nothing is done.
    #[default]
    Auto,
    /// Never touch the console.
    Off,
}

/// What the kernel asked of the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VtEvent {
    /// Another VT wants the display: pause, then [`Console::allow_release`].
    Release,
    /// The display is back: [`Console::acknowledge_acquire`], then take it again.
    Acquire,
}

/// The VT the master shows on, in graphics mode with switching under its control.
pub struct Console {
    tty: OwnedFd,
    number: u32,
    saved_kd: i32,
    saved_kb: i32,
    saved_mode: sys::VtMode,
    release: UnixStream,
    acquire: UnixStream,
    hooks: [SigId; 2],
    away: bool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("vt", &self.number)
            .field("away", &self.away)
            .finish()
    }
}

/// The VT number of a character device's `(major, minor)` if it is one of `/dev/tty1`…`63`.
pub fn vt_number(major: u32, minor: u32) -> Option<u32> {
    (major == sys::TTY_MAJOR && (1..=sys::MAX_VT).contains(&minor)).then_some(minor)
}

/// The VT on the master's standard input, if it runs on one.
fn stdin_vt() -> Option<u32> {
    let m = std::fs::metadata("/proc/self/fd/0").ok()?;
    if !m.file_type().is_char_device() {
        return None;
    }
    let rdev = m.rdev();
    vt_number(rustix::fs::major(rdev), rustix::fs::minor(rdev))
}

fn open_tty(path: &str) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

impl Console {
    /// What a backend that opened its display directly does with the console: takes it
    /// when `choice` says [`VtChoice::Auto`] and there is one; otherwise (or when it cannot
    /// be taken, which is logged) leaves it alone.
    pub fn take_for(choice: VtChoice) -> Option<Console> {
        if choice == VtChoice::Off {
            return None;
        }
        match Console::take() {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                tracing::info!("no virtual terminals: the console is left alone");
                None
            }
            Err(e) => {
                tracing::warn!("the console is left alone: {e}");
                None
            }
        }
    }

    /// Takes the VT: `Ok(None)` where the system has no VTs (`/dev/tty0` missing), an error
    /// where it has them but this one cannot be controlled (not root, say).
    pub fn take() -> Result<Option<Console>, Error> {
        let number = match stdin_vt() {
            Some(n) => n,
            None => {
                let tty0 = match open_tty("/dev/tty0") {
                    Ok(fd) => fd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::Io(with_context(e, "/dev/tty0"))),
                };
                u32::from(
                    sys::get_state(tty0.as_fd())
                        .map_err(|e| Error::Io(with_context(e, "VT_GETSTATE on /dev/tty0")))?
                        .v_active,
                )
            }
        };
        let path = format!("/dev/tty{number}");
        let tty = open_tty(&path).map_err(|e| Error::Io(with_context(e, &path)))?;
        let fd = tty.as_fd();
        fn ctx(what: &'static str) -> impl Fn(std::io::Error) -> Error {
            move |e| Error::Io(with_context(e, what))
        }
        let saved_kd = sys::get_kd_mode(fd).map_err(ctx("KDGETMODE"))?;
        let saved_kb = sys::get_kb_mode(fd).map_err(ctx("KDGKBMODE"))?;
        let saved_mode = sys::get_mode(fd).map_err(ctx("VT_GETMODE"))?;

        let (release, release_w) = UnixStream::pair()?;
        let (acquire, acquire_w) = UnixStream::pair()?;
        for s in [&release, &acquire, &release_w, &acquire_w] {
            s.set_nonblocking(true)?;
        }
        let hooks = [
            signal_hook::low_level::pipe::register(signal_hook::consts::SIGUSR1, release_w)?,
            signal_hook::low_level::pipe::register(signal_hook::consts::SIGUSR2, acquire_w)?,
        ];
        let mut console = Console {
            tty,
            number,
            saved_kd,
            saved_kb,
            saved_mode,
            release,
            acquire,
            hooks,
            away: false,
        };
        // From here on, Drop puts back whatever was changed.
        let fd = console.tty.as_fd();
        sys::set_mode(
            fd,
            &sys::VtMode {
                mode: sys::VT_PROCESS,
                waitv: 0,
                relsig: signal_hook::consts::SIGUSR1 as i16,
                acqsig: signal_hook::consts::SIGUSR2 as i16,
                frsig: 0,
            },
        )
        .map_err(ctx("VT_SETMODE VT_PROCESS"))?;
        sys::set_kd_mode(fd, sys::KD_GRAPHICS).map_err(ctx("KDSETMODE KD_GRAPHICS"))?;
        if let Err(e) = sys::set_kb_mode(fd, sys::K_OFF) {
            tracing::warn!("console keyboard stays on (KDSKBMODE K_OFF: {e})");
        }
        // A switch may have begun before the mode was set: is this VT still the active one?
        console.away = sys::get_state(fd).is_ok_and(|s| u32::from(s.v_active) != number);
        tracing::info!(
            vt = number,
            "console: tty{number} in graphics mode, keyboard off, VT switches paused and resumed by the master"
        );
        Ok(Some(console))
    }

    /// The VT's number (`/dev/ttyN`).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Whether the display is switched away to another VT.
    pub fn is_away(&self) -> bool {
        self.away
    }

    /// The sockets that become readable when the kernel signals a switch.
    pub fn fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.release.as_fd(), self.acquire.as_fd()]
    }

    /// What the kernel asked since the last call, in the order it must have asked it (the
    /// two signals alternate: a release is only followed by an acquisition once allowed).
    pub fn events(&mut self) -> Vec<VtEvent> {
        let mut r = drain(&mut self.release);
        let mut a = drain(&mut self.acquire);
        let mut out = Vec::new();
        // Signals of one kind that arrive twice before being read merge into one byte or
        // two; what matters is the alternation, starting from where the console is now.
        while r > 0 || a > 0 {
            if self.away_after(&out) {
                if a == 0 {
                    break;
                }
                a -= 1;
                out.push(VtEvent::Acquire);
            } else {
                if r == 0 {
                    break;
                }
                r -= 1;
                out.push(VtEvent::Release);
            }
        }
        out
    }

    fn away_after(&self, queued: &[VtEvent]) -> bool {
        queued.last().map_or(self.away, |e| *e == VtEvent::Release)
    }

    /// Lets a pending switch away go ahead (after the display was paused).
    pub fn allow_release(&mut self) -> Result<(), Error> {
        sys::release_display(self.tty.as_fd(), 1)
            .map_err(|e| Error::Io(with_context(e, "VT_RELDISP 1")))?;
        self.away = true;
        Ok(())
    }

    /// Acknowledges that the display came back (before it is taken again).
    pub fn acknowledge_acquire(&mut self) -> Result<(), Error> {
        sys::release_display(self.tty.as_fd(), sys::VT_ACKACQ)
            .map_err(|e| Error::Io(with_context(e, "VT_RELDISP VT_ACKACQ")))?;
        self.away = false;
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let fd = self.tty.as_fd();
        let _ = sys::set_kb_mode(fd, self.saved_kb);
        let _ = sys::set_kd_mode(fd, self.saved_kd);
        let mut mode = self.saved_mode;
        if mode.mode == sys::VT_PROCESS {
            // Whoever had it before is not there to answer any more.
            mode = sys::VtMode::default();
        }
        let _ = sys::set_mode(fd, &mode);
        for id in self.hooks {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Reads everything waiting on a signal socket: how many signals came.
fn drain(s: &mut UnixStream) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

fn with_context(e: impl Into<std::io::Error>, what: &str) -> std::io::Error {
    let e = e.into();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_numbered_virtual_terminals_are_vts() {
        assert_eq!(vt_number(4, 1), Some(1));
        assert_eq!(vt_number(4, 63), Some(63));
        assert_eq!(vt_number(4, 0), None, "tty0 is the active VT, not one VT");
        assert_eq!(vt_number(4, 64), None, "ttyS0 shares the major");
        assert_eq!(vt_number(136, 1), None, "a pty");
    }

    /// A console for the event ordering only: its tty is `/dev/null` (never used here).
    fn fake(away: bool) -> (Console, UnixStream, UnixStream) {
        let (release, rw) = UnixStream::pair().unwrap();
        let (acquire, aw) = UnixStream::pair().unwrap();
        release.set_nonblocking(true).unwrap();
        acquire.set_nonblocking(true).unwrap();
        let tty = open_tty("/dev/null").unwrap();
        // Hooks on a signal nobody sends in tests, so that Drop has real ids to unregister.
        let hooks = [
            signal_hook::low_level::pipe::register(
                signal_hook::consts::SIGWINCH,
                rw.try_clone().unwrap(),
            )
            .unwrap(),
            signal_hook::low_level::pipe::register(
                signal_hook::consts::SIGWINCH,
                aw.try_clone().unwrap(),
            )
            .unwrap(),
        ];
        let c = Console {
            tty,
            number: 1,
            saved_kd: sys::KD_TEXT,
            saved_kb: sys::K_XLATE,
            saved_mode: sys::VtMode::default(),
            release,
            acquire,
            hooks,
            away,
        };
        (c, rw, aw)
    }

    #[test]
    fn signals_become_events_in_alternation_from_where_the_console_is() {
        use std::io::Write;
        let (mut c, mut rw, mut aw) = fake(false);
        assert!(c.events().is_empty());
        rw.write_all(&[0]).unwrap();
        assert_eq!(c.events(), [VtEvent::Release]);
        c.away = true;
        // Back and away again before the loop ran: acquire first, then release.
        aw.write_all(&[0]).unwrap();
        rw.write_all(&[0]).unwrap();
        assert_eq!(c.events(), [VtEvent::Acquire, VtEvent::Release]);

        let (mut c, mut rw, mut aw) = fake(false);
        rw.write_all(&[0]).unwrap();
        aw.write_all(&[0]).unwrap();
        assert_eq!(c.events(), [VtEvent::Release, VtEvent::Acquire]);
        // An acquisition while not away is not one (a stale byte): nothing.
        aw.write_all(&[0]).unwrap();
        assert!(c.events().is_empty());
    }
}
