//! A multi-touch touchscreen in the guest, and fingers on it (and a keyboard and a mouse).
//!
//! [`Board::add_touchscreen`] creates a uinput device with `evemu-device` (Debian's
//! `evemu-tools`) from [`TOUCHSCREEN`], a description of a direct-touch (`INPUT_PROP_DIRECT`)
//! panel with ten slots and axes `0..=4095`, waits until udev has tagged it
//! `ID_INPUT_TOUCHSCREEN=1` (libinput ignores untagged devices) and returns a [`Touchscreen`].
//!
//! [`Touchscreen::frames`] puts fingers on it: each [`Contact`] list is one kernel frame —
//! `ABS_MT_SLOT`, `ABS_MT_TRACKING_ID` (a fresh id on touch-down, `-1` on lift),
//! `ABS_MT_POSITION_X`/`_Y`, `BTN_TOUCH` while any finger is down, then `SYN_REPORT` — written
//! with `evemu-event` (the sequence `/work/shared/BOARD.md` checked), all frames of one call
//! in one agent command.
//!
//! Coordinates: libinput normalises an absolute touch axis to the output as
//! `(value - min) * size / (max - min + 1)`, so a finger at device `X` lands at glass
//! `X * width / 4096`. [`Touchscreen::device_xy`] is the inverse: the device position whose
//! touch lands in the middle of glass pixel `(x, y)` on a `width`×`height` panel (before any
//! output transform; the glass is the panel as mounted).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use super::{shell_quote, Board, BoardError, BoardErrorKind, Image};

/// The `evemu-device` description of the touchscreen: `INPUT_PROP_DIRECT`,
/// `EV_SYN`/`EV_KEY`/`EV_ABS`, `BTN_TOUCH`, `ABS_X`/`ABS_Y`, `ABS_MT_SLOT` (10 slots),
/// `ABS_MT_POSITION_X`/`_Y` and `ABS_MT_TRACKING_ID`. Bit masks are 8 bytes a line; `NAME`
/// is replaced by the device's name.
pub const TOUCHSCREEN: &str = "\
# EVEMU 1.3
N: NAME
I: 0018 1d6b 0001 0100
P: 02 00 00 00 00 00 00 00
B: 00 0b 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 04 00 00 00 00 00 00
B: 03 03 00 00 00 00 80 60 02
A: 00 0 4095 0 0 0
A: 01 0 4095 0 0 0
A: 2f 0 9 0 0 0
A: 35 0 4095 0 0 0
A: 36 0 4095 0 0 0
A: 39 0 65535 0 0 0
";

/// The largest value of the touchscreen's position axes (their minimum is 0).
pub const AXIS_MAX: u32 = 4095;

/// One finger's part of a frame, in device units (`0..=AXIS_MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// A finger goes down in `slot` at (`x`, `y`).
    Down { slot: u32, x: u32, y: u32 },
    /// The finger in `slot` moves to (`x`, `y`).
    Move { slot: u32, x: u32, y: u32 },
    /// The finger in `slot` lifts.
    Up { slot: u32 },
}

/// A uinput touchscreen in the guest, kept alive by its `evemu-device` process.
#[derive(Debug)]
pub struct Touchscreen {
    /// Its name (the kernel's, and libinput's).
    pub name: String,
    /// Its event node, `/dev/input/eventN`.
    pub path: String,
    /// The output udev's `WL_OUTPUT` property maps it to
    /// ([`Board::add_touchscreen_on`]), if any.
    pub output: Option<String>,
    /// The slots with a finger down.
    down: BTreeSet<u32>,
    /// The next tracking id.
    next_id: u32,
}

impl Touchscreen {
    /// The device position whose touch lands in the middle of glass pixel (`x`, `y`) on a
    /// `width`×`height` panel (see the module docs).
    pub fn device_xy(x: u32, y: u32, width: u32, height: u32) -> (u32, u32) {
        let axis = |p: u32, size: u32| {
            let v = ((f64::from(p) + 0.5) * f64::from(AXIS_MAX + 1) / f64::from(size)).round();
            (v as u32).min(AXIS_MAX)
        };
        (axis(x, width), axis(y, height))
    }

