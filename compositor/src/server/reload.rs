//! Reloading the config without a restart (`SIGHUP`, `fusionfb reload`): the file the master
//! was started with is read again and what can change live is applied at once — the
//! background, the touch calibration and the output touch maps to, the keymap and key repeat
//! (for native and Wayland clients), whether the cursor is drawn, and the Wayland placement
//! rules (for windows placed from then on). What cannot (the backend and its mode, the
//! transform, the layers, the input devices, the world, the Wayland socket, the `[[app]]`
//! programs) is named in one log line and waits for a restart. A file that does not load is
//! refused with its `file:line:col: key` error and the running config stays, whole.

use std::path::PathBuf;

use tracing::{info, warn};

use super::Server;
use crate::config::Config;

/// The config a master runs with, and the file it came from (none: the defaults, nothing
/// to reload).
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The file.
    pub path: Option<PathBuf>,
    /// What is applied now.
    pub running: Config,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// The keys applied live (changed ones only).
    pub applied: Vec<String>,
    /// The keys that changed but take a restart.
    pub restart: Vec<String>,
}

impl Server {
    /// Sets the config this master runs with (what [`Server::reload`] reads again).
    pub fn set_config_source(&mut self, source: ConfigSource) {
        self.config = source;
    }

    /// Reads the config file again and applies what can change live (see the module docs).
    /// An error (the file's `file:line:col: key: message`) changes nothing.
    pub fn reload(&mut self) -> Result<Reloaded, String> {
        let Some(path) = self.config.path.clone() else {
            return Err("this master runs without a config file: nothing to reload".into());
        };
        let new = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                warn!("reload refused, the running config stays: {e}");
                return Err(e.to_string());
            }
        };
        let old = self.config.running.clone();
        let mut done = Reloaded::default();
        let applied = |key: &str, done: &mut Reloaded| done.applied.push(key.to_string());
        if old.display.background != new.display.background {
            self.set_background(new.display.background.argb8888());
            applied("display.background", &mut done);
        }
        if old.display.blank_after != new.display.blank_after {
            self.set_blank_after(new.display.blank_after.0);
            applied("display.blank-after", &mut done);
        }
        if old.input.cursor_visible != new.input.cursor_visible {
            self.set_cursor_visible(new.input.cursor_visible);
            applied("input.cursor-visible", &mut done);
        }
        if old.input.calibration != new.input.calibration {
            if let Some(src) = self.input_source() {
                src.set_calibration(new.input.calibration);
            }
            applied("input.calibration", &mut done);
        }
        if old.input.touch_output != new.input.touch_output {
            if let Some(src) = self.input_source() {
                src.set_touch_output(new.input.touch_output.clone());
            }
            applied("input.touch-output", &mut done);
        }
        if old.input.keyboard != new.input.keyboard {
            let k = &new.input.keyboard;
            let keyboard = fusionfb_input::KeyboardConfig {
                layout: k.layout.clone(),
                variant: k.variant.clone(),
                options: k.options.clone(),
                repeat_delay: k.repeat_delay,
                repeat_rate: k.repeat_rate,
            };
            if let Some(src) = self.input_source() {
                if let Err(e) = src.set_keyboard(keyboard) {
                    warn!("reload: the new keymap does not compile, the old one stays: {e}");
                }
            }
            #[cfg(feature = "wayland")]
            self.wayland_set_keyboard(k);
            applied("input.keyboard", &mut done);
        }
        #[cfg(feature = "wayland")]
        if old.wayland.rules != new.wayland.rules {
            self.wayland_set_rules(new.wayland.rules.clone());
            applied("wayland.rule", &mut done);
        }
        let restart_only = [
            ("world", old.world != new.world),
            (
                "display.backend",
                old.display.backend != new.display.backend,
            ),
            ("display.device", old.display.device != new.display.device),
            ("display.mode", old.display.mode != new.display.mode),
            (
                "display.transform",
                old.display.transform != new.display.transform,
            ),
            (
                "display.refresh",
                old.display.refresh != new.display.refresh,
            ),
            ("display.vt", old.display.vt != new.display.vt),
            (
                "display.allocator",
                old.display.allocator != new.display.allocator,
            ),
            ("display.output", old.display.output != new.display.output),
            ("layer", old.layers != new.layers),
            ("input.seat", old.input.seat != new.input.seat),
            ("input.devices", old.input.devices != new.input.devices),
            ("app", old.apps != new.apps),
            (
                "wayland.enabled",
                old.wayland.enabled != new.wayland.enabled,
            ),
            ("wayland.socket", old.wayland.socket != new.wayland.socket),
        ];
        // What runs now: the old config with the live keys of the new one (the others still
        // differ, and are named again by the next reload, until a restart).
        let mut running = old.clone();
        running.display.background = new.display.background;
        running.display.blank_after = new.display.blank_after;
        running.input.cursor_visible = new.input.cursor_visible;
        running.input.calibration = new.input.calibration;
        running.input.touch_output = new.input.touch_output.clone();
        running.input.keyboard = new.input.keyboard.clone();
        running.wayland.rules = new.wayland.rules.clone();
        self.config.running = running;
        done.restart = restart_only
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(key, _)| key.to_string())
            .collect();
        info!(
            "reloaded {}: applied {}",
            path.display(),
            if done.applied.is_empty() {
                "nothing (no live key changed)".to_string()
            } else {
                done.applied.join(", ")
            }
        );
        if !done.restart.is_empty() {
            warn!(
                "reload: {} changed but take a restart of the master (they stay as they are \
                 until then)",
                done.restart.join(", ")
            );
        }
        Ok(done)
    }
}
