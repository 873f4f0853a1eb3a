//! The small value types of the config that are written as strings (or numbers) and parsed:
//! modes, colours, transforms, groups, sizes and positions.
//!
//! Each has a [`FromStr`] whose error is the message the user sees, and a `Deserialize` that
//! runs it, so a bad value is reported at its own place in the file.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The largest width or height a mode or a layer may have.
pub const MAX_DIMENSION: u32 = 16384;

/// Implements `Deserialize` for a `FromStr` type: a TOML string, parsed, with the parse error
/// as the message.
macro_rules! deserialize_from_str {
    ($ty:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

/// Which display mode to set.
///
/// Written `"preferred"` (the panel's preferred mode, from its EDID or driver), `"current"`
/// (keep whatever mode the device has, e.g. what the boot splash set) or
/// `"WIDTHxHEIGHT[@HZ]"` such as `"1280x800@60"` or `"1920x1080@59.94"`. Without `@HZ`
/// the backend picks the highest refresh rate the size offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The mode the panel says it prefers.
    #[default]
    Preferred,
    /// The mode already set on the device.
    Current,
    /// This size and, when given, this refresh rate.
    Exact {
        /// Width in pixels, `1..=16384`.
        width: u32,
        /// Height in pixels, `1..=16384`.
        height: u32,
        /// Refresh rate in millihertz (`60000` for 60 Hz), or `None` for the fastest.
        refresh_mhz: Option<u32>,
    },
}

impl Mode {
    /// An exact mode, `width` x `height` at `hz` Hz.
    pub fn exact(width: u32, height: u32, hz: u32) -> Self {
        Mode::Exact {
            width,
            height,
            refresh_mhz: Some(hz * 1000),
        }
    }

    /// The refresh rate in millihertz, if the mode names one.
    pub fn refresh_mhz(&self) -> Option<u32> {
        match self {
            Mode::Exact { refresh_mhz, .. } => *refresh_mhz,
            _ => None,
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "preferred" => return Ok(Mode::Preferred),
            "current" => return Ok(Mode::Current),
            _ => {}
        }
        let bad = || {
            format!(
                "{s:?} is not a mode: use \"preferred\", \"current\" or WIDTHxHEIGHT[@HZ] \
                 such as \"1280x800@60\""
            )
        };
        let (size, hz) = match s.split_once('@') {
            Some((size, hz)) => (size, Some(hz)),
            None => (s, None),
        };
        let (w, h) = size.split_once('x').ok_or_else(bad)?;
        let (width, height) = (
            parse_dimension(w).ok_or_else(bad)?,
            parse_dimension(h).ok_or_else(bad)?,
        );
        if !(1..=MAX_DIMENSION).contains(&width) || !(1..=MAX_DIMENSION).contains(&height) {
            return Err(format!(
                "{s:?}: width and height must be 1..={MAX_DIMENSION} pixels"
            ));
        }
        let refresh_mhz = match hz {
            None => None,
            Some(hz) => {
                let mhz = parse_millis(hz).ok_or_else(bad)?;
                if !(1..=1_000_000).contains(&mhz) {
                    return Err(format!(
                        "{s:?}: the refresh rate must be above 0 and at most 1000 Hz"
                    ));
                }
                Some(mhz)
            }
        };
        Ok(Mode::Exact {
            width,
            height,
            refresh_mhz,
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Mode::Preferred => f.write_str("preferred"),
            Mode::Current => f.write_str("current"),
            Mode::Exact {
                width,
                height,
                refresh_mhz,
            } => {
                write!(f, "{width}x{height}")?;
                if let Some(mhz) = refresh_mhz {
                    write!(f, "@{}", Millis(*mhz))?;
                }
                Ok(())
            }
        }
    }
}

deserialize_from_str!(Mode, "a mode such as \"preferred\" or \"1280x800@60\"");

/// A width or height: decimal digits only (no sign, no spaces).
fn parse_dimension(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `"60"`, `"59.94"`, `"59.940"` → thousandths (`60000`, `59940`); at most three decimals.
fn parse_millis(s: &str) -> Option<u32> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.len() > 3 || s.ends_with('.') {
        return None;
    }
    let int: u32 = parse_dimension(int)?;
    let frac_val: u32 = if frac.is_empty() {
        0
    } else {
        parse_dimension(frac)? * 10u32.pow(3 - frac.len() as u32)
    };
    int.checked_mul(1000)?.checked_add(frac_val)
}

/// Prints thousandths as a decimal with no trailing zeros: `59940` → `59.94`.
pub(crate) struct Millis(pub u32);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (int, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{int}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// A colour, written `"#rrggbb"` (opaque) or `"#aarrggbb"`, as in CSS and Android resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    /// Alpha: 0 transparent, 255 opaque.
    pub a: u8,
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl Color {
    /// Opaque black, the default display background.
    pub const BLACK: Color = Color::rgb(0, 0, 0);

    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { a: 255, r, g, b }
    }

    /// The colour as one ARGB8888 word (`0xAARRGGBB`, not premultiplied).
    pub fn argb8888(&self) -> u32 {
        u32::from_be_bytes([self.a, self.r, self.g, self.b])
    }
}

impl Default for Color {
    fn default() -> Self {
        Color::BLACK
    }
}

impl FromStr for Color {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a colour: use \"#rrggbb\" or \"#aarrggbb\"");
        let hex = s.strip_prefix('#').ok_or_else(bad)?;
        if !(hex.len() == 6 || hex.len() == 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let v = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
        let [a, r, g, b] = v.to_be_bytes();
        Ok(if hex.len() == 6 {
            Color::rgb(r, g, b)
        } else {
            Color { a, r, g, b }
        })
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.a == 255 {
            write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
        } else {
            write!(f, "#{:08x}", self.argb8888())
        }
    }
}

deserialize_from_str!(Color, "a colour \"#rrggbb\" or \"#aarrggbb\"");

/// An idle time after which something happens, written `"30s"`, `"5m"`, `"1h"` or
/// `"500ms"` (a whole number and its unit), or `"off"` (`"never"`, `"0"`): never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IdleTime(pub Option<std::time::Duration>);

impl FromStr for IdleTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a time: use a whole number with ms, s, m or h (\"5m\"), or \"off\""
            )
        };
        let t = s.trim();
        if matches!(t, "off" | "never" | "0") {
            return Ok(IdleTime(None));
        }
        let digits = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = t[..digits].parse().map_err(|_| bad())?;
        let ms = match &t[digits..] {
            "ms" => Some(n),
            "s" => n.checked_mul(1000),
            "m" | "min" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            _ => return Err(bad()),
        }
        .filter(|&ms| ms <= 7 * 24 * 3_600_000)
        .ok_or_else(|| format!("{s:?} is longer than a week"))?;
        Ok(IdleTime(
            (ms > 0).then(|| std::time::Duration::from_millis(ms)),
        ))
    }
}

