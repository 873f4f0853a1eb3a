//! The hardware cursor: the pointer's picture on the output's cursor plane.
//!
//! Where the output has a cursor plane (DRM with atomic KMS where the driver has one —
//! virtio-gpu and most real boards; the headless backend), the cursor's picture (the master's
//! arrow, or the cursor surface a Wayland client set) is drawn into a small ARGB8888 buffer
//! of the plane's size **once per picture**, and a pointer motion only moves the plane: a
//! commit of the cursor plane alone, the same buffer at another position. Nothing is
//! composed and the primary plane is not touched (no damage), so a motion costs 0 bytes of
//! composition. Two buffers take turns, so a new picture is never drawn into the one on the
//! glass.
//!
//! The cursor is **composed** into the primary plane as before ([`super::pointer`]) when:
//!
//! - the output has no cursor plane (bochs, fbdev, the window backend, legacy KMS);
//! - the output is rotated or flipped (`display.transform`): the plane scans out
//!   unrotated, and turning the picture and its hotspot with the output is not done here;
//! - the picture is larger than the plane (a Wayland client's big cursor surface);
//! - the display refused the plane ([`gfx_drivers::backend::Error::PlaneRefused`], an
//!   atomic TEST_ONLY check that failed), or a cursor buffer could not be allocated: from
//!   then on, for the master's life.
//!
//! Switching between the two is seamless: the cursor's rectangle is damaged on the side it
//! leaves or joins the composition, and the plane is turned off when it is not used.
//!
//! **Several outputs.** The plane used is the cursor plane of the output the cursor is wholly
//! on. When the pointer crosses to another output that has one, the plane follows it
//! ([`Server::retarget_cursor_plane`]): the old output's plane is turned off in that
//! output's next frame, the new one gets the picture (the same buffers: one card's buffers
//! scan out on any of its planes). While the cursor straddles two outputs, or is on an output
//! without a cursor plane, it is composed.
//! "Hidden while no pointing device exists" is the same rule for both (`cursor-visible`).
//!
//! What it costs is counted ([`CursorCounters`]): pointer motions, plane commits, and the
//! bytes composed in frames whose only damage was the cursor's — the figure "bytes composed
//! per pointer motion" is that divided by the motions (0 with the plane).

use fusionfb_protocol as proto;
use gfx_drivers::backend::{OutputId, PlaneId, PlaneKind, PlaneUpdate};
use gfx_drivers::{Buffer, Format};

use super::Server;
use fusionfb_types::geometry::Transform;

/// The output's cursor plane and what the master put there.
#[derive(Debug)]
pub(crate) struct CursorPlane {
    /// The output whose plane it is.
    pub output: OutputId,
    /// The plane.
    pub id: PlaneId,
    /// Its buffers' size (the largest picture it shows).
    pub size: (u32, u32),
    /// The two buffers the picture is drawn into in turn (allocated on first use).
    buffers: Vec<Buffer>,
    /// The buffer holding the current picture.
    front: usize,
    /// The picture changed since it was drawn into a buffer.
    pub image_dirty: bool,
    /// Why the plane is not used any more (refused by the display, no buffer).
    pub failed: Option<String>,
    /// What the last commit put on the plane: the buffer and its position; `None`: off.
    shown: Option<(usize, (i32, i32))>,
}

impl CursorPlane {
    /// The plane of `info` the cursor can use, if it has one that shows ARGB8888.
    pub fn of(info: &gfx_drivers::backend::OutputInfo) -> Option<CursorPlane> {
        let output = info.id;
        let p = info.plane(PlaneKind::Cursor)?;
        if !p.formats.contains(&Format::Argb8888) {
            return None;
        }
        let size = p.max_size.unwrap_or((64, 64));
        Some(CursorPlane {
            output,
            id: p.id,
            size,
            buffers: Vec::new(),
            front: 0,
            image_dirty: true,
            failed: None,
            shown: None,
        })
    }
}

/// Whether `outer` holds all of `inner`.
fn holds(outer: proto::Rect, inner: proto::Rect) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.w as i32 <= outer.x + outer.w as i32
        && inner.y + inner.h as i32 <= outer.y + outer.h as i32
}

/// The cursor's counters, for `fusionfb status`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CursorCounters {
    /// Pointer motions routed (relative and absolute).
    pub motions: u64,
    /// Commits that changed the cursor plane (a move, a new picture, on or off).
    pub plane_commits: u64,
    /// Bytes composed in frames whose only damage was the cursor's.
    pub composed_bytes: u64,
}

/// A commit of the cursor plane the next frame makes.
pub(crate) struct CursorCommit {
    plane: PlaneId,
    /// The buffer and where it goes; `None` turns the plane off.
    show: Option<(usize, Buffer, (i32, i32))>,
}

impl CursorCommit {
    /// The update for the backend.
    pub fn update(&self) -> PlaneUpdate<'_> {
        match &self.show {
            Some((_, b, (x, y))) => PlaneUpdate::show(self.plane, b).at(*x, *y),
            None => PlaneUpdate::disable(self.plane),
        }
    }
}

