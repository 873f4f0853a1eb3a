//! Input on the master's side of the CLI: opening the devices a config names, and
//! `fusionfb input tap|swipe|key|…`, which feeds synthetic events through a running master's
//! injection call — the same routing real devices take.

use std::time::Duration;

use fusionfb_input::{InputConfig, InputSource, KeyboardConfig};
use fusionfb_protocol::{Injected, InjectedTouch, Reply, Request, Root};
use tracing::warn;

use crate::config::Config;

/// The input source for a config's `[input]`: its keymap, calibration and devices (a udev
/// seat, or the listed nodes). A seat with no device is fine; devices that cannot be opened
/// leave a warning and a master that still serves injection. With the display's libseat
/// `seat`, the devices are opened through it (an unprivileged master gets them from seatd
/// or logind). `None` only when the source itself cannot be set up (no epoll or timer).
pub fn open_input(
    cfg: &Config,
    seat: Option<&gfx_drivers::drm::SeatSession>,
) -> Option<InputSource> {
    let i = &cfg.input;
    let k = &i.keyboard;
    let config = InputConfig {
        seat: i.seat.clone(),
        devices: i.devices.clone(),
        calibration: i.calibration,
        touch_output: i.touch_output.clone(),
        keyboard: KeyboardConfig {
            layout: k.layout.clone(),
            variant: k.variant.clone(),
            options: k.options.clone(),
            repeat_delay: k.repeat_delay,
            repeat_rate: k.repeat_rate,
        },
    };
    let mut src = match InputSource::new(config) {
        Ok(s) => s,
        Err(e) => {
            warn!("input: {e}; running without input devices or injection");
            return None;
        }
    };
    if let Err(e) = src.open_devices_with(seat) {
        warn!("input: {e}; running without input devices (injection still works)");
    }
    Some(src)
}

/// Checks that the keymap `[input.keyboard]` names compiles on this system, before the
/// master starts: a typo (`layout = "xx"`) is a config error naming the file, line and key,
/// not a master that runs with a dead keyboard. With no layout, variant or options written
/// there is nothing of the file's to blame: a keymap that still fails (no xkb data on the
/// board) leaves keys without keysyms, and touch and pointers work (see
/// [`InputSource::new`]).
pub fn check_keymap(cfg: &Config, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use fusionfb_input::keyboard::Keyboard;
    let k = &cfg.input.keyboard;
    let (Some(file), false) = (
        file,
        k.layout.is_empty() && k.variant.is_empty() && k.options.is_empty(),
    ) else {
        return Ok(());
    };
    if Keyboard::compiles(&k.layout, &k.variant, &k.options) {
        return Ok(());
    }
    // Blame the first part that breaks it: the layout alone, then with its variant.
    let (key, value) = if !Keyboard::compiles(&k.layout, "", "") {
        ("layout", &k.layout)
    } else if !Keyboard::compiles(&k.layout, &k.variant, "") {
        ("variant", &k.variant)
    } else {
        ("options", &k.options)
    };
    let hint = if !Keyboard::compiles("", "", "") {
        "no keymap compiles here at all: install xkb-data (xkeyboard-config)"
    } else {
        "see /usr/share/X11/xkb/rules/base.lst for the names xkb knows"
    };
    Err(Config::error_at(
        file,
        &["input", "keyboard", key],
        format!("the keymap does not compile with {key} {value:?}: {hint}"),
    )
    .into())
}

/// One `fusionfb input` action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A finger down and up at a point.
    Tap {
        /// Output x.
        x: f32,
        /// Output y.
        y: f32,
        /// Slot.
        slot: u32,
    },
    /// A finger dragged from one point to another.
    Swipe {
        /// Start.
        from: (f32, f32),
        /// End.
        to: (f32, f32),
        /// How long the drag takes.
        duration: Duration,
        /// Motion events on the way.
        steps: u32,
        /// Slot.
        slot: u32,
    },
    /// A key pressed and released, by keysym name (`a`, `Return`).
    Key {
        /// Keysym name.
        name: String,
    },
    /// The pointer moves to a point (and optionally clicks there with the left button).
    Pointer {
        /// Output x.
        x: f32,
        /// Output y.
        y: f32,
        /// Click.
        click: bool,
    },
}

