//! The DRM backend's event sources, gathered into one `calloop` source ([`DrmSources`]) so
//! that they sit on the owner's loop ([`crate::LoopSource`]): the device (page-flip
//! completions), the libseat session (pause/resume), the udev monitor (connector
//! hot-plug), the console's VT-switch signals, and a timerfd for the page-flip watchdog and
//! the frames of a paused session.
//!
//! Each inner source checks its own token, so one readiness is offered to each in turn
//! (calloop's composite-source pattern).

use std::os::fd::OwnedFd;

use calloop::generic::Generic;
use calloop::{EventSource, Poll, PostAction, Readiness, Token, TokenFactory};
use smithay::backend::drm::{DrmDeviceNotifier, DrmEvent, DrmEventMetadata};
use smithay::backend::session::Event as SessionEvent;
use smithay::backend::udev::{UdevBackend, UdevEvent};
use smithay::reexports::drm::control::crtc;

use super::seat::SeatNotifier;

/// What one of the DRM backend's sources reported.
#[derive(Debug)]
pub(crate) enum DrmWake {
    /// A page flip (or a modeset) completed on a CRTC.
    Flip(crtc::Handle, Option<DrmEventMetadata>),
    /// The device reported an error.
    Error(String),
    /// The seat manager paused or resumed the session.
    Session(SessionEvent),
    /// The console's signal sockets became readable (a VT switch asked).
    Vt,
    /// A DRM device changed (a connector was plugged or unplugged).
    Hotplug(rustix::fs::Dev),
    /// The timer fired: a timed commit or a watchdog is due.
    Timer,
}

/// The DRM backend's sources; see the [module docs](self).
pub(crate) struct DrmSources {
    pub device: DrmDeviceNotifier,
    pub session: Option<SeatNotifier>,
    pub udev: Option<UdevBackend>,
    pub console: Vec<Generic<OwnedFd>>,
    pub timer: Generic<OwnedFd>,
}

impl std::fmt::Debug for DrmSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmSources")
            .field("session", &self.session.is_some())
            .field("udev", &self.udev.is_some())
            .field("console", &self.console.len())
            .finish()
    }
}

impl EventSource for DrmSources {
    type Event = DrmWake;
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
        self.device
            .process_events(readiness, token, |e, meta| match e {
                DrmEvent::VBlank(crtc) => callback(DrmWake::Flip(crtc, *meta), &mut ()),
                DrmEvent::Error(e) => callback(DrmWake::Error(e.to_string()), &mut ()),
            })?;
        if let Some(s) = &mut self.session {
            s.process_events(readiness, token, |e, _| {
                callback(DrmWake::Session(e), &mut ())
            })
            .map_err(std::io::Error::other)?;
        }
        if let Some(u) = &mut self.udev {
            u.process_events(readiness, token, |e, _| {
                if let UdevEvent::Changed { device_id } = e {
                    callback(DrmWake::Hotplug(device_id), &mut ());
                }
            })?;
        }
        for c in &mut self.console {
            c.process_events(readiness, token, |_, _| {
                callback(DrmWake::Vt, &mut ());
                Ok(PostAction::Continue)
            })?;
        }
        self.timer.process_events(readiness, token, |_, fd| {
            let mut ticks = [0u8; 8];
            let _ = rustix::io::read(&**fd, &mut ticks);
            callback(DrmWake::Timer, &mut ());
            Ok(PostAction::Continue)
        })?;
        Ok(PostAction::Continue)
    }

    fn register(&mut self, poll: &mut Poll, f: &mut TokenFactory) -> calloop::Result<()> {
        self.device.register(poll, f)?;
        if let Some(s) = &mut self.session {
            s.register(poll, f)?;
        }
        if let Some(u) = &mut self.udev {
            u.register(poll, f)?;
        }
        for c in &mut self.console {
            c.register(poll, f)?;
        }
        self.timer.register(poll, f)
    }

    fn reregister(&mut self, poll: &mut Poll, f: &mut TokenFactory) -> calloop::Result<()> {
        self.device.reregister(poll, f)?;
        if let Some(s) = &mut self.session {
            s.reregister(poll, f)?;
        }
        if let Some(u) = &mut self.udev {
            u.reregister(poll, f)?;
        }
        for c in &mut self.console {
            c.reregister(poll, f)?;
        }
        self.timer.reregister(poll, f)
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        self.device.unregister(poll)?;
        if let Some(s) = &mut self.session {
            s.unregister(poll)?;
        }
        if let Some(u) = &mut self.udev {
            u.unregister(poll)?;
        }
        for c in &mut self.console {
            c.unregister(poll)?;
        }
        self.timer.unregister(poll)
    }
}