impl Server {
    /// Why the cursor is composed rather than put on the cursor plane, or `None` when it
    /// goes on the plane (or there is nothing to show).
    pub(crate) fn cursor_composed_because(&self) -> Option<String> {
        let Some(cp) = &self.input.pointer.plane else {
            return Some("the output has no cursor plane".into());
        };
        if let Some(why) = &cp.failed {
            return Some(why.clone());
        }
        let Some(out) = self.outputs.iter().find(|o| o.id == cp.output) else {
            return Some("the cursor plane's output is unplugged".into());
        };
        if out.transform != Transform::Normal {
            return Some("the output is transformed".into());
        }
        let (b, r) = self.cursor_image()?;
        if !holds(out.rect(), r) {
            return Some("the pointer is not wholly on an output with a cursor plane".into());
        }
        (b.width() > cp.size.0 || b.height() > cp.size.1).then(|| {
            format!(
                "the cursor picture is {}x{}, larger than the {}x{} plane",
                b.width(),
                b.height(),
                cp.size.0,
                cp.size.1
            )
        })
    }

    /// Whether the cursor is on the cursor plane now (not composed).
    pub(crate) fn cursor_on_plane(&self) -> bool {
        self.input.pointer.plane.is_some() && self.cursor_composed_because().is_none()
    }

    /// Whether the hardware cursor shows the cursor now.
    pub fn hardware_cursor(&self) -> bool {
        self.cursor_on_plane() && self.cursor_image().is_some()
    }

    /// What the cursor plane should change in the next frame, drawing a new picture into
    /// the free buffer when it changed; `None`: nothing.
    pub(crate) fn cursor_commit(&mut self) -> Option<CursorCommit> {
        let want = if self.cursor_on_plane() {
            self.cursor_image()
        } else {
            None
        };
        let cp = self.input.pointer.plane.as_mut()?;
        let Some((image, rect)) = want else {
            cp.image_dirty = true;
            return cp.shown.is_some().then_some(CursorCommit {
                plane: cp.id,
                show: None,
            });
        };
        // On the glass of the plane's output.
        let origin = self
            .outputs
            .iter()
            .find(|o| o.id == cp.output)
            .map_or((0, 0), |o| o.origin);
        let at = (rect.x - origin.0, rect.y - origin.1);
        if !cp.image_dirty && cp.shown.is_some_and(|(i, p)| i == cp.front && p == at) {
            return None;
        }
        if cp.image_dirty || cp.buffers.is_empty() {
            match self.draw_cursor_picture(&image) {
                Ok(index) => {
                    let cp = self.input.pointer.plane.as_mut()?;
                    cp.front = index;
                    cp.image_dirty = false;
                }
                Err(why) => {
                    tracing::warn!("hardware cursor: {why}; composing the cursor instead");
                    self.fail_cursor_plane(why);
                    return self.cursor_commit();
                }
            }
        }
        let cp = self.input.pointer.plane.as_ref()?;
        Some(CursorCommit {
            plane: cp.id,
            show: Some((cp.front, cp.buffers[cp.front].clone(), at)),
        })
    }

    /// Draws `image` at the top-left of the cursor buffer not on the glass (transparent
    /// around it); returns that buffer's index.
    fn draw_cursor_picture(&mut self, image: &Buffer) -> Result<usize, String> {
        let (w, h) = self
            .input
            .pointer
            .plane
            .as_ref()
            .map(|c| c.size)
            .ok_or("no plane")?;
        if self
            .input
            .pointer
            .plane
            .as_ref()
            .is_some_and(|c| c.buffers.is_empty())
        {
            let mut bufs = Vec::with_capacity(2);
            for _ in 0..2 {
                bufs.push(
                    self.backend
                        .allocate(w, h, Format::Argb8888)
                        .map_err(|e| format!("no {w}x{h} cursor buffer: {e}"))?,
                );
            }
            if let Some(cp) = self.input.pointer.plane.as_mut() {
                cp.buffers = bufs;
            }
        }
        let cp = self.input.pointer.plane.as_ref().ok_or("no plane")?;
        // The buffer on the glass is the one shown; the other is free once it was replaced.
        let index = match cp.shown {
            Some((i, _)) => 1 - i,
            None => 1 - cp.front,
        };
        let target = &cp.buffers[index];
        if target.is_busy() {
            return Err("the free cursor buffer is still on the glass".into());
        }
        let (sw, sh, sp, sf) = (
            image.width().min(w) as usize,
            image.height().min(h) as usize,
            image.pitch(),
            image.format(),
        );
        let (tp, bpp) = (target.pitch(), sf.bytes_per_pixel());
        image
            .with_bytes(|src| {
                target.with_bytes_mut(|dst| {
                    dst.fill(0);
                    for y in 0..sh {
                        for x in 0..sw {
                            let o = y * sp + x * bpp;
                            let Some(px) = src.get(o..o + bpp) else {
                                return;
                            };
                            let argb = sf.read_pixel(px);
                            let d = y * tp + x * 4;
                            dst[d..d + 4].copy_from_slice(&argb.to_le_bytes());
                        }
                    }
                })
            })
            .map_err(|e| format!("drawing the cursor: {e}"))?;
        Ok(index)
    }

