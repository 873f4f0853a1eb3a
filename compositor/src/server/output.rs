//! The outputs the server drives, and where each sits in the layout.
//!
//! One [`OutputState`] per driven output (a connected connector on DRM, an output of the
//! headless backend): its own mode, transform and background, its two scan-out buffers and
//! their damage, and its own frame clock. Each output has its own vblank, so frames are
//! made, committed and presented per output ([`super::Server`]'s `frame_output`).
//!
//! **The layout.** Outputs sit side by side in one coordinate space, as in Weston and
//! wlroots: an output's `origin` is where its top-left corner is, in logical pixels; by
//! default each output is placed right of the ones before it (top edges aligned), or where
//! its `[[output]] position` says. Windows, the pointer and touches live in layout
//! coordinates; an output composes the part of the layout it covers. A window is "on" the
//! output it overlaps most ([`super::Server::output_of_rect`]), which is whose frame clock
//! its flips follow. Applications still see one output by default (the first); one placed
//! on another output (`fusionfb-paint --output NAME`, `[[app]] output`) reads that
//! output's place from [`fusionfb_protocol::Scene::outputs`].
//!
//! **Which outputs.** Every connected output, unless the config names some: then only the
//! `[[output]]` tables' outputs (or `display.output`'s alone). The first output is the one
//! the layers' planes, the cursor plane and the protocol's `Root::output` belong to; it
//! stays in the list while unplugged (its frames go on unseen, as they always did), while
//! another output that is unplugged leaves the layout and comes back where it was.
//!
//! Written here rather than taken from smithay's `Space`/`OutputManager`: the layout is a
//! list of rectangles, and the rest (buffers, damage, frame clocks) is this server's own.

use std::time::Instant;

use calloop::RegistrationToken;
use fusionfb_protocol as proto;
use gfx_drivers::backend::{OutputId, PlaneId};
use gfx_drivers::Buffer;

use crate::compose::{Damage, Transform};

/// What the config says of one output (`[[output]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// The connector's name (`HDMI-A-1`, `Virtual-2`) or the headless output's.
    pub name: String,
    /// How the panel is mounted (`None`: `[display] transform`).
    pub transform: Option<Transform>,
    /// Its background colour, `0xRRGGBB` (`None`: `[display] background`).
    pub background: Option<u32>,
    /// Where its top-left corner is in the layout (`None`: right of the outputs before it).
    pub position: Option<(i32, i32)>,
    /// An exact mode `(width, height, refresh mHz; 0: any)` to set (`None`: the backend's).
    pub mode: Option<(u32, u32, u32)>,
    /// `false`: not driven even when connected.
    pub enabled: bool,
}

impl OutputSpec {
    /// An output named `name` with every setting left to the defaults.
    pub fn named(name: impl Into<String>) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            transform: None,
            background: None,
            position: None,
            mode: None,
            enabled: true,
        }
    }
}

/// Which outputs the server drives and how: the config's `[[output]]` tables over the
/// `[display]` defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputRules {
    /// The `[[output]]` tables. With any, only the outputs they name (and enable) are driven.
    pub named: Vec<OutputSpec>,
    /// `display.output`: with no `[[output]]` tables, the only output driven.
    pub only: Option<String>,
    /// `display.transform`: every output's unless its table says otherwise.
    pub transform: Transform,
}

impl OutputRules {
    /// Whether the output called `name` is driven.
    pub fn drives(&self, name: &str) -> bool {
        if !self.named.is_empty() {
            return self.named.iter().any(|s| s.name == name && s.enabled);
        }
        self.only.as_deref().is_none_or(|only| only == name)
    }

    /// What the config says of `name`, if it has a table.
    pub fn spec(&self, name: &str) -> Option<&OutputSpec> {
        self.named.iter().find(|s| s.name == name)
    }

    /// The transform of output `name`.
    pub fn transform_of(&self, name: &str) -> Transform {
        self.spec(name)
            .and_then(|s| s.transform)
            .unwrap_or(self.transform)
    }
}

/// One driven output. See the module docs.
pub(crate) struct OutputState {
    /// The backend's id for it.
    pub id: OutputId,
    /// The backend's name for it (what `touch-output`, `WL_OUTPUT` and `--output` name).
    pub name: String,
    /// Its primary plane.
    pub primary: PlaneId,
    /// Its top-left corner in the layout.
    pub origin: (i32, i32),
    /// Its logical size (what applications see, after the transform).
    pub width: u32,
    /// Logical height.
    pub height: u32,
    /// How the panel is mounted: logical (what clients see) to physical (the glass).
    pub transform: Transform,
    /// Its own background colour (`None`: the server's).
    pub background: Option<u32>,
    /// Its refresh rate, millihertz.
    pub refresh_mhz: u32,
    /// The two scan-out buffers the master composes into, in turn (the glass's size).
    pub targets: [Buffer; 2],
    /// Damage each scan-out buffer still lacks, in output (logical) coordinates.
    pub damage: [Damage; 2],
    /// Per scan-out buffer: damage other than the composed cursor's arrived since it was
    /// last composed (else what it composes is counted as the cursor's).
    pub not_only_cursor: [bool; 2],
    /// The scan-out buffer the next frame is composed into.
    pub back: usize,
    /// A commit is on its way to the glass.
    pub in_flight: bool,
    /// Surfaces whose flip the frame being made shows.
    pub flipped: Vec<u32>,
    /// Surfaces whose flip the frame in flight shows.
    pub flipped_in_flight: Vec<u32>,
    /// When to compose the next frame (just before the next vblank, or sooner once every
    /// visible window has drawn: `Server::all_drawn`).
    pub compose_at: Option<Instant>,
    /// The timer on the loop that wakes it then.
    pub timer: Option<RegistrationToken>,
    /// A plane must be recommitted (an exclusive layer was released, the display is back).
    pub planes_dirty: bool,
    /// Whether its last frame was scanned out directly.
    pub last_direct: bool,
    /// Frames committed and presented on it.
    pub frames: u64,
    /// Frames presented on it.
    pub presented: u64,
    /// The backend says it is connected.
    pub connected: bool,
}