    /// Writes `frames` to the device, one `SYN_REPORT` after each.
    pub fn frames(&mut self, board: &mut Board, frames: &[&[Contact]]) -> Result<(), BoardError> {
        let mut script = String::new();
        for frame in frames {
            for c in *frame {
                self.contact(&mut script, *c);
            }
            let touching = i32::from(!self.down.is_empty());
            self.event(&mut script, "EV_KEY", "BTN_TOUCH", touching, true);
        }
        let out = board.run_timeout(&script, Duration::from_secs(120))?;
        if !out.success() {
            return Err(board.fail(
                BoardErrorKind::Agent,
                format_args!("touching {}: {out}", self.path),
            ));
        }
        Ok(())
    }

    /// A straight drag of the finger in `slot` (already down) from `from` to `to`, in `steps`
    /// motion frames (the first one leaves `from`), each its own kernel frame.
    pub fn drag(
        &mut self,
        board: &mut Board,
        slot: u32,
        from: (u32, u32),
        to: (u32, u32),
        steps: u32,
    ) -> Result<(), BoardError> {
        let moves: Vec<[Contact; 1]> = (1..=steps.max(1))
            .map(|i| {
                let t = f64::from(i) / f64::from(steps.max(1));
                let lerp = |a: u32, b: u32| f64::from(a) + (f64::from(b) - f64::from(a)) * t;
                [Contact::Move {
                    slot,
                    x: lerp(from.0, to.0).round() as u32,
                    y: lerp(from.1, to.1).round() as u32,
                }]
            })
            .collect();
        let frames: Vec<&[Contact]> = moves.iter().map(|m| &m[..]).collect();
        self.frames(board, &frames)
    }

    fn contact(&mut self, script: &mut String, c: Contact) {
        match c {
            Contact::Down { slot, x, y } => {
                self.event(script, "EV_ABS", "ABS_MT_SLOT", slot as i32, false);
                let id = self.next_id;
                self.next_id += 1;
                self.event(script, "EV_ABS", "ABS_MT_TRACKING_ID", id as i32, false);
                self.event(script, "EV_ABS", "ABS_MT_POSITION_X", x as i32, false);
                self.event(script, "EV_ABS", "ABS_MT_POSITION_Y", y as i32, false);
                self.down.insert(slot);
            }
            Contact::Move { slot, x, y } => {
                self.event(script, "EV_ABS", "ABS_MT_SLOT", slot as i32, false);
                self.event(script, "EV_ABS", "ABS_MT_POSITION_X", x as i32, false);
                self.event(script, "EV_ABS", "ABS_MT_POSITION_Y", y as i32, false);
            }
            Contact::Up { slot } => {
                self.event(script, "EV_ABS", "ABS_MT_SLOT", slot as i32, false);
                self.event(script, "EV_ABS", "ABS_MT_TRACKING_ID", -1, false);
                self.down.remove(&slot);
            }
        }
    }

    fn event(&self, script: &mut String, ty: &str, code: &str, value: i32, sync: bool) {
        if !script.is_empty() {
            script.push_str(" && ");
        }
        let _ = write!(
            script,
            "evemu-event {} --type {ty} --code {code} --value {value}{}",
            shell_quote(&self.path),
            if sync { " --sync" } else { "" }
        );
    }
}

