//! A backend's event sources, for the owner's `calloop` loop.
//!
//! A compositor runs one loop (niri's pattern) and keeps its backend in the loop's data.
//! [`Backend::loop_source`] hands it the backend's sources as one [`LoopSource`], put on the
//! loop with one `insert_source`; each time one of them fires, the callback gets a [`Wake`]
//! and passes it back to [`Backend::wake`], which does the work and returns the
//! [`BackendEvent`]s:
//!
//! ```
//! # #[cfg(feature = "headless")] {
//! use gfx_drivers::{Backend, HeadlessBackend};
//! struct State { backend: Box<dyn Backend>, presented: usize }
//! let mut event_loop = calloop::EventLoop::<State>::try_new().unwrap();
//! let mut backend: Box<dyn Backend> = Box::new(HeadlessBackend::new_default().unwrap());
//! let source = backend.loop_source().unwrap();
//! event_loop.handle().insert_source(source, |wake, _, state: &mut State| {
//!     for e in state.backend.wake(wake).unwrap() {
//!         if matches!(e, gfx_drivers::BackendEvent::Presented(_)) {
//!             state.presented += 1;
//!         }
//!     }
//! }).unwrap();
//! let mut state = State { backend, presented: 0 };
//! let output = state.backend.outputs()[0];
//! state.backend.commit(output, &[]).unwrap();
//! while state.presented == 0 {
//!     event_loop.dispatch(None, &mut state).unwrap();
//! }
//! # }
//! ```
//!
//! Most backends are one fd (the default: [`LoopSource::readable`], whose wake runs
//! [`Backend::dispatch`]). The DRM backend brings its own sources — the device (page flips),
//! the session, the udev monitor, the console and its timer — so they are sources of the
//! owner's loop, not of a loop of the backend's own. Written here because `calloop` sources
//! are not object safe: one concrete type, with one variant per kind of backend, is what a
//! `Box<dyn Backend>` can hand out.
//!
//! [`Backend::loop_source`]: crate::Backend::loop_source
//! [`Backend::wake`]: crate::Backend::wake
//! [`Backend::dispatch`]: crate::Backend::dispatch
//! [`BackendEvent`]: crate::BackendEvent

use std::os::fd::{AsFd, OwnedFd};

use calloop::generic::Generic;
use calloop::{EventSource, Interest, Poll, PostAction, Readiness, Token, TokenFactory};

/// A backend's event sources as one `calloop` source; see the [module docs](self).
#[derive(Debug)]
pub struct LoopSource {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The backend's one fd became readable.
    Readable(Generic<OwnedFd>),
    /// The DRM backend's sources.
    #[cfg(feature = "drm")]
    Drm(Box<crate::drm::sources::DrmSources>),
}

/// What woke a backend's [`LoopSource`]: give it to [`Backend::wake`](crate::Backend::wake).
#[derive(Debug)]
pub struct Wake(pub(crate) WakeKind);

#[derive(Debug)]
pub(crate) enum WakeKind {
    /// The backend's fd is readable.
    Readable,
    /// One of the DRM backend's sources fired.
    #[cfg(feature = "drm")]
    Drm(crate::drm::sources::DrmWake),
}

impl LoopSource {
    /// A source that wakes when `fd` (a duplicate of the backend's) is readable.
    pub fn readable(fd: impl AsFd) -> std::io::Result<LoopSource> {
        let fd = fd.as_fd().try_clone_to_owned()?;
        Ok(LoopSource {
            kind: Kind::Readable(Generic::new(fd, Interest::READ, calloop::Mode::Level)),
        })
    }

    /// The DRM backend's sources.
    #[cfg(feature = "drm")]
    pub(crate) fn drm(sources: crate::drm::sources::DrmSources) -> LoopSource {
        LoopSource {
            kind: Kind::Drm(Box::new(sources)),
        }
    }
}

impl EventSource for LoopSource {
    type Event = Wake;
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
        match &mut self.kind {
            Kind::Readable(g) => g.process_events(readiness, token, |_, _| {
                callback(Wake(WakeKind::Readable), &mut ());
                Ok(PostAction::Continue)
            }),
            #[cfg(feature = "drm")]
            Kind::Drm(d) => {
                d.process_events(readiness, token, |w, m| callback(Wake(WakeKind::Drm(w)), m))
            }
        }
    }

    fn register(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        match &mut self.kind {
            Kind::Readable(g) => g.register(poll, factory),
            #[cfg(feature = "drm")]
            Kind::Drm(d) => d.register(poll, factory),
        }
    }

    fn reregister(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        match &mut self.kind {
            Kind::Readable(g) => g.reregister(poll, factory),
            #[cfg(feature = "drm")]
            Kind::Drm(d) => d.reregister(poll, factory),
        }
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        match &mut self.kind {
            Kind::Readable(g) => g.unregister(poll),
            #[cfg(feature = "drm")]
            Kind::Drm(d) => d.unregister(poll),
        }
    }
}