impl OutputState {
    /// Its rectangle in the layout.
    pub fn rect(&self) -> proto::Rect {
        proto::Rect::new(self.origin.0, self.origin.1, self.width, self.height)
    }

    /// Its physical size (the glass).
    pub fn physical_size(&self) -> (u32, u32) {
        (self.targets[0].width(), self.targets[0].height())
    }

    /// `r` (layout coordinates) in this output's own coordinates.
    pub fn to_local(&self, r: proto::Rect) -> proto::Rect {
        proto::Rect::new(r.x - self.origin.0, r.y - self.origin.1, r.w, r.h)
    }

    /// Adds damage given in layout coordinates (what is not on this output changes nothing).
    pub fn add_damage(&mut self, r: proto::Rect) {
        let local = self.to_local(r);
        for d in &mut self.damage {
            d.add(local);
        }
    }

    /// Damages the whole output in both scan-out buffers.
    pub fn damage_all(&mut self) {
        let (w, h) = (self.width, self.height);
        self.damage = [Damage::full(w, h), Damage::full(w, h)];
        self.not_only_cursor = [true, true];
    }

    /// How much of `r` (layout coordinates) is on this output, in pixels.
    pub fn overlap(&self, r: proto::Rect) -> u64 {
        overlap(self.rect(), r)
    }

    /// What `fusionfb status` says of it; `layers` are the layers bound to it.
    pub fn status(&self, first: bool, layers: Vec<u32>) -> proto::OutputStatus {
        let (pw, ph) = self.physical_size();
        proto::OutputStatus {
            name: self.name.clone(),
            x: self.origin.0,
            y: self.origin.1,
            width: self.width,
            height: self.height,
            physical_width: pw,
            physical_height: ph,
            refresh_mhz: self.refresh_mhz,
            transform: self.transform.to_string(),
            connected: self.connected,
            first,
            frames: self.frames,
            presented: self.presented,
            layers,
        }
    }
}

/// The area two rectangles share, in pixels.
pub(crate) fn overlap(a: proto::Rect, b: proto::Rect) -> u64 {
    let x0 = a.x.max(b.x) as i64;
    let y0 = a.y.max(b.y) as i64;
    let x1 = (a.x as i64 + a.w as i64).min(b.x as i64 + b.w as i64);
    let y1 = (a.y as i64 + a.h as i64).min(b.y as i64 + b.h as i64);
    if x1 <= x0 || y1 <= y0 {
        return 0;
    }
    ((x1 - x0) * (y1 - y0)) as u64
}

/// Where a new output goes: `wanted`, else right of every output already laid out
/// (`placed`), its top at 0.
pub(crate) fn place(placed: &[proto::Rect], wanted: Option<(i32, i32)>) -> (i32, i32) {
    if let Some(at) = wanted {
        return at;
    }
    let right = placed
        .iter()
        .map(|r| r.x.saturating_add(r.w as i32))
        .max()
        .unwrap_or(0);
    (right.max(0), 0)
}

/// The smallest rectangle from the layout's origin `(0, 0)` holding every output (the
/// space the pointer moves in).
/// Takes the rectangles as they come (no list to build: routing allocates nothing).
pub(crate) fn bounds_of(outputs: impl Iterator<Item = proto::Rect>) -> (u32, u32) {
    let (w, h) = outputs.fold((1, 1), |(w, h), r| {
        (
            w.max(r.x.saturating_add(r.w as i32)),
            h.max(r.y.saturating_add(r.h as i32)),
        )
    });
    (w.max(1) as u32, h.max(1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_go_right_of_each_other_unless_placed() {
        assert_eq!(place(&[], None), (0, 0));
        let first = proto::Rect::new(0, 0, 1024, 768);
        assert_eq!(place(&[first], None), (1024, 0));
        let second = proto::Rect::new(1024, 0, 600, 800);
        assert_eq!(place(&[first, second], None), (1624, 0));
        assert_eq!(place(&[first], Some((0, 768))), (0, 768));
        assert_eq!(bounds_of([first, second].into_iter()), (1624, 800));
    }

    #[test]
    fn overlap_is_the_shared_area() {
        let a = proto::Rect::new(0, 0, 100, 100);
        assert_eq!(overlap(a, proto::Rect::new(50, 50, 100, 100)), 2500);
        assert_eq!(overlap(a, proto::Rect::new(100, 0, 10, 10)), 0);
        assert_eq!(overlap(a, proto::Rect::new(-10, -10, 20, 20)), 100);
    }

    #[test]
    fn named_outputs_are_the_only_ones_driven() {
        let mut rules = OutputRules::default();
        assert!(rules.drives("Virtual-1") && rules.drives("Virtual-2"));
        rules.only = Some("Virtual-2".into());
        assert!(!rules.drives("Virtual-1") && rules.drives("Virtual-2"));
        rules.named = vec![OutputSpec::named("Virtual-1"), {
            let mut s = OutputSpec::named("HDMI-A-1");
            s.enabled = false;
            s
        }];
        assert!(rules.drives("Virtual-1"));
        assert!(!rules.drives("Virtual-2"), "not named");
        assert!(!rules.drives("HDMI-A-1"), "disabled");
        rules.transform = Transform::Rotate90;
        assert_eq!(rules.transform_of("Virtual-1"), Transform::Rotate90);
    }
}
