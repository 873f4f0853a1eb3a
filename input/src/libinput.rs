//! Real devices through libinput: a udev seat (hot-plug included) or an explicit list of
//! device nodes (libinput's path backend, for boards without udev rules).
//!
//! Devices are opened through the display's libseat session when there is one (a seat
//! manager runs: seatd or logind hand out the devices, and revoke them while the session is
//! paused), directly otherwise (see the crate docs). Touch calibration is done by this crate,
//! not by libinput: when a touch device appears, its default matrix (udev's
//! `LIBINPUT_CALIBRATION_MATRIX`) is read and libinput's is set to identity, so events carry
//! the uncalibrated position and [`crate::InputSource`] applies the config's matrix, else the
//! device's — one code path for real and injected touches.
//!
//! The output a touchscreen or absolute pointer maps to may be named by its udev property
//! `WL_OUTPUT`, read as Weston reads it: libinput's device → its udev device → the property.
//! That goes through the `udev` crate smithay already links (`input`'s `udev` feature, which
//! `backend_udev` turns on), so it takes no new dependency and reads exactly the udev database
//! libinput itself uses — rather than parsing `/run/udev/data/c<major>:<minor>` by hand, a
//! format private to systemd-udevd. The one `unsafe` call is
//! [`Device::udev_device`](smithay::reexports::input::Device::udev_device) (see
//! [`output_hint`]).

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use smithay::backend::libinput::LibinputSessionInterface;
use smithay::backend::session::Session;
use smithay::reexports::input::event::keyboard::{KeyState, KeyboardEventTrait};
use smithay::reexports::input::event::pointer::{Axis, ButtonState, PointerScrollEvent};
use smithay::reexports::input::event::touch::{
    TouchEventPosition, TouchEventSlot, TouchEventTrait,
};
use smithay::reexports::input::event::{
    DeviceEvent, EventTrait, KeyboardEvent, PointerEvent, TouchEvent,
};
use smithay::reexports::input::{Device, DeviceCapability, Event, Libinput, LibinputInterface};
use tracing::warn;

use crate::event::{DeviceInfo, InputEvent, TouchPhase};
use crate::source::{At, Raw};
use crate::Error;

/// Opens device nodes with `open(2)`.
struct DirectOpen;

impl LibinputInterface for DirectOpen {
    fn open_restricted(&mut self, path: &Path, flags: i32) -> Result<OwnedFd, i32> {
        let access = flags & libc_o::ACCMODE;
        std::fs::OpenOptions::new()
            .read(access != libc_o::WRONLY)
            .write(access != libc_o::RDONLY)
            .custom_flags(flags & !libc_o::ACCMODE)
            .open(path)
            .map(OwnedFd::from)
            .map_err(|e| {
                warn!("cannot open {}: {e}", path.display());
                e.raw_os_error().unwrap_or(1)
            })
    }

    fn close_restricted(&mut self, fd: OwnedFd) {
        drop(fd);
    }
}

/// The open-flag bits the interface looks at (Linux values).
mod libc_o {
    pub const ACCMODE: i32 = 0o3;
    pub const RDONLY: i32 = 0o0;
    pub const WRONLY: i32 = 0o1;
}

/// What the backend keeps about a touch or pointer device.
#[derive(Debug, Default)]
struct Known {
    /// Its own calibration (udev's), touch devices only.
    matrix: Option<[f32; 6]>,
    /// Its `WL_OUTPUT`.
    output: Option<Arc<str>>,
}

/// A libinput context and what it knows about its devices.
pub(crate) struct Backend {
    li: Libinput,
    /// Each touch or pointer device's calibration and output hint, by sysname.
    known: BTreeMap<String, Known>,
}

