//! The event stream of a [`Display`]: as a `calloop` event source, or as a blocking iterator.
//!
//! ```no_run
//! use fusionfb_client::display::Display;
//! use fusionfb_client::events::DisplaySource;
//! // In an event loop:
//! let mut ev: calloop::EventLoop<()> = calloop::EventLoop::try_new().unwrap();
//! let d = Display::connect(None).unwrap();
//! ev.handle()
//!     .insert_source(DisplaySource::new(d).unwrap(), |event, _display, _| println!("{event:?}"))
//!     .unwrap();
//! // Or simply, blocking:
//! let mut d = Display::connect(None).unwrap();
//! for event in d.events() {
//!     println!("{event:?}");
//! }
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use calloop::generic::Generic;
use calloop::{EventSource, Interest, Mode, Poll, PostAction, Readiness, Token, TokenFactory};

use crate::display::{ClientError, ClientEvent, Display};

/// A [`Display`] as a calloop event source: the callback gets each [`ClientEvent`] and the
/// display (to draw and flip in response).
#[derive(Debug)]
pub struct DisplaySource {
    display: Display,
    fd: Generic<OwnedFd>,
}

impl DisplaySource {
    /// Wraps a display.
    pub fn new(mut display: Display) -> std::io::Result<Self> {
        let fd = display.slave().as_fd().try_clone_to_owned()?;
        Ok(Self {
            display,
            fd: Generic::new(fd, Interest::READ, Mode::Level),
        })
    }

    /// The display.
    pub fn get_mut(&mut self) -> &mut Display {
        &mut self.display
    }
}

impl EventSource for DisplaySource {
    type Event = ClientEvent;
    type Metadata = Display;
    type Ret = ();
    type Error = ClientError;

    fn process_events<F>(
        &mut self,
        readiness: Readiness,
        token: Token,
        mut callback: F,
    ) -> Result<PostAction, ClientError>
    where
        F: FnMut(ClientEvent, &mut Display),
    {
        let mut ready = false;
        self.fd
            .process_events(readiness, token, |_, _| {
                ready = true;
                Ok(PostAction::Continue)
            })
            .map_err(|e| ClientError::Fusion(e.into()))?;
        if ready {
            self.display.dispatch(Some(Duration::ZERO))?;
            while let Some(e) = self.display.next_event() {
                callback(e, &mut self.display);
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

/// A blocking iterator over a display's events; it ends after [`ClientEvent::MasterGone`]
/// (which it yields) or on an error.
#[derive(Debug)]
pub struct Events<'a> {
    display: &'a mut Display,
    done: bool,
}

impl Iterator for Events<'_> {
    type Item = ClientEvent;

    fn next(&mut self) -> Option<ClientEvent> {
        if self.done {
            return None;
        }
        loop {
            if let Some(e) = self.display.next_event() {
                if e == ClientEvent::MasterGone {
                    self.done = true;
                }
                return Some(e);
            }
            if self.display.dispatch(None).is_err() {
                self.done = true;
                return None;
            }
        }
    }
}

impl Display {
    /// The events, one by one, waiting for each (see [`Events`]).
    pub fn events(&mut self) -> Events<'_> {
        Events {
            display: self,
            done: false,
        }
    }
}
