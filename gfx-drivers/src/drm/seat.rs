//! The display's seat session: smithay's [`Session`] trait and a calloop source of its
//! pause/resume events, over libseat loaded at run time ([`fusionfb_sys::libseat`]).
//!
//! This stands in for smithay's `LibSeatSession` (feature `backend_session_libseat`), which
//! links libseat and so loads libsystemd's chain into every master, seat manager or not
//! (0.84 MiB resident at idle). It keeps that type's shape and behaviour: the [`SeatSession`]
//! handles (given to libinput and kept by the backend) are weak, the [`SeatNotifier`] owns
//! the seat and sits on the loop; a disable is acknowledged as it is reported.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::rc::{Rc, Weak};

use calloop::generic::Generic;
use calloop::{EventSource, Interest, Mode, Poll, PostAction, Readiness, Token, TokenFactory};
use fusionfb_sys::libseat::{OpenError, Seat, SeatEvent};
use rustix::fs::OFlags;
use smithay::backend::session::{AsErrno, Event as SessionEvent, Session};

/// A seat session's error.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    /// libseat is not installed.
    #[error("cannot load libseat.so.1 (install libseat1): {0}")]
    NoLibrary(String),
    /// The seat manager gave no seat.
    #[error("{0}")]
    NoSeat(std::io::Error),
    /// The seat is closed (its notifier was dropped).
    #[error("the seat session is closed")]
    Lost,
    /// libseat said no.
    #[error(transparent)]
    Os(#[from] std::io::Error),
}

impl AsErrno for SeatError {
    fn as_errno(&self) -> Option<i32> {
        match self {
            SeatError::Lost | SeatError::NoLibrary(_) => None,
            SeatError::NoSeat(e) => e.raw_os_error(),
            SeatError::Os(e) => e.raw_os_error(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    seat: RefCell<Seat>,
    active: Cell<bool>,
    /// libseat's device ids, by the fd handed out.
    devices: RefCell<HashMap<RawFd, i32>>,
}

/// A handle on the seat session, for opening devices (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct SeatSession {
    inner: Weak<Inner>,
    name: String,
}

/// The seat session's owner and event source: [`SessionEvent`]s as the seat manager
/// pauses and resumes the session.
#[derive(Debug)]
pub struct SeatNotifier {
    inner: Rc<Inner>,
    /// A duplicate of the seat's fd, polled for the seat manager's messages (a duplicate, so
    /// that the loop source owns what it polls).
    fd: Generic<OwnedFd>,
}

impl SeatSession {
    /// Opens the seat through libseat (loaded now): a handle and the notifier that owns it.
    pub fn open() -> Result<(SeatSession, SeatNotifier), SeatError> {
        let mut seat = Seat::open().map_err(|e| match e {
            OpenError::Load(e) => SeatError::NoLibrary(e),
            OpenError::Open(e) => SeatError::NoSeat(e),
        })?;
        // The seat manager may enable the seat at once.
        seat.dispatch(0)?;
        let active = seat.take_events().last() == Some(&SeatEvent::Enable);
        let name = seat.name();
        let fd = Generic::new(
            seat.fd()?.try_clone_to_owned()?,
            Interest::READ,
            Mode::Level,
        );
        let inner = Rc::new(Inner {
            seat: RefCell::new(seat),
            active: Cell::new(active),
            devices: RefCell::default(),
        });
        let session = SeatSession {
            inner: Rc::downgrade(&inner),
            name,
        };
        Ok((session, SeatNotifier { inner, fd }))
    }

    fn inner(&self) -> Result<Rc<Inner>, SeatError> {
        self.inner.upgrade().ok_or(SeatError::Lost)
    }
}

impl Session for SeatSession {
    type Error = SeatError;

    fn open(&mut self, path: &Path, _flags: OFlags) -> Result<OwnedFd, SeatError> {
        let inner = self.inner()?;
        let (id, fd) = inner.seat.borrow_mut().open_device(path)?;
        inner.devices.borrow_mut().insert(fd.as_raw_fd(), id);
        Ok(fd)
    }

    fn close(&mut self, fd: OwnedFd) -> Result<(), SeatError> {
        let inner = self.inner()?;
        let id = inner.devices.borrow_mut().remove(&fd.as_raw_fd());
        match id {
            Some(id) => Ok(inner.seat.borrow_mut().close_device(id)?),
            None => Ok(()),
        }
        // `fd` is closed as it drops.
    }

    fn change_vt(&mut self, vt: i32) -> Result<(), SeatError> {
        Ok(self.inner()?.seat.borrow_mut().switch_session(vt)?)
    }

    fn is_active(&self) -> bool {
        self.inner.upgrade().is_some_and(|i| i.active.get())
    }

    fn seat(&self) -> String {
        self.name.clone()
    }
}

impl SeatNotifier {
    /// A new handle on this notifier's seat.
    pub fn session(&self) -> SeatSession {
        SeatSession {
            inner: Rc::downgrade(&self.inner),
            name: self.inner.seat.borrow().name(),
        }
    }
}

impl EventSource for SeatNotifier {
    type Event = SessionEvent;
    type Metadata = ();
    type Ret = ();
    type Error = SeatError;

    fn process_events<F>(
        &mut self,
        readiness: Readiness,
        token: Token,
        mut callback: F,
    ) -> Result<PostAction, SeatError>
    where
        F: FnMut(SessionEvent, &mut ()),
    {
        let mut readable = false;
        self.fd.process_events(readiness, token, |_, _| {
            readable = true;
            Ok(PostAction::Continue)
        })?;
        if !readable {
            return Ok(PostAction::Continue);
        }
        let events = {
            let mut seat = self.inner.seat.borrow_mut();
            seat.dispatch(0)?;
            seat.take_events()
        };
        for e in events {
            match e {
                SeatEvent::Enable => {
                    self.inner.active.set(true);
                    callback(SessionEvent::ActivateSession, &mut ());
                }
                SeatEvent::Disable => {
                    self.inner.active.set(false);
                    self.inner.seat.borrow_mut().disable()?;
                    callback(SessionEvent::PauseSession, &mut ());
                }
            }
        }
        Ok(PostAction::Continue)
    }

    fn register(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        self.fd.register(poll, factory)
    }

    fn reregister(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        self.fd.reregister(poll, factory)
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        self.fd.unregister(poll)
    }
}
