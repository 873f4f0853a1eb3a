//! Where layer-shell surfaces go, and what their exclusive zones leave for windows.
//!
//! `zwlr_layer_shell_v1` surfaces (panels, backgrounds, on-screen keyboards) say how they
//! want to sit on the output: the edges they are anchored to, margins, a size (0 along an
//! axis: stretch between the two anchored edges), and an exclusive zone (a panel's
//! thickness, which windows must not cover). [`arrange`] turns that into a rectangle per
//! surface and the **usable area** left over, where maximized toplevels go, the way wlroots'
//! compositors (sway's `arrange_layers`) do it:
//!
//! 1. Surfaces with an exclusive zone, top layer first (overlay, top, bottom, background),
//!    in the order they came, are placed in the usable area so far, and each takes its zone
//!    (plus its margin on that edge) off the side it is anchored to — so two bottom panels
//!    stack.
//! 2. The others are placed in the usable area that is left (exclusive zone 0) or on the
//!    whole output (`-1`, "don't care").
//!
//! A zone only counts for a surface anchored to one edge, or to one edge and both edges
//! beside it (the protocol's rule); a surface anchored to a corner or to opposite edges only
//! takes nothing. Pure functions: unit-tested here, carried out in [`super::layer_shell`].

use smithay::utils::{Logical, Rectangle, Size};
use smithay::wayland::shell::wlr_layer::{Anchor, ExclusiveZone, Layer, Margins};

/// One layer surface as it asked to be placed (its current, committed state).
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// The layer it is on.
    pub layer: Layer,
    /// The edges it is anchored to.
    pub anchor: Anchor,
    /// The size it asked for (0 along an axis: as wide or tall as its anchors allow).
    pub size: Size<i32, Logical>,
    /// Its distance from the anchored edges.
    pub margin: Margins,
    /// Its exclusive zone.
    pub zone: ExclusiveZone,
}

/// The outcome of [`arrange`].
#[derive(Debug, Clone, PartialEq)]
pub struct Arranged {
    /// Each request's rectangle on the output, in the order of the requests.
    pub rects: Vec<Rectangle<i32, Logical>>,
    /// What the exclusive zones left: where maximized windows go.
    pub usable: Rectangle<i32, Logical>,
}

/// Places `requests` on an output of `output` size (see the module docs).
pub fn arrange(output: Size<i32, Logical>, requests: &[Request]) -> Arranged {
    let full = Rectangle::from_size(output);
    let mut usable = full;
    let mut rects = vec![Rectangle::default(); requests.len()];
    let by_layer = [Layer::Overlay, Layer::Top, Layer::Bottom, Layer::Background];
    for layer in by_layer {
        for (i, r) in requests.iter().enumerate() {
            if r.layer != layer {
                continue;
            }
            if let ExclusiveZone::Exclusive(zone) = r.zone {
                let rect = place(usable, r);
                rects[i] = rect;
                usable = take_zone(usable, r, zone);
            }
        }
    }
    for (i, r) in requests.iter().enumerate() {
        match r.zone {
            ExclusiveZone::Exclusive(_) => {}
            ExclusiveZone::Neutral => rects[i] = place(usable, r),
            ExclusiveZone::DontCare => rects[i] = place(full, r),
        }
    }
    Arranged { rects, usable }
}

/// Where `r` goes within `bounds`.
fn place(bounds: Rectangle<i32, Logical>, r: &Request) -> Rectangle<i32, Logical> {
    let m = r.margin;
    let (x, w) = along(
        bounds.loc.x,
        bounds.size.w,
        r.size.w,
        (r.anchor.contains(Anchor::LEFT), m.left),
        (r.anchor.contains(Anchor::RIGHT), m.right),
    );
    let (y, h) = along(
        bounds.loc.y,
        bounds.size.h,
        r.size.h,
        (r.anchor.contains(Anchor::TOP), m.top),
        (r.anchor.contains(Anchor::BOTTOM), m.bottom),
    );
    Rectangle::new((x, y).into(), (w, h).into())
}

/// Position and length along one axis: `start`/`len` of the bounds, the asked length (0:
/// stretch), and whether each end is anchored with its margin.
fn along(
    start: i32,
    len: i32,
    asked: i32,
    (low, low_margin): (bool, i32),
    (high, high_margin): (bool, i32),
) -> (i32, i32) {
    let room = (len - low_margin * i32::from(low) - high_margin * i32::from(high)).max(0);
    let size = if asked <= 0 { room } else { asked };
    let at = match (low, high) {
        (true, false) => start + low_margin,
        (false, true) => start + len - high_margin - size,
        (true, true) => start + low_margin + (room - size) / 2,
        (false, false) => start + (len - size) / 2,
    };
    (at, size)
}

