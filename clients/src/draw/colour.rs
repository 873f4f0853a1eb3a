//! [`Colour`]: a straight-alpha RGBA colour, as designers and CSS write them.

use std::fmt;
use std::str::FromStr;

use gfx_drivers::format::premultiply;

/// A colour with **straight** (not premultiplied) alpha: `rgba(255, 0, 0, 128)` is a
/// half-transparent pure red, as in CSS. Drawing premultiplies it once, on the way in.
///
/// ```
/// use fusionfb_client::draw::Colour;
/// let c: Colour = "#ff8000".parse().unwrap();
/// assert_eq!(c, Colour::rgb(255, 128, 0));
/// assert_eq!(Colour::rgba(255, 0, 0, 128).to_argb(), 0x8080_0000); // premultiplied
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Colour {
    /// Red, 0–255.
    pub r: u8,
    /// Green, 0–255.
    pub g: u8,
    /// Blue, 0–255.
    pub b: u8,
    /// Alpha (opacity), 0 transparent – 255 opaque.
    pub a: u8,
}

impl Colour {
    /// Opaque black.
    pub const BLACK: Colour = Colour::rgb(0, 0, 0);
    /// Opaque white.
    pub const WHITE: Colour = Colour::rgb(255, 255, 255);
    /// Fully transparent (black).
    pub const TRANSPARENT: Colour = Colour::rgba(0, 0, 0, 0);

    /// A colour from straight-alpha components.
    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Colour {
        Colour { r, g, b, a }
    }

    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Colour {
        Colour::rgba(r, g, b, 255)
    }

    /// The same colour with alpha `a`.
    pub const fn with_alpha(self, a: u8) -> Colour {
        Colour { a, ..self }
    }

    /// Whether the colour is fully opaque.
    pub const fn is_opaque(self) -> bool {
        self.a == 255
    }

    /// Parses `#rrggbb`, `#rrggbbaa`, `#rgb` or `#rgba` (the `#` is optional, hex digits in
    /// either case).
    pub fn parse(s: &str) -> Result<Colour, ParseColourError> {
        let bad = || ParseColourError(s.to_owned());
        let hex = s.strip_prefix('#').unwrap_or(s);
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).map_err(|_| bad());
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        match hex.len() {
            3 | 4 => {
                let n = |i| digit(i).map(|d| d * 17);
                let a = if hex.len() == 4 { n(3)? } else { 255 };
                Ok(Colour::rgba(n(0)?, n(1)?, n(2)?, a))
            }
            6 | 8 => {
                let a = if hex.len() == 8 { byte(6)? } else { 255 };
                Ok(Colour::rgba(byte(0)?, byte(2)?, byte(4)?, a))
            }
            _ => Err(bad()),
        }
    }

    /// Straight-alpha `0xAARRGGBB`.
    pub const fn to_straight_argb(self) -> u32 {
        (self.a as u32) << 24 | (self.r as u32) << 16 | (self.g as u32) << 8 | self.b as u32
    }

    /// Premultiplied `0xAARRGGBB`, the canonical pixel of [`gfx_drivers::format`].
    pub const fn to_argb(self) -> u32 {
        premultiply(self.to_straight_argb())
    }

    /// The colour as tiny-skia must see it when it draws into memory that holds ARGB8888
    /// little-endian pixels (bytes B, G, R, A) while believing they are RGBA: red and blue
    /// swap places. See the module doc of [`crate::draw`].
    pub(crate) fn to_skia_swapped(self) -> tiny_skia::Color {
        tiny_skia::Color::from_rgba8(self.b, self.g, self.r, self.a)
    }
}

impl FromStr for Colour {
    type Err = ParseColourError;
    fn from_str(s: &str) -> Result<Colour, ParseColourError> {
        Colour::parse(s)
    }
}

impl fmt::Display for Colour {
    /// `#rrggbb` for opaque colours, `#rrggbbaa` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)?;
        if !self.is_opaque() {
            write!(f, "{:02x}", self.a)?;
        }
        Ok(())
    }
}

/// A string that is not a `#rrggbb`-style colour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a colour: expected #rrggbb, #rrggbbaa, #rgb or #rgba")]
pub struct ParseColourError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(Colour::parse("#ff8000"), Ok(Colour::rgb(255, 128, 0)));
        assert_eq!(Colour::parse("FF8000"), Ok(Colour::rgb(255, 128, 0)));
        assert_eq!(
            Colour::parse("#11223344"),
            Ok(Colour::rgba(0x11, 0x22, 0x33, 0x44))
        );
        assert_eq!(Colour::parse("#f80"), Ok(Colour::rgb(255, 0x88, 0)));
        assert_eq!(Colour::parse("#f808"), Ok(Colour::rgba(255, 0x88, 0, 0x88)));
        for bad in ["", "#", "#12345", "#ggg", "#1234567", "#+1+2+3", "#ff80é0"] {
            assert!(Colour::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for c in [Colour::rgb(1, 2, 3), Colour::rgba(250, 128, 0, 7)] {
            assert_eq!(c.to_string().parse::<Colour>(), Ok(c));
        }
        assert_eq!(Colour::WHITE.to_string(), "#ffffff");
    }

    #[test]
    fn premultiplies_like_the_format_module() {
        assert_eq!(Colour::rgb(0x12, 0x34, 0x56).to_argb(), 0xff12_3456);
        assert_eq!(Colour::rgba(255, 255, 255, 0x80).to_argb(), 0x8080_8080);
        assert_eq!(Colour::TRANSPARENT.to_argb(), 0);
    }
}