    /// The cursor plane and where the last commit put its buffer, while it shows one on
    /// output `output`.
    pub(crate) fn cursor_plane_shown(&self, output: OutputId) -> Option<(PlaneId, (i32, i32))> {
        let cp = self
            .input
            .pointer
            .plane
            .as_ref()
            .filter(|c| c.output == output)?;
        cp.shown.map(|(_, at)| (cp.id, at))
    }

    /// Whether the cursor is on the cursor plane of output `output` now.
    pub(crate) fn cursor_on_plane_of(&self, output: OutputId) -> bool {
        self.cursor_on_plane()
            && self
                .input
                .pointer
                .plane
                .as_ref()
                .is_some_and(|c| c.output == output)
    }

    /// The pointer may have crossed to another output: when the cursor is now wholly on
    /// another output that has a cursor plane, the plane used becomes that one, and the one
    /// left is turned off in its output's next frame.
    pub(crate) fn retarget_cursor_plane(&mut self) {
        let Some((_, r)) = self.cursor_image() else {
            return;
        };
        let Some(cp) = self.input.pointer.plane.as_ref() else {
            return;
        };
        if cp.failed.is_some() {
            return;
        }
        let Some(to) = self
            .outputs
            .iter()
            .find(|o| holds(o.rect(), r))
            .map(|o| o.id)
        else {
            return;
        };
        if to == cp.output {
            return;
        }
        let Some(new) = self.backend.output(to).ok().and_then(CursorPlane::of) else {
            return;
        };
        let before = self.cursor_on_plane();
        let Some(cp) = self.input.pointer.plane.as_mut() else {
            return;
        };
        if cp.shown.is_some() {
            self.input.pointer.retired.push((cp.output, cp.id));
        }
        // Back on a plane it left before that plane went off: the next commit shows it again.
        self.input.pointer.retired.retain(|&(o, _)| o != to);
        cp.output = new.output;
        cp.id = new.id;
        if cp.size != new.size {
            cp.size = new.size;
            cp.buffers.clear();
        }
        cp.shown = None;
        cp.image_dirty = true;
        // Composed on one side and on the plane on the other: the composed one goes.
        if before != self.cursor_on_plane() {
            self.damage_cursor_anyway();
        }
    }

    /// The cursor plane of output `output` that still shows the cursor after the plane
    /// moved to another output: to turn off in that output's next frame.
    pub(crate) fn retired_cursor_plane(&self, output: OutputId) -> Option<PlaneId> {
        self.input
            .pointer
            .retired
            .iter()
            .find(|(o, _)| *o == output)
            .map(|&(_, p)| p)
    }

    /// The commit that turned off output `output`'s retired cursor plane reached the
    /// backend.
    pub(crate) fn cursor_retired_off(&mut self, output: OutputId) {
        self.input.pointer.retired.retain(|&(o, _)| o != output);
        self.input.pointer.counters.plane_commits += 1;
    }

    /// The commit with `c` reached the backend: the plane shows it.
    pub(crate) fn cursor_committed(&mut self, c: &CursorCommit) {
        self.input.pointer.counters.plane_commits += 1;
        if let Some(cp) = self.input.pointer.plane.as_mut() {
            cp.shown = c.show.as_ref().map(|(i, _, at)| (*i, *at));
        }
    }

    /// Stops using the cursor plane (for `why`): the cursor is composed from now on.
    fn fail_cursor_plane(&mut self, why: String) {
        if let Some(cp) = self.input.pointer.plane.as_mut() {
            cp.failed = Some(why);
        }
        self.damage_cursor();
    }

    /// The display refused `plane` in a commit: `true` if it was the cursor plane, which
    /// is not used from then on (the cursor is composed).
    pub(crate) fn cursor_plane_refused(&mut self, plane: PlaneId, reason: &str) -> bool {
        let ours = self
            .input
            .pointer
            .plane
            .as_ref()
            .is_some_and(|c| c.id == plane);
        if !ours
            || self
                .input
                .pointer
                .plane
                .as_ref()
                .is_some_and(|c| c.failed.is_some())
        {
            return false;
        }
        tracing::warn!("the display refused the cursor plane ({reason}): composing the cursor");
        self.fail_cursor_plane(format!("the display refused the cursor plane: {reason}"));
        true
    }

    /// The cursor's part of [`proto::Scene`].
    pub(crate) fn cursor_status(&self) -> proto::CursorStatus {
        let p = &self.input.pointer;
        proto::CursorStatus {
            visible: self.cursor_image().is_some(),
            plane_size: p.plane.as_ref().map(|c| c.size),
            hardware: self.hardware_cursor(),
            composed_because: self.cursor_composed_because().unwrap_or_default(),
            motions: p.counters.motions,
            plane_commits: p.counters.plane_commits,
            composed_bytes: p.counters.composed_bytes,
        }
    }
}