/// `BTN_LEFT`.
const BTN_LEFT: u32 = 0x110;

/// Plays `action` on the master of `world`.
pub fn run(world: &str, action: &Action) -> anyhow::Result<()> {
    let err = |e: fusion::Error| anyhow::Error::new(e).context(format!("world {world:?}"));
    let cfg = fusion::WorldConfig::new(world).client_name("fusionfb input");
    let mut slave = fusion::Slave::enter(cfg).map_err(err)?;
    let root: Root = fusion::call::decode(&slave.root().map_err(err)?).map_err(err)?;
    // The whole action, as the batches it is sent in (and the pause after each), checked
    // before the first is sent: a swipe that leaves the output must not leave a finger down.
    let batches: Vec<(Vec<Injected>, Duration)> = match action {
        Action::Tap { x, y, slot } => crate::cli::demo::stroke(*slot, (*x, *y), (*x, *y), 0)
            .into_iter()
            .map(|step| (step.into_iter().map(injected).collect(), Duration::ZERO))
            .collect(),
        Action::Swipe {
            from,
            to,
            duration,
            steps,
            slot,
        } => {
            let frames = crate::cli::demo::stroke(*slot, *from, *to, (*steps).max(1));
            let pause = *duration / frames.len().max(1) as u32;
            frames
                .into_iter()
                .map(|step| (step.into_iter().map(injected).collect(), pause))
                .collect()
        }
        Action::Key { name } => [true, false]
            .map(|pressed| {
                let key = Injected::KeyName {
                    name: name.clone(),
                    pressed,
                };
                (vec![key], Duration::ZERO)
            })
            .into(),
        Action::Pointer { x, y, click } => {
            let mut batches = vec![(vec![Injected::PointerTo { x: *x, y: *y }], Duration::ZERO)];
            if *click {
                for pressed in [true, false] {
                    let button = Injected::Button {
                        button: BTN_LEFT,
                        pressed,
                    };
                    batches.push((vec![button], Duration::ZERO));
                }
            }
            batches
        }
    };
    // Checked here too, for a clear message before anything is sent: on the outputs the
    // master reports (minor 11), else on the one its root describes.
    let layout = layout_of(&mut slave, &root);
    for e in batches.iter().flat_map(|(b, _)| b) {
        crate::server::outside_layout(e, layout.iter().copied())?;
    }
    for (events, pause) in batches {
        let req = fusion::call::encode(&Request::Inject(events)).map_err(err)?;
        let bytes = slave.call_execute(root.call, 0, &req).map_err(err)?;
        match fusion::call::decode::<Reply>(&bytes).map_err(err)? {
            Reply::Unit => {}
            other => return Err(anyhow::anyhow!("unexpected answer {other:?}")),
        }
        std::thread::sleep(pause);
    }
    Ok(())
}

fn injected(t: InjectedTouch) -> Injected {
    Injected::Touch {
        phase: t.phase,
        slot: t.slot,
        x: t.x,
        y: t.y,
    }
}

/// The outputs' rectangles in the master's layout, as its scene reports them; the root's
/// one output from a master older than minor 11 (or one that does not answer).
fn layout_of(
    slave: &mut fusion::Slave,
    root: &fusionfb_protocol::Root,
) -> Vec<fusionfb_protocol::Rect> {
    use fusionfb_protocol::{Rect, Reply, Request, Scene};
    let one = vec![Rect::new(0, 0, root.output.width, root.output.height)];
    let Ok(req) = fusion::call::encode(&Request::Describe) else {
        return one;
    };
    match slave
        .call_execute(root.call, 0, &req)
        .ok()
        .and_then(|b| Scene::decode_reply(&b).ok())
    {
        Some(Reply::Scene(scene)) if !scene.outputs.is_empty() => scene
            .outputs
            .iter()
            .map(|o| Rect::new(o.x, o.y, o.width, o.height))
            .collect(),
        _ => one,
    }
}