/// The `evemu-device` description of a keyboard: `EV_SYN`/`EV_KEY`/`EV_MSC` and
/// keys 1–63 (`KEY_ESC` to `KEY_F5`: letters, digits, Enter, Space, Shift), enough for udev
/// to tag it `ID_INPUT_KEYBOARD`. `NAME` is replaced by the device's name.
pub const KEYBOARD: &str = "\
# EVEMU 1.3
N: NAME
I: 0003 1d6b 0002 0100
P: 00 00 00 00 00 00 00 00
B: 00 13 00 00 00 00 00 00 00
B: 01 fe ff ff ff ff ff ff ff
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 02 00 00 00 00 00 00 00 00
B: 03 00 00 00 00 00 00 00 00
B: 04 10 00 00 00 00 00 00 00
B: 05 00 00 00 00 00 00 00 00
B: 11 00 00 00 00 00 00 00 00
B: 12 00 00 00 00 00 00 00 00
B: 15 00 00 00 00 00 00 00 00
B: 15 00 00 00 00 00 00 00 00
";

/// A uinput keyboard in the guest, kept alive by its `evemu-device` process.
#[derive(Debug)]
pub struct Keyboard {
    /// The device's name.
    pub name: String,
    /// Its event node (`/dev/input/eventN`).
    pub path: String,
}

impl Keyboard {
    /// Presses and releases each key of `keys` (evdev names such as `KEY_H`) in turn, each
    /// change its own kernel frame.
    pub fn type_keys(&self, board: &mut Board, keys: &[&str]) -> Result<(), BoardError> {
        let dev = shell_quote(&self.path);
        let script: Vec<String> = keys
            .iter()
            .flat_map(|k| {
                [1, 0].map(|v| {
                    format!("evemu-event {dev} --type EV_KEY --code {k} --value {v} --sync")
                })
            })
            .collect();
        play(board, &script.join(" && "), "typing on", &self.path)
    }

    /// Holds `key` (an evdev name such as `"KEY_L"`) down for `seconds`, then releases it:
    /// what makes a key repeat.
    pub fn hold_key(&self, board: &mut Board, key: &str, seconds: f32) -> Result<(), BoardError> {
        let dev = shell_quote(&self.path);
        let script = format!(
            "evemu-event {dev} --type EV_KEY --code {key} --value 1 --sync && sleep {seconds} && \
             evemu-event {dev} --type EV_KEY --code {key} --value 0 --sync"
        );
        play(board, &script, "holding a key on", &self.path)
    }
}

/// The `evemu-device` description of a mouse: `EV_SYN`/`EV_KEY`/`EV_REL`, `BTN_LEFT`,
/// `BTN_RIGHT`, `BTN_MIDDLE`, `REL_X`/`REL_Y`, enough for udev to tag it `ID_INPUT_MOUSE`
/// (libinput then reports a pointer device). `NAME` is replaced by the device's name.
pub const MOUSE: &str = "\
# EVEMU 1.3
N: NAME
I: 0003 1d6b 0003 0100
P: 00 00 00 00 00 00 00 00
B: 00 07 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 01 00 00 07 00 00 00 00 00
B: 01 00 00 00 00 00 00 00 00
B: 02 03 00 00 00 00 00 00 00
B: 03 00 00 00 00 00 00 00 00
B: 04 00 00 00 00 00 00 00 00
B: 05 00 00 00 00 00 00 00 00
B: 11 00 00 00 00 00 00 00 00
B: 12 00 00 00 00 00 00 00 00
B: 15 00 00 00 00 00 00 00 00
B: 15 00 00 00 00 00 00 00 00
";

/// A uinput mouse in the guest, kept alive by its `evemu-device` process.
#[derive(Debug)]
pub struct Mouse {
    /// The device's name.
    pub name: String,
    /// Its event node (`/dev/input/eventN`).
    pub path: String,
}

impl Mouse {
    /// Moves the mouse `n` times by (`dx`, `dy`) device units, each move one kernel frame
    /// (`REL_X`, `REL_Y`, `SYN_REPORT`), all in one agent command.
    pub fn moves(&self, board: &mut Board, dx: i32, dy: i32, n: u32) -> Result<(), BoardError> {
        let dev = shell_quote(&self.path);
        let one = format!(
            "evemu-event {dev} --type EV_REL --code REL_X --value {dx} && \
             evemu-event {dev} --type EV_REL --code REL_Y --value {dy} --sync"
        );
        play(
            board,
            &vec![one; n as usize].join(" && "),
            "moving",
            &self.path,
        )
    }
}

