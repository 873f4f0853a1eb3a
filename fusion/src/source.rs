//! Fusion endpoints in an event loop: `calloop` sources and an optional dispatch thread.
//!
//! Every endpoint is one pollable fd ([`crate::Master`] and [`crate::Slave`] implement
//! `AsFd`), so they plug into any loop. For `calloop`, any [`Pollable`] (one fd, and a
//! `pump` that does what it signals) becomes an event source through [`FdSource`] (both from
//! `fusionfb-sys`, re-exported here); the display backends and the client library use the
//! same wrapper. [`MasterSource`] and
//! [`SlaveSource`]
//! wrap them as event sources: the loop wakes when there is work, the source dispatches,
//! and the callback gets each world event with the endpoint itself. There is no dispatcher
//! thread in the architecture (DirectFB's one-thread-runs-everything design was the source of
//! years of deadlock fixes); [`DispatchThread`] is an option for simple programs that just
//! want their reactions run in the background.
//!
//! ```no_run
//! use fusion::source::SlaveSource;
//! let mut event_loop: calloop::EventLoop<()> = calloop::EventLoop::try_new().unwrap();
//! let slave = fusion::Slave::enter(fusion::WorldConfig::new("example")).unwrap();
//! event_loop
//!     .handle()
//!     .insert_source(SlaveSource::new(slave).unwrap(), |event, _slave, _| println!("{event:?}"))
//!     .unwrap();
//! event_loop.dispatch(None, &mut ()).unwrap();
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use fusionfb_sys::source::{FdSource, Pollable};

use crate::{Error, Master, MasterEvent, Slave, SlaveEvent};

impl Pollable for Master {
    type Event = MasterEvent;
    type Error = Error;

    fn pump(&mut self) -> Result<Vec<MasterEvent>, Error> {
        self.dispatch(Some(Duration::ZERO))?;
        Ok(std::iter::from_fn(|| self.next_event()).collect())
    }
}

impl Pollable for Slave {
    type Event = SlaveEvent;
    type Error = Error;

    fn pump(&mut self) -> Result<Vec<SlaveEvent>, Error> {
        self.dispatch(Some(Duration::ZERO))?;
        Ok(std::iter::from_fn(|| self.next_event()).collect())
    }
}

/// A [`Master`] as a calloop event source; the callback gets each [`MasterEvent`].
pub type MasterSource = FdSource<Master>;

/// A [`Slave`] as a calloop event source; reactions and call handlers run inside it, the
/// callback gets each [`SlaveEvent`].
pub type SlaveSource = FdSource<Slave>;

/// A background thread that dispatches a shared slave: reactions and call handlers run on
/// it, world events are handed to `on_event`. Other threads lock the slave to use it.
#[derive(Debug)]
pub struct DispatchThread {
    stop: Arc<AtomicBool>,
    wake: OwnedFd,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl DispatchThread {
    /// Starts dispatching `slave` on a new thread.
    pub fn spawn(
        slave: Arc<Mutex<Slave>>,
        mut on_event: impl FnMut(SlaveEvent) + Send + 'static,
    ) -> crate::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = crate::sys::eventfd()?;
        let fd = slave
            .lock()
            .map_err(|_| Error::Invalid("poisoned".into()))?
            .as_fd()
            .try_clone_to_owned()?;
        let (stop2, wake2) = (stop.clone(), wake.try_clone()?);
        let handle = std::thread::Builder::new()
            .name("fusion-dispatch".into())
            .spawn(move || {
                while !stop2.load(Ordering::Acquire) {
                    // Wait without the lock, so other threads can call meanwhile.
                    crate::sys::poll_readable(&[fd.as_fd(), wake2.as_fd()], None);
                    if stop2.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(mut s) = slave.lock() else { break };
                    if s.dispatch(Some(Duration::ZERO)).is_err() {
                        break;
                    }
                    let mut gone = false;
                    while let Some(e) = s.next_event() {
                        gone |= e == SlaveEvent::MasterGone;
                        on_event(e);
                    }
                    if gone {
                        break;
                    }
                }
            })?;
        Ok(Self {
            stop,
            wake,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        crate::sys::eventfd_signal(self.wake.as_fd());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for DispatchThread {
    fn drop(&mut self) {
        self.halt();
    }
}
