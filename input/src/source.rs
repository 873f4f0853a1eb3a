//! [`InputSource`]: every input device of the master behind one pollable fd.
//!
//! Its fds are libinput's (when devices are opened) and the key-repeat timerfd: an owner
//! with an event loop puts each on it ([`InputSource::fds`]), a simpler one polls the epoll
//! set holding both ([`AsFd`]); when one is readable, [`InputSource::dispatch`] reads everything ready and returns
//! fusionfb [`InputEvent`]s. [`InputSource::inject`] feeds [`Synthetic`] events through the
//! same processing (calibration, transform, keymap, repeat) and returns their events at once.
//! Touch and absolute pointer positions come out in layout coordinates: each device maps onto
//! one of the outputs given by [`InputSource::set_outputs`] (see [`crate::output`]).
//! With no device at all the source still works: its fd never becomes readable, except for key
//! repeat of injected keys.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use rustix::event::epoll;
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tracing::{info, warn};

use crate::calibration::Calibration;
use crate::event::{DeviceInfo, InputEvent, KeyEvent, Position, Synthetic, TouchEvent, TouchPhase};
#[cfg(feature = "keyboard")]
use crate::keyboard::Keyboard;
use crate::output::{choose_output, OutputMap};
use crate::repeat::Repeat;
use crate::Error;

/// `[input.keyboard]` of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyboardConfig {
    /// XKB layout (`"us"`, `"de,us"`); empty: the default.
    pub layout: String,
    /// XKB variant.
    pub variant: String,
    /// XKB options.
    pub options: String,
    /// Milliseconds before a held key repeats.
    pub repeat_delay: u32,
    /// Repeats per second (0: off).
    pub repeat_rate: u32,
}

impl Default for KeyboardConfig {
    fn default() -> Self {
        KeyboardConfig {
            layout: String::new(),
            variant: String::new(),
            options: String::new(),
            repeat_delay: 600,
            repeat_rate: 25,
        }
    }
}

/// Where input comes from and how it is interpreted (the config's `[input]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputConfig {
    /// The udev seat (default `seat0`).
    pub seat: String,
    /// Explicit device nodes (libinput's path backend); empty: every device of the seat.
    pub devices: Vec<PathBuf>,
    /// The touch calibration matrix; `None`: each device's udev
    /// `LIBINPUT_CALIBRATION_MATRIX`, else identity.
    pub calibration: Option<[f32; 6]>,
    /// The output touchscreens and absolute pointers map to when their udev `WL_OUTPUT`
    /// names none of the outputs (`None`, or a name no output has: the first output).
    pub touch_output: Option<String>,
    /// Keymap and repeat.
    pub keyboard: KeyboardConfig,
}

/// Where a touch is, before mapping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum At {
    /// The uncalibrated position normalized to the panel's own axes (a device's reading).
    Panel(f64, f64),
    /// Already in layout pixels (an injected output position), with the uncalibrated panel
    /// position it stands for.
    Layout { x: f32, y: f32, raw: (f32, f32) },
}

/// A device event before mapping (what libinput, or an injection, reports).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    /// A touch; `at` is where (none for up, cancel, frame), `matrix` the device's own default
    /// calibration (udev's), `output` its `WL_OUTPUT` hint.
    Touch {
        phase: TouchPhase,
        slot: u32,
        at: Option<At>,
        matrix: Option<[f32; 6]>,
        output: Option<Arc<str>>,
        time_ns: u64,
    },
    /// Absolute pointer, normalized panel position; `output` is the device's `WL_OUTPUT`.
    #[cfg_attr(not(feature = "libinput"), allow(dead_code))]
    Absolute {
        u: f64,
        v: f64,
        output: Option<Arc<str>>,
        time_ns: u64,
    },
    /// A key by evdev code.
    Key {
        keycode: u32,
        pressed: bool,
        time_ns: u64,
    },
    /// Passed through as it is.
    Event(InputEvent),
}

/// Where a touch slot's contact is: layout `(x, y)` and the raw panel position.
type TouchSpot = (f32, f32, (f32, f32));

const TIMER: u64 = 1;
#[cfg(feature = "libinput")]
const LIBINPUT: u64 = 2;

/// Every input device of the master. See the module docs.
pub struct InputSource {
    epoll: OwnedFd,
    timer: OwnedFd,
    config: InputConfig,
    /// The layout's outputs (never empty).
    outputs: Vec<OutputMap>,
    /// Whether the owner gave the outputs (before, devices are not warned about).
    outputs_set: bool,
    /// The devices already warned about: their `WL_OUTPUT` names no output (by sysname).
    warned: BTreeSet<String>,
    #[cfg(feature = "libinput")]
    libinput: Option<crate::libinput::Backend>,
    /// The keymap, compiled at its first use (a key, or a keysym looked up), so that a
    /// board without a keyboard never holds one (about 170 KiB); inside, `None` when it did
    /// not compile (keys then arrive as bare key codes, and touch and pointers are not
    /// affected).
    #[cfg(feature = "keyboard")]
    keyboard: std::cell::OnceCell<Option<Keyboard>>,
    repeat: Repeat,
    /// The key-repeat timer's deadline as last set (`CLOCK_MONOTONIC` ns, 0 = disarmed), so
    /// that events which leave it as it is cost no system call.
    armed: std::cell::Cell<u64>,
    devices: Vec<DeviceInfo>,
    /// Last position of each touch slot: (x, y, raw).
    /// (A short list: a screen has a handful of slots, and a list keeps its allocation when
    /// the last finger lifts, where a map frees its node.)
    slots: Vec<(u32, TouchSpot)>,
    /// What libinput produced, being processed (kept: no allocation per read).
    raw: Vec<Raw>,
}