/// The udev rule that maps the input device named `name` to the output `output`: it sets
/// `ENV{WL_OUTPUT}` on the device's event node, matching the name of its parent input
/// device (`ATTRS{name}`), as Weston's documentation has integrators do.
pub fn wl_output_rule(name: &str, output: &str) -> String {
    format!(
        "# fusionfb board: the touchscreen {name:?} belongs to the output {output:?}\n\
         SUBSYSTEM==\"input\", KERNEL==\"event*\", ATTRS{{name}}==\"{name}\", \
         ENV{{WL_OUTPUT}}=\"{output}\"\n"
    )
}

/// Runs `script` (`evemu-event` commands on `path`) in the guest; an error says `doing`
/// what to `path` failed, with the command's output.
fn play(board: &mut Board, script: &str, doing: &str, path: &str) -> Result<(), BoardError> {
    let out = board.run_timeout(script, Duration::from_secs(120))?;
    if !out.success() {
        return Err(board.fail(BoardErrorKind::Agent, format_args!("{doing} {path}: {out}")));
    }
    Ok(())
}

impl Board {
    /// Creates a mouse named `name` ([`MOUSE`]) and returns it once udev has tagged it
    /// `ID_INPUT_MOUSE`.
    pub fn add_mouse(&mut self, name: &str) -> Result<Mouse, BoardError> {
        let path = self.add_evemu(name, MOUSE, "ID_INPUT_MOUSE")?;
        Ok(Mouse {
            name: name.to_string(),
            path,
        })
    }

    /// Creates a keyboard named `name` ([`KEYBOARD`]) and returns it once udev has tagged it
    /// `ID_INPUT_KEYBOARD`.
    pub fn add_keyboard(&mut self, name: &str) -> Result<Keyboard, BoardError> {
        let path = self.add_evemu(name, KEYBOARD, "ID_INPUT_KEYBOARD")?;
        Ok(Keyboard {
            name: name.to_string(),
            path,
        })
    }

    /// Creates a touchscreen named `name` (see the module docs) and returns it once udev has
    /// tagged it for libinput. Its `evemu-device` process runs until the board powers off.
    pub fn add_touchscreen(&mut self, name: &str) -> Result<Touchscreen, BoardError> {
        let path = self.add_evemu(name, TOUCHSCREEN, "ID_INPUT_TOUCHSCREEN")?;
        Ok(Touchscreen {
            name: name.to_string(),
            path,
            output: None,
            down: BTreeSet::new(),
            next_id: 100,
        })
    }

    /// Creates a touchscreen named `name` that belongs to the output (DRM connector) `output`,
    /// the way a board's integrator says so and Weston reads it: a udev rule
    /// ([`wl_output_rule`]) in `/etc/udev/rules.d/` gives the device the property
    /// `WL_OUTPUT=<output>`. The rule is installed and udev reloaded before the device is
    /// created; returns once udev has tagged the device for libinput
    /// (`ID_INPUT_TOUCHSCREEN=1`) and given it `WL_OUTPUT`.
    pub fn add_touchscreen_on(
        &mut self,
        name: &str,
        output: &str,
    ) -> Result<Touchscreen, BoardError> {
        let rules = format!("/etc/udev/rules.d/70-fusionfb-{name}.rules");
        self.run("mkdir -p /etc/udev/rules.d")?;
        self.write_file(&rules, wl_output_rule(name, output).as_bytes())?;
        let out = self.run("udevadm control --reload")?;
        if !out.success() {
            return Err(self.fail(
                BoardErrorKind::Agent,
                format_args!("udevadm control --reload: {out}"),
            ));
        }
        let mut touch = self.add_touchscreen(name)?;
        self.wait_for(
            &format!(
                "udevadm info --query=property {} | grep -qx {}",
                shell_quote(&touch.path),
                shell_quote(&format!("WL_OUTPUT={output}"))
            ),
            Duration::from_secs(30),
        )?;
        touch.output = Some(output.to_string());
        Ok(touch)
    }

