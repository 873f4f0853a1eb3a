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

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::display::{ClientError, ClientEvent, Display};

/// A [`Display`] as a calloop event source: the callback gets each [`ClientEvent`] and the
/// display (to draw and flip in response). Fusion's generic [`fusionfb_sys::source::FdSource`].
pub type DisplaySource = fusionfb_sys::source::FdSource<Display>;

impl AsFd for Display {
    /// The connection's pollable fd.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.slave_ref().as_fd()
    }
}

impl fusionfb_sys::source::Pollable for Display {
    type Event = ClientEvent;
    type Error = ClientError;

    fn pump(&mut self) -> Result<Vec<ClientEvent>, ClientError> {
        self.dispatch(Some(Duration::ZERO))?;
        Ok(std::iter::from_fn(|| self.next_event()).collect())
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