impl std::fmt::Debug for InputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSource")
            .field("outputs", &self.outputs)
            .field("devices", &self.devices)
            .finish_non_exhaustive()
    }
}

impl InputSource {
    /// A source with no device yet (only injection); the keymap is compiled at its first
    /// use.
    pub fn new(config: InputConfig) -> Result<InputSource, Error> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(std::io::Error::from)?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        epoll::add(
            &epoll,
            &timer,
            epoll::EventData::new_u64(TIMER),
            epoll::EventFlags::IN,
        )
        .map_err(std::io::Error::from)?;
        Ok(InputSource {
            epoll,
            timer,
            repeat: Repeat::new(config.keyboard.repeat_delay, config.keyboard.repeat_rate),
            armed: std::cell::Cell::new(0),
            config,
            outputs: vec![OutputMap::default()],
            outputs_set: false,
            warned: BTreeSet::new(),
            #[cfg(feature = "libinput")]
            libinput: None,
            #[cfg(feature = "keyboard")]
            keyboard: std::cell::OnceCell::new(),
            devices: Vec::new(),
            slots: Vec::new(),
            raw: Vec::new(),
        })
    }

    /// Opens the real devices: the configured device list through libinput's path backend,
    /// else every device of the seat through udev (devices plugged in later come too). A
    /// seat with no device is fine. Each device gets one log line with its capabilities.
    #[cfg(feature = "libinput")]
    pub fn open_devices(&mut self) -> Result<(), Error> {
        self.open_devices_with::<()>(None)
    }

    /// [`open_devices`](Self::open_devices) through the display's libseat session (the DRM
    /// backend's, when a seat manager runs), so that an unprivileged master gets its input
    /// devices from the seat like its card. Call [`suspend`](Self::suspend) and
    /// [`resume`](Self::resume) when the session pauses and comes back.
    #[cfg(feature = "libinput")]
    pub fn open_devices_with<S>(&mut self, session: Option<&S>) -> Result<(), Error>
    where
        S: smithay::backend::session::Session + Clone + 'static,
    {
        let backend =
            crate::libinput::Backend::open(&self.config.seat, &self.config.devices, session)?;
        epoll::add(
            &self.epoll,
            backend.as_fd(),
            epoll::EventData::new_u64(LIBINPUT),
            epoll::EventFlags::IN,
        )
        .map_err(std::io::Error::from)?;
        self.libinput = Some(backend);
        Ok(())
    }

    /// The session was paused (VT switch): stop reading the devices, and forget held keys
    /// and touches with them (libinput releases them as the devices go).
    pub fn suspend(&mut self) {
        #[cfg(feature = "libinput")]
        if let Some(li) = &mut self.libinput {
            li.suspend();
            tracing::info!("input: suspended with the session");
        }
    }

    /// The session is back: open the devices again.
    pub fn resume(&mut self) {
        #[cfg(feature = "libinput")]
        if let Some(li) = &mut self.libinput {
            li.resume();
            tracing::info!("input: resumed with the session");
        }
    }

    /// Sets the only output: [`set_outputs`](Self::set_outputs) with just `map`.
    pub fn set_output(&mut self, map: OutputMap) {
        self.set_outputs(vec![map]);
    }

    /// Sets every output of the layout (the first is the default when the config's
    /// `touch-output` names none of them; an empty list counts as one 1×1 output). Each
    /// touchscreen and absolute pointer maps onto one of them (see [`crate::output`]); a
    /// `touch-output` that names no output gets a line, and so does, once, each device whose
    /// `WL_OUTPUT` names no output.
    pub fn set_outputs(&mut self, outputs: Vec<OutputMap>) {
        self.outputs = if outputs.is_empty() {
            warn!("input: no output given; touch maps to a 1x1 one");
            vec![OutputMap::default()]
        } else {
            outputs
        };
        self.outputs_set = true;
        self.check_touch_output();
        self.warn_unmatched_devices();
    }

    /// The outputs of the layout (one 1×1 output until they are set).
    pub fn outputs(&self) -> &[OutputMap] {
        &self.outputs
    }

    /// The default output: the one `touch-output` names, else the first. Devices without a
    /// `WL_OUTPUT` hint (or with one naming no output) and injected panel positions map here.
    pub fn output(&self) -> &OutputMap {
        &self.outputs[self.output_index(None)]
    }

    /// The index of the output a device with `WL_OUTPUT` `hint` maps to.
    fn output_index(&self, hint: Option<&str>) -> usize {
        choose_output(hint, self.config.touch_output.as_deref(), &self.outputs)
    }

    /// Says so when the configured `touch-output` names none of the outputs.
    fn check_touch_output(&self) {
        if let Some(want) = &self.config.touch_output {
            if self.outputs_set && !self.outputs.iter().any(|o| o.name == *want) {
                warn!(
                    "touch-output {want:?}: no such output; touch maps to {:?}",
                    self.output().name
                );
            }
        }
    }

    /// Warns once for each touch or pointer device whose `WL_OUTPUT` names none of the
    /// outputs (it maps to the default output); returns how many warnings it gave.
    fn warn_unmatched_devices(&mut self) -> usize {
        if !self.outputs_set {
            return 0;
        }
        let mut count = 0;
        for d in &self.devices {
            let Some(name) = &d.output else { continue };
            if !(d.touch || d.pointer)
                || self.outputs.iter().any(|o| o.name == *name)
                || self.warned.contains(&d.sysname)
            {
                continue;
            }
            let fallback = &self.outputs[self.output_index(None)].name;
            warn!(
                "input device {}: WL_OUTPUT {name:?} names no output; it maps to {fallback:?}",
                d.sysname
            );
            self.warned.insert(d.sysname.clone());
            count += 1;
        }
        count
    }

    /// The devices present now.
    pub fn devices(&self) -> &[DeviceInfo] {
        &self.devices
    }

    /// The touch calibration in use for a device whose own (udev) matrix is `device`.
    pub fn calibration(&self, device: Option<[f32; 6]>) -> Calibration {
        self.config
            .calibration
            .or(device)
            .map(Calibration)
            .unwrap_or_default()
    }

    /// Replaces the configured `touch-output` (a config reload).
    pub fn set_touch_output(&mut self, name: Option<String>) {
        self.config.touch_output = name;
        self.check_touch_output();
    }

    /// Replaces the keymap and key repeat (a config reload); a keymap that does not compile
    /// is an error and the old one stays.
    pub fn set_keyboard(&mut self, keyboard: KeyboardConfig) -> Result<(), Error> {
        #[cfg(feature = "keyboard")]
        {
            self.keyboard = std::cell::OnceCell::from(Some(Keyboard::new(
                &keyboard.layout,
                &keyboard.variant,
                &keyboard.options,
            )?));
        }
        self.repeat = Repeat::new(keyboard.repeat_delay, keyboard.repeat_rate);
        self.config.keyboard = keyboard;
        // A key held across the reload no longer repeats.
        self.arm_repeat()
    }

    /// Replaces the configured calibration (a calibration client just computed one).
    pub fn set_calibration(&mut self, matrix: Option<[f32; 6]>) {
        self.config.calibration = matrix;
    }

    /// The evdev code of the key typing keysym `name` in the keymap.
    #[cfg(feature = "keyboard")]
    pub fn keycode_of(&self, name: &str) -> Option<u32> {
        self.keyboard()?.keycode_of(name)
    }

    /// The key that types `keysym` and whether it needs Shift (see
    /// [`crate::keyboard::Keyboard::key_for_keysym`]); `None` without a keymap.
    #[cfg(feature = "keyboard")]
    pub fn key_for_keysym(&self, keysym: u32) -> Option<(u32, bool)> {
        self.keyboard()?.key_for_keysym(keysym)
    }

    /// The keymap, compiled now if this is its first use.
    ///
    /// A keymap that does not compile must not take touch and pointers down with it: the
    /// master checks a configured one at start (a config error); one that fails anyway (no
    /// xkb data on the board) leaves keys without keysyms, and everything else works.
    #[cfg(feature = "keyboard")]
    fn keyboard(&self) -> Option<&Keyboard> {
        self.keyboard
            .get_or_init(|| {
                let k = &self.config.keyboard;
                Keyboard::new(&k.layout, &k.variant, &k.options)
                    .inspect_err(|e| {
                        warn!("{e}; keys arrive as bare key codes, other input is not affected")
                    })
                    .ok()
            })
            .as_ref()
    }

    /// [`keyboard`](Self::keyboard), to change its state.
    #[cfg(feature = "keyboard")]
    fn keyboard_mut(&mut self) -> Option<&mut Keyboard> {
        self.keyboard();
        self.keyboard.get_mut()?.as_mut()
    }

    /// Whether the keymap compiled (keys carry keysyms and text); compiles it if it was not
    /// used yet.
    pub fn has_keymap(&self) -> bool {
        #[cfg(feature = "keyboard")]
        return self.keyboard().is_some();
        #[cfg(not(feature = "keyboard"))]
        false
    }

    /// A key event: through the keymap when there is one, else the bare key code.
    fn key_event(&mut self, keycode: u32, pressed: bool, repeat: bool, time_ns: u64) -> KeyEvent {
        #[cfg(feature = "keyboard")]
        if let Some(kb) = self.keyboard_mut() {
            return kb.key(keycode, pressed, repeat, time_ns);
        }
        KeyEvent {
            keycode,
            pressed,
            repeat,
            keysym: 0,
            text: String::new(),
            modifiers: 0,
            time_ns,
        }
    }

    /// What libinput queued without its fd becoming readable (the devices found when the
    /// seat is assigned or a session resumes), processed like [`InputSource::dispatch`]'s
    /// events; reads no fd, so it costs no system call when there is nothing.
    pub fn queued(&mut self) -> Vec<InputEvent> {
        let mut out = Vec::new();
        #[cfg(feature = "libinput")]
        if let Some(li) = &mut self.libinput {
            let mut raw = Vec::new();
            li.queued(&mut raw);
            for r in raw {
                self.process(r, &mut out);
            }
        }
        out
    }

    /// Reads everything the devices and the repeat timer have ready, without waiting.
    ///
    /// A failing part does not hold up the others: when libinput reports an error, what it
    /// produced before it and the key-repeat timer's events are still returned, and the
    /// error is logged (it is returned only when nothing else came).
    pub fn dispatch(&mut self) -> Result<Vec<InputEvent>, Error> {
        let mut out = Vec::new();
        self.dispatch_into(&mut out).map(|()| out)
    }

    /// [`InputSource::dispatch`], appending to `out`: with a list the caller keeps, reading
    /// touches and pointer events allocates nothing once the lists have grown.
    pub fn dispatch_into(&mut self, out: &mut Vec<InputEvent>) -> Result<(), Error> {
        let start = out.len();
        #[cfg_attr(not(feature = "libinput"), allow(unused_mut))]
        // Empty: the last read drained it.
        let mut raw = std::mem::take(&mut self.raw);
        #[cfg_attr(not(feature = "libinput"), allow(unused_mut))]
        let mut failed = None;
        #[cfg(feature = "libinput")]
        if let Some(li) = &mut self.libinput {
            if let Err(e) = li.dispatch(&mut raw) {
                failed = Some(e);
            }
        }
        let taken = self.take(raw.drain(..), out);
        self.raw = raw;
        taken?;
        let mut buf = [0u8; 8];
        if let Ok(8) = rustix::io::read(&self.timer, &mut buf) {
            // It expired, so the kernel disarmed it.
            self.armed.set(0);
            for (key, at) in self.repeat.due(crate::now_ns()) {
                let event = self.key_event(key, true, true, at);
                out.push(InputEvent::Key(event));
            }
            self.arm_repeat()?;
        }
        match failed {
            Some(e) if out.len() == start => Err(e),
            Some(e) => {
                warn!("input: {e}");
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Feeds one synthetic event through the same processing as a device's, stamped with
    /// `time_ns` (`CLOCK_MONOTONIC`, like a kernel timestamp), and returns what it produced.
    pub fn inject_at(&mut self, s: Synthetic, time_ns: u64) -> Result<Vec<InputEvent>, Error> {
        let mut out = Vec::new();
        self.inject_into(s, time_ns, &mut out).map(|()| out)
    }

    /// [`InputSource::inject_at`], appending to `out` (no allocation for a touch or a
    /// pointer event once `out` has grown).
    pub fn inject_into(
        &mut self,
        s: Synthetic,
        time_ns: u64,
        out: &mut Vec<InputEvent>,
    ) -> Result<(), Error> {
        let finite = |v: f32| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(Error::Invalid(format!("{v} is not a finite coordinate")))
            }
        };
        let raw = match s {
            Synthetic::Touch { phase, slot, at } => {
                let at = match at {
                    Position::Device(u, v) => At::Panel(finite(u)? as f64, finite(v)? as f64),
                    Position::Output(x, y) => {
                        // Layout pixels, kept as they are. The raw position is that of a
                        // perfectly calibrated panel on the output under the point (else the
                        // default one): undo the matrix the device would get.
                        let (x, y) = (finite(x)?, finite(y)?);
                        let (fx, fy) = (x as f64, y as f64);
                        let on = self.outputs.iter().find(|o| o.contains(fx, fy));
                        let (u, v) = on.unwrap_or(self.output()).layout_to_panel(fx, fy);
                        let inv = self.calibration(None).inverse().unwrap_or_default();
                        let (u, v) = inv.apply(u, v);
                        At::Layout {
                            x,
                            y,
                            raw: (u as f32, v as f32),
                        }
                    }
                };
                Raw::Touch {
                    phase,
                    slot,
                    at: Some(at),
                    matrix: None,
                    output: None,
                    time_ns,
                }
            }
            Synthetic::PointerMotion(dx, dy) => Raw::Event(InputEvent::PointerMotion {
                dx: finite(dx)?,
                dy: finite(dy)?,
                time_ns,
            }),
            Synthetic::PointerTo(x, y) => Raw::Event(InputEvent::PointerAbsolute {
                x: finite(x)?,
                y: finite(y)?,
                time_ns,
            }),
            Synthetic::Button { button, pressed } => Raw::Event(InputEvent::PointerButton {
                button,
                pressed,
                time_ns,
            }),
            Synthetic::Axis(h, v) => Raw::Event(InputEvent::PointerAxis {
                horizontal: finite(h)?,
                vertical: finite(v)?,
                time_ns,
            }),
            Synthetic::Key { keycode, pressed } => {
                if keycode > 0x2ff {
                    return Err(Error::Invalid(format!(
                        "key code {keycode} is out of range"
                    )));
                }
                Raw::Key {
                    keycode,
                    pressed,
                    time_ns,
                }
            }
        };
        self.take([raw], out)
    }

    /// Processes what the devices (or an injection) produced into `out`, then sets the
    /// key-repeat timer to what the keys pressed and released in it call for.
    fn take(
        &mut self,
        raw: impl IntoIterator<Item = Raw>,
        out: &mut Vec<InputEvent>,
    ) -> Result<(), Error> {
        for r in raw {
            self.process(r, out);
        }
        self.arm_repeat()
    }

    /// [`InputSource::inject_at`] stamped now.
    pub fn inject(&mut self, s: Synthetic) -> Result<Vec<InputEvent>, Error> {
        self.inject_at(s, crate::now_ns())
    }

    fn process(&mut self, raw: Raw, out: &mut Vec<InputEvent>) {
        match raw {
            Raw::Touch {
                phase,
                slot,
                at,
                matrix,
                output,
                time_ns,
            } => {
                let (x, y, raw) = match (phase, at) {
                    (TouchPhase::Down | TouchPhase::Motion, Some(at)) => {
                        let p = match at {
                            At::Panel(u, v) => {
                                let (cu, cv) = self.calibration(matrix).apply(u, v);
                                let map = &self.outputs[self.output_index(output.as_deref())];
                                let (x, y) = map.panel_to_layout(cu, cv);
                                (x, y, (u as f32, v as f32))
                            }
                            At::Layout { x, y, raw } => (x, y, raw),
                        };
                        match self.slots.iter_mut().find(|(s, _)| *s == slot) {
                            Some((_, q)) => *q = p,
                            None => self.slots.push((slot, p)),
                        }
                        p
                    }
                    (TouchPhase::Up | TouchPhase::Cancel, _) => {
                        match self.slots.iter().position(|(s, _)| *s == slot) {
                            Some(i) => self.slots.swap_remove(i).1,
                            None => (0.0, 0.0, (0.0, 0.0)),
                        }
                    }
                    (TouchPhase::Frame, _) => (0.0, 0.0, (0.0, 0.0)),
                    _ => self
                        .slots
                        .iter()
                        .find(|(s, _)| *s == slot)
                        .map_or((0.0, 0.0, (0.0, 0.0)), |(_, p)| *p),
                };
                out.push(InputEvent::Touch(TouchEvent {
                    phase,
                    slot,
                    x,
                    y,
                    raw,
                    time_ns,
                }));
            }
            Raw::Absolute {
                u,
                v,
                output,
                time_ns,
            } => {
                let map = &self.outputs[self.output_index(output.as_deref())];
                let (x, y) = map.panel_to_layout(u, v);
                out.push(InputEvent::PointerAbsolute { x, y, time_ns });
            }
            Raw::Key {
                keycode,
                pressed,
                time_ns,
            } => {
                if pressed {
                    #[cfg(feature = "keyboard")]
                    let repeats = self.keyboard().is_some_and(|k| k.repeats(keycode));
                    #[cfg(not(feature = "keyboard"))]
                    let repeats = false;
                    self.repeat.press(keycode, repeats, time_ns);
                } else {
                    self.repeat.release(keycode);
                }
                let event = self.key_event(keycode, pressed, false, time_ns);
                out.push(InputEvent::Key(event));
            }
            Raw::Event(e) => {
                match &e {
                    InputEvent::DeviceAdded(d) => {
                        info!("input device {d}");
                        self.devices.push(d.clone());
                        self.warn_unmatched_devices();
                    }
                    InputEvent::DeviceRemoved(d) => {
                        info!("input device gone: {d}");
                        self.devices.retain(|x| x.sysname != d.sysname);
                        self.warned.remove(&d.sysname);
                    }
                    _ => {}
                }
                out.push(e);
            }
        }
    }

    /// Sets the key-repeat timer to the repeat's deadline, unless it is set so already
    /// (a touch or a pointer event, most of what arrives, then costs no system call).
    fn arm_repeat(&self) -> Result<(), Error> {
        let at = self.repeat.deadline().unwrap_or(0);
        if at == self.armed.get() {
            return Ok(());
        }
        let value = Timespec {
            tv_sec: (at / 1_000_000_000) as _,
            tv_nsec: (at % 1_000_000_000) as _,
        };
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // An absolute time of 0 would fire at once; a zero `it_value` disarms.
        let spec = Itimerspec {
            it_interval: zero,
            it_value: if at == 0 { zero } else { value },
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::ABSTIME, &spec)
            .map_err(std::io::Error::from)?;
        self.armed.set(at);
        Ok(())
    }
}

