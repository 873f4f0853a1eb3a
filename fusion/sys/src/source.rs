//! One pollable fd as a `calloop` event source.
//!
//! Every endpoint of fusionfb is one pollable fd: Fusion's master and slave, the display
//! backends, the input source, the client library's connection. Each implements
//! [`Pollable`] (its fd, and a `pump` that does what the fd signals without waiting), and
//! [`FdSource`] turns any of them into a calloop event source that owns it, so an owner adds
//! it to its loop with one `insert_source`. The trait lives here, in the crate under all the
//! others, so that the display and input crates need not depend on Fusion to offer it.

use std::os::fd::{AsFd, OwnedFd};

use calloop::generic::Generic;
use calloop::{EventSource, Interest, Mode, Poll, PostAction, Readiness, Token, TokenFactory};

/// Something with one pollable fd: when the fd is readable, [`Pollable::pump`] does the work
/// without waiting and returns what happened. [`FdSource`] turns any such thing into a
/// calloop event source; Fusion's master and slave are pollables, and so are the display
/// backends, the input source and the client library's connection.
pub trait Pollable: AsFd {
    /// What happened.
    type Event;
    /// What can go wrong.
    type Error: From<std::io::Error> + Into<Box<dyn std::error::Error + Sync + Send>>;

    /// Handles everything ready now, without waiting, and returns the events.
    fn pump(&mut self) -> Result<Vec<Self::Event>, Self::Error>;
}

/// A [`Pollable`] as a calloop event source that owns it: the callback gets each event with
/// the pollable itself (to answer, draw or commit).
#[derive(Debug)]
pub struct FdSource<T> {
    inner: T,
    fd: Generic<OwnedFd>,
}

impl<T: Pollable> FdSource<T> {
    /// Wraps `inner`, watching a duplicate of its fd.
    pub fn new(inner: T) -> std::io::Result<Self> {
        let fd = inner.as_fd().try_clone_to_owned()?;
        Ok(Self {
            inner,
            fd: Generic::new(fd, Interest::READ, Mode::Level),
        })
    }

    /// The wrapped pollable.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps it.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Pollable> EventSource for FdSource<T> {
    type Event = T::Event;
    type Metadata = T;
    type Ret = ();
    type Error = T::Error;

    fn process_events<F>(
        &mut self,
        readiness: Readiness,
        token: Token,
        mut callback: F,
    ) -> Result<PostAction, T::Error>
    where
        F: FnMut(T::Event, &mut T),
    {
        let mut ready = false;
        self.fd.process_events(readiness, token, |_, _| {
            ready = true;
            Ok(PostAction::Continue)
        })?;
        if ready {
            for e in self.inner.pump()? {
                callback(e, &mut self.inner);
            }
        }
        Ok(PostAction::Continue)
    }

    fn register(&mut self, poll: &mut Poll, f: &mut TokenFactory) -> calloop::Result<()> {
        self.fd.register(poll, f)
    }

    fn reregister(&mut self, poll: &mut Poll, f: &mut TokenFactory) -> calloop::Result<()> {
        self.fd.reregister(poll, f)
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        self.fd.unregister(poll)
    }
}
