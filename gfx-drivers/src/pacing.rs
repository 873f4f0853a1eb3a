//! Software vblank pacing, shared by the backends that have no vblank event of their own
//! (`headless`, `fbdev` without `FBIO_WAITFORVSYNC`, `window`): a [`VblankClock`] that says
//! when vblank `k` falls, and a `timerfd` ([`Timer`]) armed for the next deadline, which is the
//! backend's pollable fd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

use crate::backend::Error;

/// Vblank `k` of the current mode falls at `epoch_ns + k * period_ns` and has counter
/// `base_seq + k`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VblankClock {
    pub(crate) epoch_ns: u64,
    pub(crate) period_ns: u64,
    pub(crate) base_seq: u64,
}

impl VblankClock {
    /// A clock ticking every `period_ns` (at least 1) from `now`, counter 0.
    pub(crate) fn new(now: u64, period_ns: u64) -> VblankClock {
        VblankClock {
            epoch_ns: now,
            period_ns: period_ns.max(1),
            base_seq: 0,
        }
    }

    /// The same counter, ticking every `period_ns` from `now` on (a mode change).
    pub(crate) fn retime(&mut self, now: u64, period_ns: u64) {
        let k = self.last_k(now);
        *self = VblankClock {
            epoch_ns: now,
            period_ns: period_ns.max(1),
            base_seq: self.base_seq + k,
        };
    }

    /// Index (relative to the epoch) of the last vblank at or before `t`.
    pub(crate) fn last_k(&self, t: u64) -> u64 {
        t.saturating_sub(self.epoch_ns) / self.period_ns
    }

    /// The first vblank strictly after `t`: (counter, time).
    pub(crate) fn next_after(&self, t: u64) -> (u64, u64) {
        let k = self.last_k(t) + 1;
        (self.base_seq + k, self.epoch_ns + k * self.period_ns)
    }
}

/// A non-blocking `CLOCK_MONOTONIC` timerfd armed at absolute deadlines.
#[derive(Debug)]
pub(crate) struct Timer(OwnedFd);

impl Timer {
    pub(crate) fn new() -> Result<Timer, Error> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        Ok(Timer(fd))
    }

    /// Another handle on the same timer (a `dup` of its fd): arming either arms both.
    pub(crate) fn try_clone(&self) -> Result<Timer, Error> {
        Ok(Timer(self.0.try_clone().map_err(Error::Io)?))
    }

    /// Fires once at `deadline_ns` (`CLOCK_MONOTONIC`), or never with `None`.
    pub(crate) fn arm(&self, deadline_ns: Option<u64>) -> Result<(), Error> {
        let ts = |ns: u64| Timespec {
            tv_sec: (ns / 1_000_000_000) as _,
            tv_nsec: (ns % 1_000_000_000) as _,
        };
        let spec = Itimerspec {
            it_interval: ts(0),
            // 0 disarms; a deadline is never 0 on CLOCK_MONOTONIC.
            it_value: ts(deadline_ns.map_or(0, |ns| ns.max(1))),
        };
        rustix::time::timerfd_settime(&self.0, TimerfdTimerFlags::ABSTIME, &spec)
            .map_err(std::io::Error::from)?;
        Ok(())
    }

    /// Reads the expiry count so the fd is no longer readable.
    pub(crate) fn drain(&self) -> Result<(), Error> {
        let mut ticks = [0u8; 8];
        match rustix::io::read(&self.0, &mut ticks) {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(std::io::Error::from(e).into()),
        }
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_counts_vblanks_across_a_retime() {
        let mut c = VblankClock::new(1_000, 100);
        assert_eq!(c.next_after(1_000), (1, 1_100));
        assert_eq!(c.next_after(1_099), (1, 1_100));
        assert_eq!(c.next_after(1_100), (2, 1_200));
        c.retime(1_350, 50);
        assert_eq!(c.next_after(1_350), (4, 1_400));
    }
}

/// The bookkeeping of a backend with one output, one mode and one primary plane whose
/// commits copy pixels (`fbdev`, `window`): the output's description, commit validation,
/// the one commit in flight, and its [`Presented`](crate::Presented) event, paced by a
/// [`VblankClock`] and [`Timer`] (or reported at once when the backend waited for a real
/// vblank).
#[cfg(any(feature = "fbdev", feature = "window"))]
#[derive(Debug)]
pub(crate) struct SingleOutput {
    pub(crate) info: crate::backend::OutputInfo,
    pub(crate) timer: Timer,
    pub(crate) clock: VblankClock,
    /// (commit, vblank counter, when it is on the glass).
    pending: Option<(crate::backend::CommitId, u64, u64)>,
    next_commit: u64,
}

#[cfg(any(feature = "fbdev", feature = "window"))]
impl SingleOutput {
    /// The output's id and its primary plane's.
    pub(crate) const OUTPUT: crate::backend::OutputId = crate::backend::OutputId(0);
    pub(crate) const PRIMARY: crate::backend::PlaneId = crate::backend::PlaneId(1);