impl InputSource {
    /// The fds to watch, for an owner with an event loop: the key-repeat timerfd and, once
    /// devices are open, libinput's. Put each on the loop (readable: call
    /// [`InputSource::dispatch`]); the [`AsFd`] epoll set holding both is for owners without
    /// one. Call again after [`open_devices`](Self::open_devices).
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        #[allow(unused_mut)] // pushed to with libinput only
        let mut fds = vec![self.timer.as_fd()];
        #[cfg(feature = "libinput")]
        if let Some(l) = &self.libinput {
            fds.push(l.as_fd());
        }
        fds
    }
}

impl AsFd for InputSource {
    /// Readable when [`InputSource::dispatch`] has something to do.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl fusionfb_sys::source::Pollable for InputSource {
    type Event = InputEvent;
    type Error = std::io::Error;

    fn pump(&mut self) -> Result<Vec<InputEvent>, std::io::Error> {
        self.dispatch().map_err(|e| match e {
            Error::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusionfb_types::Transform;

    fn source(calibration: Option<[f32; 6]>, transform: Transform) -> InputSource {
        let mut s = InputSource::new(InputConfig {
            calibration,
            ..InputConfig::default()
        })
        .unwrap();
        let (w, h) = if transform.swaps_axes() {
            (600, 1000)
        } else {
            (1000, 600)
        };
        s.set_output(OutputMap {
            name: "test".into(),
            width: w,
            height: h,
            transform,
            ..OutputMap::default()
        });
        s
    }

    fn touch(s: &mut InputSource, at: Position) -> TouchEvent {
        let e = s
            .inject_at(
                Synthetic::Touch {
                    phase: TouchPhase::Down,
                    slot: 0,
                    at,
                },
                7,
            )
            .unwrap();
        match e.as_slice() {
            [InputEvent::Touch(t)] => *t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn device_touches_get_calibration_then_the_transform() {
        // A panel reading 10% too far right, mounted rotated 90°.
        let mut s = source(Some([1.0, 0.0, -0.1, 0.0, 1.0, 0.0]), Transform::Rotate90);
        let t = touch(&mut s, Position::Device(0.6, 0.25));
        // Calibrated (0.5, 0.25) on the glass → logical (0.25, 0.5) of 600x1000.
        assert!(
            (t.x - 150.0).abs() < 1e-3 && (t.y - 500.0).abs() < 1e-3,
            "{t:?}"
        );
        assert_eq!(t.raw, (0.6, 0.25));
        assert_eq!(t.time_ns, 7);
        // Output positions land where they say, whatever the calibration.
        let t = touch(&mut s, Position::Output(100.0, 700.0));
        assert!(
            (t.x - 100.0).abs() < 1e-3 && (t.y - 700.0).abs() < 1e-3,
            "{t:?}"
        );
        // Up keeps the last position of its slot.
        let up = s
            .inject(Synthetic::Touch {
                phase: TouchPhase::Up,
                slot: 0,
                at: Position::Output(0.0, 0.0),
            })
            .unwrap();
        assert!(
            matches!(up[0], InputEvent::Touch(TouchEvent { x, .. }) if (x - 100.0).abs() < 1e-3)
        );
    }

    #[test]
    fn bad_injections_are_refused() {
        let mut s = source(None, Transform::Normal);
        assert!(s.inject(Synthetic::PointerTo(f32::NAN, 0.0)).is_err());
        assert!(s
            .inject(Synthetic::Key {
                keycode: 100_000,
                pressed: true
            })
            .is_err());
    }

    /// A board without a keyboard holds no keymap: touches do not compile one, the first
    /// key does, and it is the configured layout's.
    #[cfg(feature = "keyboard")]
    #[test]
    fn the_keymap_is_compiled_at_the_first_key() {
        let mut s = source(None, Transform::Normal);
        assert!(s.keyboard.get().is_none(), "compiled at start");
        touch(&mut s, Position::Output(10.0, 20.0));
        assert!(s.keyboard.get().is_none(), "compiled for a touch");
        let key = s
            .inject(Synthetic::Key {
                keycode: 30,
                pressed: true,
            })
            .unwrap();
        assert!(s.keyboard.get().is_some_and(Option::is_some));
        // KEY_A types "a" in the default (us) layout.
        assert!(
            matches!(&key[..], [InputEvent::Key(k)] if k.keysym == 0x61 && k.text == "a"),
            "{key:?}"
        );
    }

    /// A keymap that does not compile takes nothing else down: touch still works, and keys
    /// arrive as bare key codes.
    #[cfg(feature = "keyboard")]
    #[test]
    fn a_keymap_that_does_not_compile_leaves_touch_working() {
        let mut s = InputSource::new(InputConfig {
            keyboard: KeyboardConfig {
                layout: "xx".into(),
                ..KeyboardConfig::default()
            },
            ..InputConfig::default()
        })
        .unwrap();
        assert!(!s.has_keymap());
        s.set_output(OutputMap {
            width: 100,
            height: 100,
            ..OutputMap::default()
        });
        let down = s
            .inject(Synthetic::Touch {
                phase: TouchPhase::Down,
                slot: 0,
                at: Position::Output(10.0, 20.0),
            })
            .unwrap();
        assert!(
            matches!(&down[..], [InputEvent::Touch(t)] if t.phase == TouchPhase::Down),
            "{down:?}"
        );
        let key = s
            .inject(Synthetic::Key {
                keycode: 30,
                pressed: true,
            })
            .unwrap();
        assert!(
            matches!(&key[..], [InputEvent::Key(k)] if k.keycode == 30 && k.keysym == 0 && k.text.is_empty()),
            "{key:?}"
        );
    }

    /// A source whose held keys repeat after 1 ms, a thousand times a second.
    #[cfg(feature = "keyboard")]
    fn fast_repeat() -> InputSource {
        InputSource::new(InputConfig {
            keyboard: KeyboardConfig {
                repeat_delay: 1,
                repeat_rate: 1000,
                ..KeyboardConfig::default()
            },
            ..InputConfig::default()
        })
        .unwrap()
    }

    /// What a device's key goes through in `dispatch` (everything but libinput's read).
    #[cfg(feature = "keyboard")]
    #[test]
    fn a_key_held_on_a_device_repeats_and_touches_leave_the_timer_alone() {
        let mut s = fast_repeat();
        let key = |pressed| Raw::Key {
            keycode: 30,
            pressed,
            time_ns: crate::now_ns(),
        };
        let mut down = Vec::new();
        s.take([key(true)], &mut down).unwrap();
        assert!(matches!(&down[0], InputEvent::Key(k) if k.text == "a" && !k.repeat));
        assert_ne!(s.armed.get(), 0, "the press armed the repeat");
        // A touch meanwhile keeps the deadline (no timer call) and the key still repeats.
        let armed = s.armed.get();
        s.inject(Synthetic::Touch {
            phase: TouchPhase::Down,
            slot: 0,
            at: Position::Output(10.0, 10.0),
        })
        .unwrap();
        assert_eq!(s.armed.get(), armed);
        assert!(
            fusionfb_sys::poll_readable(&[s.as_fd()], Some(std::time::Duration::from_secs(5)))
                .is_some(),
            "no repeat came"
        );
        let reps = s.dispatch().unwrap();
        assert!(!reps.is_empty());
        assert!(reps
            .iter()
            .all(|e| matches!(e, InputEvent::Key(k) if k.repeat && k.keycode == 30)));
        s.take([key(false)], &mut Vec::new()).unwrap();
        assert_eq!(s.armed.get(), 0);
        let _ = s.dispatch().unwrap();
        assert!(fusionfb_sys::poll_readable(
            &[s.as_fd()],
            Some(std::time::Duration::from_millis(50))
        )
        .is_none());
    }

    #[cfg(feature = "keyboard")]
    #[test]
    fn a_held_key_repeats_through_the_fd() {
        let mut s = fast_repeat();
        let down = s
            .inject(Synthetic::Key {
                keycode: 30,
                pressed: true,
            })
            .unwrap();
        assert!(matches!(&down[0], InputEvent::Key(k) if k.text == "a" && !k.repeat));
        assert!(
            fusionfb_sys::poll_readable(&[s.as_fd()], Some(std::time::Duration::from_secs(5)))
                .is_some()
        );
        let reps = s.dispatch().unwrap();
        assert!(!reps.is_empty());
        assert!(reps
            .iter()
            .all(|e| matches!(e, InputEvent::Key(k) if k.repeat && k.keycode == 30)));
        s.inject(Synthetic::Key {
            keycode: 30,
            pressed: false,
        })
        .unwrap();
        let _ = s.dispatch().unwrap();
        assert!(fusionfb_sys::poll_readable(
            &[s.as_fd()],
            Some(std::time::Duration::from_millis(50))
        )
        .is_none());
    }
}

/// Several outputs: which one a device maps to, and layout coordinates.
#[cfg(test)]
mod layout_tests {
    use super::*;
    use fusionfb_types::Transform;

    /// 1024x768 at (0, 0), and an 800x600 panel rotated 90° (600x800 logical) at (1024, 0).
    fn two_outputs(touch_output: Option<&str>) -> InputSource {
        let mut s = InputSource::new(InputConfig {
            touch_output: touch_output.map(Into::into),
            ..InputConfig::default()
        })
        .unwrap();
        s.set_outputs(vec![
            OutputMap {
                name: "HDMI-1".into(),
                width: 1024,
                height: 768,
                ..OutputMap::default()
            },
            OutputMap {
                name: "DSI-1".into(),
                x: 1024,
                y: 0,
                width: 600,
                height: 800,
                transform: Transform::Rotate90,
            },
        ]);
        s
    }

    fn device(sysname: &str, output: Option<&str>) -> DeviceInfo {
        DeviceInfo {
            name: "panel".into(),
            sysname: sysname.into(),
            touch: true,
            pointer: false,
            keyboard: false,
            output: output.map(Into::into),
        }
    }

    /// A device's touch down at panel position `(u, v)`, its `WL_OUTPUT` being `hint`.
    fn down(s: &mut InputSource, hint: Option<&str>, u: f64, v: f64) -> TouchEvent {
        let mut out = Vec::new();
        s.process(
            Raw::Touch {
                phase: TouchPhase::Down,
                slot: 3,
                at: Some(At::Panel(u, v)),
                matrix: None,
                output: hint.map(Arc::from),
                time_ns: 1,
            },
            &mut out,
        );
        match out.as_slice() {
            [InputEvent::Touch(t)] => *t,
            other => panic!("{other:?}"),
        }
    }

    fn near(t: (f32, f32), want: (f32, f32)) -> bool {
        (t.0 - want.0).abs() < 1e-3 && (t.1 - want.1).abs() < 1e-3
    }

    #[test]
    fn a_device_maps_onto_the_output_its_wl_output_names() {
        let mut s = two_outputs(None);
        // (0.5, 0.25) on the rotated glass is logical (0.25, 0.5) of 600x800, then offset.
        let t = down(&mut s, Some("DSI-1"), 0.5, 0.25);
        assert!(near((t.x, t.y), (1174.0, 400.0)), "{t:?}");
        assert_eq!(t.raw, (0.5, 0.25));
        // Anywhere on that glass lands on that output.
        for (u, v) in [(0.01, 0.01), (0.99, 0.01), (0.01, 0.99), (0.99, 0.99)] {
            let t = down(&mut s, Some("DSI-1"), u, v);
            assert!((1024.0..1624.0).contains(&t.x), "{u},{v}: {t:?}");
            assert!((0.0..800.0).contains(&t.y), "{u},{v}: {t:?}");
        }
        // Up keeps the layout position of its slot.
        let mut out = Vec::new();
        s.process(
            Raw::Touch {
                phase: TouchPhase::Up,
                slot: 3,
                at: None,
                matrix: None,
                output: Some(Arc::from("DSI-1")),
                time_ns: 2,
            },
            &mut out,
        );
        assert!(matches!(out[..], [InputEvent::Touch(TouchEvent { x, .. })] if x >= 1024.0));
        // Without a hint: the first output, as before.
        let t = down(&mut s, None, 0.5, 0.25);
        assert!(near((t.x, t.y), (512.0, 192.0)), "{t:?}");
    }

    #[test]
    fn absolute_pointers_map_like_touchscreens() {
        let mut s = two_outputs(None);
        let mut out = Vec::new();
        for hint in [Some("DSI-1"), None] {
            s.process(
                Raw::Absolute {
                    u: 0.5,
                    v: 0.25,
                    output: hint.map(Arc::from),
                    time_ns: 1,
                },
                &mut out,
            );
        }
        let at: Vec<_> = out
            .iter()
            .map(|e| match e {
                InputEvent::PointerAbsolute { x, y, .. } => (*x, *y),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            near(at[0], (1174.0, 400.0)) && near(at[1], (512.0, 192.0)),
            "{at:?}"
        );
    }

    #[test]
    fn touch_output_is_the_default_and_injected_panel_touches_use_it() {
        let mut s = two_outputs(Some("DSI-1"));
        assert_eq!(s.output().name, "DSI-1");
        assert_eq!(s.outputs().len(), 2);
        let t = down(&mut s, None, 0.5, 0.25);
        assert!(near((t.x, t.y), (1174.0, 400.0)), "{t:?}");
        // A hint still wins over touch-output.
        let t = down(&mut s, Some("HDMI-1"), 0.5, 0.25);
        assert!(near((t.x, t.y), (512.0, 192.0)), "{t:?}");
        let e = s
            .inject(Synthetic::Touch {
                phase: TouchPhase::Down,
                slot: 0,
                at: Position::Device(0.5, 0.25),
            })
            .unwrap();
        assert!(
            matches!(e[..], [InputEvent::Touch(t)] if near((t.x, t.y), (1174.0, 400.0))),
            "{e:?}"
        );
        // Without touch-output the default is the first output.
        assert_eq!(two_outputs(None).output().name, "HDMI-1");
    }

    #[test]
    fn injected_layout_positions_pass_through_with_the_raw_position_under_them() {
        let mut s = two_outputs(None);
        let e = s
            .inject(Synthetic::Touch {
                phase: TouchPhase::Down,
                slot: 0,
                at: Position::Output(1174.0, 400.0),
            })
            .unwrap();
        let [InputEvent::Touch(t)] = e[..] else {
            panic!("{e:?}")
        };
        assert_eq!((t.x, t.y), (1174.0, 400.0));
        // The raw position is that point on the second panel's glass.
        assert!(near(t.raw, (0.5, 0.25)), "{t:?}");
        let e = s.inject(Synthetic::PointerTo(1500.0, 10.0)).unwrap();
        assert!(
            matches!(e[..], [InputEvent::PointerAbsolute { x, y, .. }] if x == 1500.0 && y == 10.0)
        );
    }

    #[test]
    fn a_wl_output_naming_no_output_falls_back_and_warns_once() {
        let mut s = two_outputs(Some("DSI-1"));
        let t = down(&mut s, Some("VGA-9"), 0.5, 0.25);
        assert!(near((t.x, t.y), (1174.0, 400.0)), "touch-output: {t:?}");
        let mut s = two_outputs(None);
        let t = down(&mut s, Some("VGA-9"), 0.5, 0.25);
        assert!(near((t.x, t.y), (512.0, 192.0)), "first output: {t:?}");

        let mut out = Vec::new();
        s.process(
            Raw::Event(InputEvent::DeviceAdded(device("event4", Some("VGA-9")))),
            &mut out,
        );
        s.process(
            Raw::Event(InputEvent::DeviceAdded(device("event5", Some("DSI-1")))),
            &mut out,
        );
        s.process(
            Raw::Event(InputEvent::DeviceAdded(device("event6", None))),
            &mut out,
        );
        assert_eq!(s.warned, BTreeSet::from(["event4".to_string()]));
        // Once per device: not again when the layout changes or another device comes.
        assert_eq!(s.warn_unmatched_devices(), 0);
        let outputs = s.outputs().to_vec();
        s.set_outputs(outputs);
        assert_eq!(s.warned.len(), 1);
        s.process(
            Raw::Event(InputEvent::DeviceRemoved(device("event4", Some("VGA-9")))),
            &mut out,
        );
        assert!(s.warned.is_empty());
        // A layout without DSI-1 makes event5's hint name nothing.
        s.set_output(OutputMap::default());
        assert_eq!(s.warned, BTreeSet::from(["event5".to_string()]));
        assert_eq!(s.devices()[0].output.as_deref(), Some("DSI-1"));
    }

    #[test]
    fn devices_are_not_warned_about_before_the_outputs_are_given() {
        let mut s = InputSource::new(InputConfig::default()).unwrap();
        let mut out = Vec::new();
        s.process(
            Raw::Event(InputEvent::DeviceAdded(device("event4", Some("DSI-1")))),
            &mut out,
        );
        assert!(s.warned.is_empty());
        s.set_output(OutputMap {
            name: "DSI-1".into(),
            ..OutputMap::default()
        });
        assert!(s.warned.is_empty());
    }

    #[test]
    fn one_output_at_the_origin_is_the_single_output_behaviour() {
        let map = OutputMap {
            name: "DSI-1".into(),
            width: 600,
            height: 1000,
            transform: Transform::Rotate90,
            ..OutputMap::default()
        };
        let mut s = InputSource::new(InputConfig::default()).unwrap();
        s.set_output(map.clone());
        assert_eq!(s.outputs(), std::slice::from_ref(&map));
        assert_eq!(s.output(), &map);
        // Output pixels as the single-output code computed them, hint or no hint.
        let (lx, ly) = Transform::Rotate90.normalized_to_logical(0.3, 0.7);
        let want = ((lx * 600.0) as f32, (ly * 1000.0) as f32);
        for hint in [None, Some("DSI-1"), Some("HDMI-1")] {
            let t = down(&mut s, hint, 0.3, 0.7);
            assert_eq!((t.x, t.y), want, "{hint:?}");
        }
    }
}

#[cfg(all(test, feature = "libinput"))]
mod device_tests {
    use super::*;

    /// This host has no input devices: opening the seat (or an empty udev) must work, and
    /// dispatching must report nothing rather than fail.
    #[test]
    fn a_seat_without_devices_opens_and_dispatches_nothing() {
        let mut s = InputSource::new(InputConfig {
            seat: "seat0".into(),
            ..InputConfig::default()
        })
        .unwrap();
        s.open_devices().unwrap();
        let events = s.dispatch().unwrap();
        assert!(
            events
                .iter()
                .all(|e| matches!(e, InputEvent::DeviceAdded(_))),
            "{events:?}"
        );
    }

    #[test]
    fn a_listed_device_that_is_not_one_is_a_clear_error() {
        let mut s = InputSource::new(InputConfig {
            devices: vec!["/dev/null".into()],
            ..InputConfig::default()
        })
        .unwrap();
        let e = s.open_devices().unwrap_err().to_string();
        assert!(e.contains("/dev/null"), "{e}");
    }
}