/// `usable` less the zone `r` takes on the edge it is anchored to.
fn take_zone(usable: Rectangle<i32, Logical>, r: &Request, zone: u32) -> Rectangle<i32, Logical> {
    let a = r.anchor;
    let horizontal = Anchor::LEFT | Anchor::RIGHT;
    let vertical = Anchor::TOP | Anchor::BOTTOM;
    let edge = if a == Anchor::TOP || a == Anchor::TOP | horizontal {
        Anchor::TOP
    } else if a == Anchor::BOTTOM || a == Anchor::BOTTOM | horizontal {
        Anchor::BOTTOM
    } else if a == Anchor::LEFT || a == Anchor::LEFT | vertical {
        Anchor::LEFT
    } else if a == Anchor::RIGHT || a == Anchor::RIGHT | vertical {
        Anchor::RIGHT
    } else {
        return usable;
    };
    let zone = i32::try_from(zone).unwrap_or(i32::MAX);
    let mut u = usable;
    let m = r.margin;
    if edge == Anchor::TOP {
        let t = (zone.saturating_add(m.top)).clamp(0, u.size.h);
        u.loc.y += t;
        u.size.h -= t;
    } else if edge == Anchor::BOTTOM {
        let t = (zone.saturating_add(m.bottom)).clamp(0, u.size.h);
        u.size.h -= t;
    } else if edge == Anchor::LEFT {
        let t = (zone.saturating_add(m.left)).clamp(0, u.size.w);
        u.loc.x += t;
        u.size.w -= t;
    } else {
        let t = (zone.saturating_add(m.right)).clamp(0, u.size.w);
        u.size.w -= t;
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(layer: Layer, anchor: Anchor, size: (i32, i32), zone: ExclusiveZone) -> Request {
        Request {
            layer,
            anchor,
            size: size.into(),
            margin: Margins::default(),
            zone,
        }
    }

    fn rect(x: i32, y: i32, w: i32, h: i32) -> Rectangle<i32, Logical> {
        Rectangle::new((x, y).into(), (w, h).into())
    }

    const OUT: (i32, i32) = (1280, 800);

    #[test]
    fn a_bottom_keyboard_stretches_and_takes_its_height() {
        let kb = req(
            Layer::Top,
            Anchor::BOTTOM | Anchor::LEFT | Anchor::RIGHT,
            (0, 250),
            ExclusiveZone::Exclusive(250),
        );
        let a = arrange(OUT.into(), &[kb]);
        assert_eq!(a.rects, vec![rect(0, 550, 1280, 250)]);
        assert_eq!(a.usable, rect(0, 0, 1280, 550));
    }

    #[test]
    fn two_top_panels_stack_and_margins_count() {
        let mut a = req(
            Layer::Top,
            Anchor::TOP | Anchor::LEFT | Anchor::RIGHT,
            (0, 30),
            ExclusiveZone::Exclusive(30),
        );
        a.margin.top = 4;
        let b = req(
            Layer::Bottom,
            Anchor::TOP,
            (200, 20),
            ExclusiveZone::Exclusive(20),
        );
        let out = arrange(OUT.into(), &[b, a]);
        // The top layer's panel goes first, whatever the order of the requests.
        assert_eq!(out.rects[1], rect(0, 4, 1280, 30));
        assert_eq!(out.rects[0], rect(540, 34, 200, 20));
        assert_eq!(out.usable, rect(0, 54, 1280, 746));
    }

    #[test]
    fn a_corner_or_both_sides_takes_no_zone() {
        let corner = req(
            Layer::Top,
            Anchor::TOP | Anchor::LEFT,
            (100, 100),
            ExclusiveZone::Exclusive(100),
        );
        let sides = req(
            Layer::Top,
            Anchor::TOP | Anchor::BOTTOM,
            (100, 0),
            ExclusiveZone::Exclusive(100),
        );
        let out = arrange(OUT.into(), &[corner, sides]);
        assert_eq!(out.usable, rect(0, 0, 1280, 800));
        assert_eq!(out.rects[0], rect(0, 0, 100, 100));
        assert_eq!(out.rects[1], rect(590, 0, 100, 800));
    }

    #[test]
    fn neutral_surfaces_fit_the_usable_area_and_dont_care_ones_the_output() {
        let panel = req(
            Layer::Top,
            Anchor::LEFT,
            (64, 0),
            ExclusiveZone::Exclusive(64),
        );
        let wallpaper = req(
            Layer::Background,
            Anchor::all(),
            (0, 0),
            ExclusiveZone::DontCare,
        );
        let dialog = req(
            Layer::Overlay,
            Anchor::empty(),
            (200, 100),
            ExclusiveZone::Neutral,
        );
        let out = arrange(OUT.into(), &[panel, wallpaper, dialog]);
        assert_eq!(out.rects[0], rect(0, 0, 64, 800));
        assert_eq!(out.rects[1], rect(0, 0, 1280, 800));
        assert_eq!(out.rects[2], rect(64 + (1216 - 200) / 2, 350, 200, 100));
        assert_eq!(out.usable, rect(64, 0, 1216, 800));
    }

    #[test]
    fn zones_larger_than_the_output_leave_an_empty_area_not_a_negative_one() {
        let huge = req(
            Layer::Top,
            Anchor::BOTTOM,
            (0, 10),
            ExclusiveZone::Exclusive(u32::MAX),
        );
        let out = arrange(OUT.into(), &[huge, huge]);
        assert_eq!(out.usable.size, (1280, 0).into());
    }
}