impl Backend {
    /// The seat's devices through udev, or exactly `devices` through the path backend;
    /// opened through `session` when given (and on its seat), directly otherwise.
    pub fn open<S: Session + Clone + 'static>(
        seat: &str,
        devices: &[PathBuf],
        session: Option<&S>,
    ) -> Result<Backend, Error> {
        let seat = session.map(|s| s.seat()).unwrap_or_else(|| seat.to_owned());
        let seat = seat.as_str();
        let new_udev = || match session {
            Some(s) => Libinput::new_with_udev(LibinputSessionInterface::from(s.clone())),
            None => Libinput::new_with_udev(DirectOpen),
        };
        let new_path = || match session {
            Some(s) => Libinput::new_from_path(LibinputSessionInterface::from(s.clone())),
            None => Libinput::new_from_path(DirectOpen),
        };
        if session.is_some() {
            tracing::info!("input: devices through the libseat session");
        }
        let li = if devices.is_empty() {
            let mut li = new_udev();
            li.udev_assign_seat(seat)
                .map_err(|()| Error::Libinput(format!("cannot assign udev seat {seat:?}")))?;
            tracing::info!("input: libinput on udev seat {seat:?}");
            li
        } else {
            let mut li = new_path();
            for d in devices {
                let path = d
                    .to_str()
                    .ok_or_else(|| Error::Libinput(format!("{}: not a UTF-8 path", d.display())))?;
                if li.path_add_device(path).is_none() {
                    return Err(Error::Libinput(format!(
                        "{path}: not an input device libinput can open"
                    )));
                }
            }
            tracing::info!("input: libinput on {} listed device(s)", devices.len());
            li
        };
        Ok(Backend {
            li,
            known: BTreeMap::new(),
        })
    }

    /// Stops reading the devices and closes them (the session was paused: the seat manager
    /// revokes them anyway).
    pub fn suspend(&mut self) {
        self.li.suspend();
    }

    /// Opens the devices again after [`Backend::suspend`].
    pub fn resume(&mut self) {
        if self.li.resume().is_err() {
            warn!("input: libinput could not resume its devices");
        }
    }

    /// Reads every pending libinput event into `out`.
    pub fn dispatch(&mut self, out: &mut Vec<Raw>) -> Result<(), Error> {
        self.li.dispatch()?;
        self.queued(out);
        Ok(())
    }

    /// Takes the events libinput has already queued into `out`, without reading its fd (no
    /// system call): what assigning the seat or resuming queued.
    pub fn queued(&mut self, out: &mut Vec<Raw>) {
        while let Some(event) = self.li.next() {
            self.convert(event, out);
        }
    }

    fn convert(&mut self, event: Event, out: &mut Vec<Raw>) {
        match event {
            Event::Device(DeviceEvent::Added(e)) => {
                let mut dev = e.device();
                let info = info_of(&dev);
                let mut known = Known {
                    matrix: None,
                    output: info.output.as_deref().map(Arc::from),
                };
                if info.touch {
                    known.matrix = dev.config_calibration_default_matrix();
                    if dev.config_calibration_has_matrix() {
                        let _ = dev.config_calibration_set_matrix([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
                    }
                }
                if info.touch || info.pointer {
                    self.known.insert(info.sysname.clone(), known);
                }
                out.push(Raw::Event(InputEvent::DeviceAdded(info)));
            }
            Event::Device(DeviceEvent::Removed(e)) => {
                let info = info_of(&e.device());
                self.known.remove(&info.sysname);
                out.push(Raw::Event(InputEvent::DeviceRemoved(info)));
            }
            Event::Touch(t) => {
                let time_ns = t.time_usec() * 1000;
                let known = self.known.get(t.device().sysname());
                let matrix = known.and_then(|k| k.matrix);
                let output = known.and_then(|k| k.output.clone());
                let (phase, slot, at) = match &t {
                    TouchEvent::Down(e) => (
                        TouchPhase::Down,
                        e.seat_slot(),
                        Some(At::Panel(e.x_transformed(1), e.y_transformed(1))),
                    ),
                    TouchEvent::Motion(e) => (
                        TouchPhase::Motion,
                        e.seat_slot(),
                        Some(At::Panel(e.x_transformed(1), e.y_transformed(1))),
                    ),
                    TouchEvent::Up(e) => (TouchPhase::Up, e.seat_slot(), None),
                    TouchEvent::Cancel(e) => (TouchPhase::Cancel, e.seat_slot(), None),
                    TouchEvent::Frame(_) => (TouchPhase::Frame, 0, None),
                    _ => return,
                };
                out.push(Raw::Touch {
                    phase,
                    slot,
                    at,
                    matrix,
                    output,
                    time_ns,
                });
            }
            Event::Pointer(p) => {
                let time_ns = match &p {
                    PointerEvent::Motion(e) => e.time_usec(),
                    PointerEvent::MotionAbsolute(e) => e.time_usec(),
                    PointerEvent::Button(e) => e.time_usec(),
                    PointerEvent::ScrollWheel(e) => e.time_usec(),
                    PointerEvent::ScrollFinger(e) => e.time_usec(),
                    PointerEvent::ScrollContinuous(e) => e.time_usec(),
                    _ => return,
                } * 1000;
                use smithay::reexports::input::event::pointer::PointerEventTrait;
                let e = match p {
                    PointerEvent::Motion(e) => InputEvent::PointerMotion {
                        dx: e.dx() as f32,
                        dy: e.dy() as f32,
                        time_ns,
                    },
                    PointerEvent::MotionAbsolute(e) => {
                        let output = self.known.get(e.device().sysname());
                        out.push(Raw::Absolute {
                            u: e.absolute_x_transformed(1),
                            v: e.absolute_y_transformed(1),
                            output: output.and_then(|k| k.output.clone()),
                            time_ns,
                        });
                        return;
                    }
                    PointerEvent::Button(e) => InputEvent::PointerButton {
                        button: e.button(),
                        pressed: e.button_state() == ButtonState::Pressed,
                        time_ns,
                    },
                    PointerEvent::ScrollWheel(e) => scroll(&e, time_ns),
                    PointerEvent::ScrollFinger(e) => scroll(&e, time_ns),
                    PointerEvent::ScrollContinuous(e) => scroll(&e, time_ns),
                    _ => return,
                };
                out.push(Raw::Event(e));
            }
            Event::Keyboard(KeyboardEvent::Key(k)) => out.push(Raw::Key {
                keycode: k.key(),
                pressed: k.key_state() == KeyState::Pressed,
                time_ns: k.time_usec() * 1000,
            }),
            _ => {}
        }
    }
}

fn scroll(e: &impl PointerScrollEvent, time_ns: u64) -> InputEvent {
    let v = |a| {
        if e.has_axis(a) {
            e.scroll_value(a) as f32
        } else {
            0.0
        }
    };
    InputEvent::PointerAxis {
        horizontal: v(Axis::Horizontal),
        vertical: v(Axis::Vertical),
        time_ns,
    }
}

fn info_of(d: &Device) -> DeviceInfo {
    DeviceInfo {
        name: d.name().to_string(),
        sysname: d.sysname().to_string(),
        touch: d.has_capability(DeviceCapability::Touch),
        pointer: d.has_capability(DeviceCapability::Pointer),
        keyboard: d.has_capability(DeviceCapability::Keyboard),
        output: output_hint(d),
    }
}

/// The device's udev property `WL_OUTPUT`: the output it is glued to (Weston's convention,
/// set by a udev rule). `None` without a udev device or the property, or when it is not UTF-8.
#[allow(unsafe_code)]
fn output_hint(d: &Device) -> Option<String> {
    // SAFETY: `udev_device` asks that the udev context be the one libinput was created from;
    // the handle it returns is built from libinput's own udev device and that device's own
    // context (`udev_device_get_udev`), so they are the same. The handle is owned (referenced
    // and released by the `udev` crate) and read at once.
    let udev = unsafe { d.udev_device() }?;
    let value = udev.property_value("WL_OUTPUT")?.to_str()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl AsFd for Backend {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.li.as_fd()
    }
}