    /// Creates a uinput device from the evemu description `template` (its `NAME` replaced
    /// by `name`) and returns its event node once udev has given it the property `tag=1`.
    fn add_evemu(&mut self, name: &str, template: &str, tag: &str) -> Result<String, BoardError> {
        let desc = format!("/tmp/{name}.desc");
        self.write_file(&desc, template.replace("NAME", name).as_bytes())?;
        let evemu = self.spawn(&format!("evemu-device {}", shell_quote(&desc)))?;
        let node = self
            .wait_for(
                &format!(
                    "grep -lx {} /sys/class/input/event*/device/name",
                    shell_quote(name)
                ),
                Duration::from_secs(30),
            )
            .map_err(|e| {
                let said = self.log(&evemu).unwrap_or_default();
                BoardError {
                    kind: e.kind,
                    message: format!("{}\nevemu-device said: {said:?}", e.message),
                }
            })?;
        let event = node
            .stdout
            .lines()
            .next()
            .and_then(|l| l.split('/').nth(4))
            .filter(|e| e.starts_with("event"))
            .ok_or_else(|| {
                self.fail(
                    BoardErrorKind::Agent,
                    format_args!("no /sys/class/input/eventN for {name}: {node}"),
                )
            })?
            .to_string();
        let path = format!("/dev/input/{event}");
        self.wait_for(
            &format!("udevadm settle && udevadm info --query=property {path} | grep -qx {tag}=1"),
            Duration::from_secs(30),
        )?;
        Ok(path)
    }
}

impl Board {
    /// The finger-painting check, with `fusionfb-paint` covering a `width`×`height` glass:
    /// waits for its canvas in the middle of the glass, taps `touch` at a third of the width,
    /// and returns the glass once the dot (the palette's first colour) is under the finger —
    /// about one dot's worth of pixels of that colour, so nowhere else — saved as the
    /// artefact `tap`.
    pub fn tap_paints(
        &mut self,
        touch: &mut Touchscreen,
        width: u32,
        height: u32,
    ) -> Result<Image, BoardError> {
        use fusionfb_client::app::{PAINT_BACKGROUND, PALETTE};
        let rgb = |c: fusionfb_client::draw::Colour| [c.r, c.g, c.b];
        let (canvas, red) = (rgb(PAINT_BACKGROUND), rgb(PALETTE[0]));
        let (w, h) = (width, height);
        self.wait_for_screen(Duration::from_secs(60), "the paint canvas", |img| {
            img.pixel(w / 2, h / 2) == canvas
        })?;
        let tap = (w / 3, h / 2);
        let (x, y) = Touchscreen::device_xy(tap.0, tap.1, w, h);
        touch.frames(
            self,
            &[
                &[Contact::Down { slot: 0, x, y }],
                &[Contact::Up { slot: 0 }],
            ],
        )?;
        let img = self.wait_for_screen(Duration::from_secs(30), "the tap's dot", |img| {
            img.pixel(tap.0, tap.1) == red
        })?;
        self.save_artifact("tap", &img);
        let reds = img.count(|p| p == red);
        if !(200..2000).contains(&reds) {
            return Err(self.fail(
                BoardErrorKind::Screendump,
                format_args!("{reds} pixels of the dot's colour for one tap"),
            ));
        }
        Ok(img)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wl_output_rule_matches_the_name_and_sets_the_output() {
        let rule = wl_output_rule("touch-2", "Virtual-2");
        let line = rule.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(
            line,
            r#"SUBSYSTEM=="input", KERNEL=="event*", ATTRS{name}=="touch-2", ENV{WL_OUTPUT}="Virtual-2""#
        );
        assert!(rule.ends_with('\n'));
    }
}
