//! # fusionfb-input — input devices for the fusionfb master
//!
//! This crate's room in the house: turning device events into fusionfb input events. It will
//! hold the libinput backends (udev seat and explicit device paths), touch calibration and
//! rotation, keymaps and synthetic injection. It knows nothing about windows; the compositor
//! hit-tests and routes what this crate produces.
//!
//! Nothing is implemented yet; the input issue fills this crate.