    /// Output `name` running `mode`, its primary plane taking every [`Format`](crate::Format)
    /// (the backend converts while copying).
    pub(crate) fn new(
        name: String,
        mode: crate::backend::Mode,
        physical_size_mm: (u32, u32),
    ) -> Result<SingleOutput, Error> {
        use crate::backend::{OutputInfo, PlaneInfo, PlaneKind, Transform};
        Ok(SingleOutput {
            info: OutputInfo {
                id: Self::OUTPUT,
                name,
                modes: vec![mode],
                current_mode: mode,
                physical_size_mm,
                transform: Transform::Normal,
                planes: vec![PlaneInfo {
                    id: Self::PRIMARY,
                    kind: PlaneKind::Primary,
                    formats: crate::Format::ALL.to_vec(),
                    zpos: 0,
                    max_size: None,
                }],
            },
            timer: Timer::new()?,
            clock: VblankClock::new(fusionfb_sys::now_ns(), mode.refresh_interval_ns()),
            pending: None,
            next_commit: 1,
        })
    }

    pub(crate) fn output(
        &self,
        output: crate::backend::OutputId,
    ) -> Result<&crate::backend::OutputInfo, Error> {
        (output == Self::OUTPUT)
            .then_some(&self.info)
            .ok_or(Error::UnknownOutput(output))
    }

    pub(crate) fn is_pending(&self, output: crate::backend::OutputId) -> Result<bool, Error> {
        self.output(output)?;
        Ok(self.pending.is_some())
    }

    /// `set_mode`: only the one mode there is.
    pub(crate) fn set_mode(
        &self,
        output: crate::backend::OutputId,
        mode: crate::backend::Mode,
    ) -> Result<(), Error> {
        if self.is_pending(output)? {
            return Err(Error::Busy(output));
        }
        if mode == self.info.current_mode {
            Ok(())
        } else {
            Err(Error::UnsupportedMode { output, mode })
        }
    }

    /// Checks `output` and `plane` name the primary plane.
    pub(crate) fn check_plane(
        &self,
        output: crate::backend::OutputId,
        plane: crate::backend::PlaneId,
    ) -> Result<(), Error> {
        self.output(output)?;
        if plane == Self::PRIMARY {
            Ok(())
        } else {
            Err(Error::UnknownPlane { output, plane })
        }
    }

    /// Checks a commit: not busy, at most the primary plane, a buffer of the mode's size at
    /// (0, 0). Returns the primary plane's update, `None` for a frame-clock commit.
    pub(crate) fn check_commit<'u, 'b>(
        &self,
        output: crate::backend::OutputId,
        updates: &'u [crate::backend::PlaneUpdate<'b>],
    ) -> Result<Option<&'u crate::backend::PlaneUpdate<'b>>, Error> {
        if self.is_pending(output)? {
            return Err(Error::Busy(output));
        }
        if updates.len() > 1 {
            return Err(Error::InvalidCommit(format!(
                "{} has one plane; name it once",
                self.info.name
            )));
        }
        let Some(u) = updates.first() else {
            return Ok(None);
        };
        self.check_plane(output, u.plane)?;
        let mode = self.info.current_mode;
        if let Some(b) = u.buffer {
            if u.position != (0, 0) || b.width() != mode.width || b.height() != mode.height {
                return Err(Error::InvalidCommit(format!(
                    "the primary plane needs a {}x{} buffer at (0, 0), got {}x{} at {:?}",
                    mode.width,
                    mode.height,
                    b.width(),
                    b.height(),
                    u.position
                )));
            }
        }
        Ok(Some(u))
    }

    /// Records a commit whose pixels are in place: it is presented at the next tick of the
    /// clock, or at once (`on_glass_now`) when the backend just waited for the vblank.
    pub(crate) fn schedule(
        &mut self,
        on_glass_now: bool,
    ) -> Result<crate::backend::CommitId, Error> {
        let commit = crate::backend::CommitId(self.next_commit);
        self.next_commit += 1;
        let now = fusionfb_sys::now_ns();
        let (sequence, deadline) = if on_glass_now {
            self.clock.retime(now, self.clock.period_ns);
            (self.clock.base_seq, now)
        } else {
            self.clock.next_after(now)
        };
        self.pending = Some((commit, sequence, deadline));
        self.timer.arm(Some(deadline))?;
        Ok(commit)
    }

    /// The [`Presented`](crate::Presented) event of the commit in flight if it is due (and
    /// the timer re-armed for it otherwise).
    pub(crate) fn presented(&mut self) -> Result<Option<crate::backend::BackendEvent>, Error> {
        self.timer.drain()?;
        let now = fusionfb_sys::now_ns();
        let mut event = None;
        if let Some((commit, sequence, deadline)) = self.pending {
            if deadline <= now {
                self.pending = None;
                event = Some(crate::backend::BackendEvent::Presented(crate::Presented {
                    output: Self::OUTPUT,
                    commit,
                    sequence,
                    time_ns: deadline,
                    refresh_ns: self.clock.period_ns,
                }));
            }
        }
        self.timer.arm(self.pending.map(|p| p.2))?;
        Ok(event)
    }
}