deserialize_from_str!(IdleTime, "a time such as \"5m\" or \"off\"");

/// How the panel is mounted, and so how fusionfb turns the picture (and the touch
/// coordinates with it) to look upright: the house's one [`Transform`], which deserializes
/// straight from the strings `"normal"`, `"90"`, `"180"`, `"270"`, `"flipped"`,
/// `"flipped-90"`, `"flipped-180"`, `"flipped-270"` or the integers `0`, `90`, `180`, `270`
/// (see its docs for which way 90 turns).
pub use fusionfb_types::Transform;

/// A group, by name (`"video"`) or by number (`44`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Group {
    /// A group name, looked up when the master starts.
    Name(String),
    /// A numeric group id.
    Gid(u32),
}

impl Group {
    /// The numeric id: a [`Group::Gid`] as is, a [`Group::Name`] looked up in the system's
    /// group database (`getgrnam_r`, so NSS sources such as LDAP count too).
    pub fn gid(&self) -> std::io::Result<u32> {
        match self {
            Group::Gid(gid) => Ok(*gid),
            Group::Name(name) => fusionfb_sys::group_id(name),
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Group::Name(name) => f.write_str(name),
            Group::Gid(gid) => write!(f, "{gid}"),
        }
    }
}

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Group;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a group name or a numeric gid")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Group, E> {
                let valid = !s.is_empty()
                    && s.len() <= 256
                    && !s.starts_with('-')
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
                if valid {
                    Ok(Group::Name(s.to_string()))
                } else {
                    Err(E::custom(format!(
                        "{s:?} is not a group name: use letters, digits, '_', '-' or '.', \
                         or a numeric gid"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Group, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|gid| *gid != u32::MAX)
                    .map(Group::Gid)
                    .ok_or_else(|| E::custom(format!("{v} is not a gid: use 0..=4294967294")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in pixels, written `[width, height]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Size {
    /// A size.
    pub const fn new(width: u32, height: u32) -> Self {
        Size { width, height }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [width, height] = pair(d, "[width, height]")?;
        Ok(Size { width, height })
    }
}

/// A position in pixels from the display's top-left corner, written `[x, y]`; may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// Pixels to the right.
    pub x: i32,
    /// Pixels down.
    pub y: i32,
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [x, y] = pair(d, "[x, y]")?;
        Ok(Position { x, y })
    }
}

/// An array of exactly two numbers (serde's `[T; 2]` would ignore a third).
fn pair<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    shape: &str,
) -> Result<[T; 2], D::Error> {
    let v = Vec::<T>::deserialize(d)?;
    let n = v.len();
    <[T; 2]>::try_from(v)
        .map_err(|_| de::Error::custom(format!("expected 2 numbers {shape}, found {n}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn idle_times_parse_with_their_unit_or_off() {
        use std::time::Duration;
        let t = |s: &str| s.parse::<IdleTime>().map(|t| t.0);
        assert_eq!(t("5m"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(t("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(t("500ms"), Ok(Some(Duration::from_millis(500))));
        assert_eq!(t("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(t("off"), Ok(None));
        assert_eq!(t("0"), Ok(None));
        for bad in ["soon", "5", "m", "-1s", "5 years", "", "200h"] {
            assert!(t(bad).is_err(), "{bad:?} was taken");
        }
    }

    use super::*;

    #[test]
    fn modes_round_trip() {
        for s in [
            "preferred",
            "current",
            "1280x800@60",
            "1920x1080@59.94",
            "800x480",
            "640x480@72.5",
        ] {
            assert_eq!(s.parse::<Mode>().unwrap().to_string(), s);
        }
        assert_eq!(
            "1920x1080@59.940".parse::<Mode>().unwrap().refresh_mhz(),
            Some(59940)
        );
        for bad in [
            "",
            "1280x",
            "x800",
            "1280x800@",
            "1280x800@60.",
            "1280 x 800",
            "+1x2",
            "1x2@1.2345",
            "1280X800",
        ] {
            assert!(bad.parse::<Mode>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn colours_parse() {
        assert_eq!(
            "#102030".parse::<Color>().unwrap(),
            Color::rgb(0x10, 0x20, 0x30)
        );
        let c: Color = "#80ff0000".parse().unwrap();
        assert_eq!((c.a, c.r, c.g, c.b), (0x80, 0xff, 0, 0));
        assert_eq!(c.argb8888(), 0x80ff_0000);
        assert_eq!(c.to_string(), "#80ff0000");
        assert_eq!(Color::BLACK.to_string(), "#000000");
        for bad in ["102030", "#12345", "#1234567", "#gg0000", "#+12345"] {
            assert!(bad.parse::<Color>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn transforms_parse() {
        #[derive(Deserialize)]
        struct Display {
            transform: Transform,
        }
        let parse =
            |v: &str| toml::from_str::<Display>(&format!("transform = {v}")).map(|d| d.transform);
        for t in Transform::ALL {
            assert_eq!(parse(&format!("{:?}", t.name())).unwrap(), t);
            assert_eq!(t.to_string(), t.name());
        }
        for (deg, t) in [(0, Transform::Normal), (90, Transform::Rotate90)] {
            assert_eq!(parse(&deg.to_string()).unwrap(), t);
        }
        assert_eq!(parse("270").unwrap(), Transform::Rotate270);
        assert!(parse("45").is_err() && parse("\"sideways\"").is_err());
        assert!(Transform::Rotate90.swaps_axes());
        assert!(!Transform::Flipped180.swaps_axes());
        assert!(Transform::Flipped270.is_flipped());
    }

    #[test]
    fn groups_resolve() {
        assert_eq!(Group::Gid(44).gid().unwrap(), 44);
        assert_eq!(Group::Name("root".into()).gid().unwrap(), 0);
        let missing = Group::Name("no-such-group-fusionfb".into())
            .gid()
            .unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
