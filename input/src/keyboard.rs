//! Keymaps through xkbcommon: evdev key codes in, keysyms, UTF-8 text and modifiers out.
//!
//! The keymap is compiled from RMLVO names (rules, model, layout, variant, options — what
//! `setxkbmap` takes); empty names take xkbcommon's defaults (`XKB_DEFAULT_LAYOUT`, …, else
//! `evdev`/`pc105`/`us`). One [`Keyboard`] holds the seat's modifier state: all keyboards of a
//! seat share it, as in every compositor.

use xkbcommon::xkb;

use crate::event::KeyEvent;
use crate::Error;

/// Offset between evdev key codes and XKB keycodes.
const EVDEV_OFFSET: u32 = 8;

/// A compiled keymap and the seat's keyboard state.
pub struct Keyboard {
    keymap: xkb::Keymap,
    state: xkb::State,
}

impl std::fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyboard").finish_non_exhaustive()
    }
}

impl Keyboard {
    /// Compiles the keymap of `layout`, `variant` and `options` (empty: the defaults).
    pub fn new(layout: &str, variant: &str, options: &str) -> Result<Keyboard, Error> {
        let ctx = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        Self::with_context(ctx, layout, variant, options)
    }

    /// Whether the keymap of `layout`, `variant` and `options` compiles, without xkbcommon's
    /// own messages on stderr (for checking a config).
    pub fn compiles(layout: &str, variant: &str, options: &str) -> bool {
        let mut ctx = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        ctx.set_log_level(xkb::LogLevel::Critical);
        Self::with_context(ctx, layout, variant, options).is_ok()
    }

    fn with_context(
        ctx: xkb::Context,
        layout: &str,
        variant: &str,
        options: &str,
    ) -> Result<Keyboard, Error> {
        let options = (!options.is_empty()).then(|| options.to_string());
        let keymap = xkb::Keymap::new_from_names(
            &ctx,
            "",
            "",
            layout,
            variant,
            options,
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        )
        .ok_or_else(|| {
            Error::Keymap(format!(
                "cannot compile layout {layout:?} variant {variant:?} (is xkeyboard-config installed?)"
            ))
        })?;
        let state = xkb::State::new(&keymap);
        Ok(Keyboard { keymap, state })
    }

    /// Whether the keymap lets evdev key `keycode` repeat (modifiers do not).
    pub fn repeats(&self, keycode: u32) -> bool {
        self.keymap
            .key_repeats(xkb::Keycode::new(keycode + EVDEV_OFFSET))
    }

    /// Feeds a key press or release (or a repeat, which leaves the state alone) and
    /// describes it.
    pub fn key(&mut self, keycode: u32, pressed: bool, repeat: bool, time_ns: u64) -> KeyEvent {
        let kc = xkb::Keycode::new(keycode + EVDEV_OFFSET);
        // Keysym and text as the key types them with the modifiers held before it.
        let keysym = self.state.key_get_one_sym(kc).raw();
        let text = if pressed {
            self.state.key_get_utf8(kc)
        } else {
            String::new()
        };
        if !repeat {
            let dir = if pressed {
                xkb::KeyDirection::Down
            } else {
                xkb::KeyDirection::Up
            };
            self.state.update_key(kc, dir);
        }
        KeyEvent {
            keycode,
            pressed,
            repeat,
            keysym,
            text: text.chars().filter(|c| !c.is_control()).collect(),
            modifiers: self.state.serialize_mods(xkb::STATE_MODS_EFFECTIVE),
            time_ns,
        }
    }

    /// The evdev key code whose first level types the keysym called `name` (`"a"`,
    /// `"Return"`, `"F1"`; case-insensitive as a fallback).
    pub fn keycode_of(&self, name: &str) -> Option<u32> {
        let mut sym = xkb::keysym_from_name(name, xkb::KEYSYM_NO_FLAGS);
        if sym.raw() == 0 {
            sym = xkb::keysym_from_name(name, xkb::KEYSYM_CASE_INSENSITIVE);
        }
        if sym.raw() == 0 {
            return None;
        }
        let mut found = None;
        self.keymap.key_for_each(|km, kc| {
            if found.is_none() && km.key_get_syms_by_level(kc, 0, 0).contains(&sym) {
                found = Some(kc.raw());
            }
        });
        found.map(|kc| kc - EVDEV_OFFSET)
    }

    /// The evdev key code that types `keysym` in the first layout, and whether it needs
    /// Shift (the keysym is on the key's second level and not its first); `None` if no
    /// key of the keymap types it.
    pub fn key_for_keysym(&self, keysym: u32) -> Option<(u32, bool)> {
        let sym = xkb::Keysym::new(keysym);
        let mut first = None;
        let mut second = None;
        self.keymap.key_for_each(|km, kc| {
            if first.is_none() && km.key_get_syms_by_level(kc, 0, 0).contains(&sym) {
                first = Some(kc.raw());
            } else if second.is_none() && km.key_get_syms_by_level(kc, 0, 1).contains(&sym) {
                second = Some(kc.raw());
            }
        });
        first
            .map(|kc| (kc - EVDEV_OFFSET, false))
            .or(second.map(|kc| (kc - EVDEV_OFFSET, true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms_are_found_on_their_keys_with_or_without_shift() {
        let us = Keyboard::new("us", "", "").unwrap();
        let sym = |n| xkb::keysym_from_name(n, xkb::KEYSYM_NO_FLAGS).raw();
        // KEY_A is 30, KEY_1 is 2 (evdev codes).
        assert_eq!(us.key_for_keysym(sym("a")), Some((30, false)));
        assert_eq!(us.key_for_keysym(sym("A")), Some((30, true)));
        assert_eq!(us.key_for_keysym(sym("exclam")), Some((2, true)));
        assert_eq!(us.key_for_keysym(sym("Shift_L")), Some((42, false)));
        assert_eq!(us.key_for_keysym(sym("Greek_alpha")), None);
    }

    #[test]
    fn us_and_de_layouts_type_what_their_keys_say() {
        let mut us = Keyboard::new("us", "", "").unwrap();
        // KEY_Y (21) types "y" on a US keyboard and "z" on a German one.
        assert_eq!(us.key(21, true, false, 0).text, "y");
        let mut de = Keyboard::new("de", "", "").unwrap();
        assert_eq!(de.key(21, true, false, 0).text, "z");
        // Shift held: capitals, and the modifier mask says so.
        us.key(21, false, false, 0);
        let shift = us.key(42, true, false, 0);
        assert!(!us.repeats(42), "modifiers do not repeat");
        let a = us.key(30, true, false, 0);
        assert_eq!(a.text, "A");
        assert_ne!(a.modifiers, 0);
        assert_eq!(shift.text, "");
        assert!(us.repeats(30));
        assert_eq!(us.keycode_of("a"), Some(30));
        assert_eq!(us.keycode_of("Return"), Some(28));
        assert_eq!(de.keycode_of("z"), Some(21));
        assert_eq!(us.keycode_of("no-such-key"), None);
        assert!(Keyboard::new("no-such-layout", "", "").is_err());
    }
}
