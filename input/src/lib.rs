//! # fusionfb-input — input devices for the fusionfb master
//!
//! This crate's room in the house: turning device events into fusionfb [`InputEvent`]s. It
//! knows nothing about windows; the compositor hit-tests and routes what this crate produces.
//!
//! - [`InputSource`] (in [`source`]) is the one thing the master holds: **one pollable fd**
//!   and [`InputSource::dispatch`], also a [`fusionfb_sys::source::Pollable`] so it plugs into calloop
//!   like the display backends do. Underneath it are libinput (feature `libinput`: a udev seat,
//!   or libinput's path backend for an explicit device list), the key-repeat timer, and
//!   **synthetic injection** ([`InputSource::inject`]): injected [`Synthetic`] events take the
//!   very path real ones take (calibration, output transform, keymap), so automation, the demo,
//!   the tests and the benchmark exercise the real routing.
//! - Touch coordinates: a device reports a normalized position on its own surface; the
//!   [`Calibration`] matrix (from the config, else udev's `LIBINPUT_CALIBRATION_MATRIX`, else
//!   identity) corrects the panel, and the output's [`Transform`] (the rotation or flip the
//!   panel is mounted with, the compositor's own) turns it into output pixels in the logical (upright) orientation
//!   applications see. Events keep the uncalibrated position too, for a calibration client.
//! - Several outputs ([`output`]): the compositor lays them out in one layout space and gives
//!   them all ([`InputSource::set_outputs`]); each touchscreen or absolute pointer maps onto
//!   one, chosen by [`choose_output`] (its udev `WL_OUTPUT`, else the config's `touch-output`,
//!   else the first), and its positions are offset by that output's origin: events carry
//!   layout coordinates.
//! - Keyboard (feature `keyboard`): xkbcommon keymaps from RMLVO names ([`keyboard`]), keysyms,
//!   UTF-8 text and modifiers; key repeat scheduled by [`repeat::Repeat`] on a timerfd.
//! - Timestamps are the kernel's (`CLOCK_MONOTONIC`, libinput's µs turned into ns); synthetic
//!   events are stamped with `CLOCK_MONOTONIC` when they are created.
//!
//! Devices are opened through the display's libseat session when the master has one
//! ([`InputSource::open_devices_with`]: seatd or logind hand them to an unprivileged master
//! and revoke them while the session is paused, when [`InputSource::suspend`] closes them),
//! and directly (`open(2)`: root or the `input` group) when no seat manager runs.

#![deny(unsafe_code)]

pub mod calibration;
pub mod event;
#[cfg(feature = "keyboard")]
pub mod keyboard;
#[cfg(feature = "libinput")]
mod libinput;
pub mod output;
pub mod repeat;
pub mod source;

pub use calibration::Calibration;
pub use event::{DeviceInfo, InputEvent, KeyEvent, Position, Synthetic, TouchEvent, TouchPhase};
pub use fusionfb_types::Transform;
pub use output::{choose_output, OutputMap};
pub use source::{InputConfig, InputSource, KeyboardConfig};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The keymap could not be compiled.
    #[error("keymap: {0}")]
    Keymap(String),
    /// libinput could not be set up.
    #[error("libinput: {0}")]
    Libinput(String),
    /// A synthetic event was refused.
    #[error("{0}")]
    Invalid(String),
}

/// `CLOCK_MONOTONIC` now, in ns (the clock of kernel input timestamps).
pub fn now_ns() -> u64 {
    fusionfb_sys::now_ns()
}
