//! `wp_viewporter`: a surface shows a crop of its buffer (`set_source`) at a size of its
//! choosing (`set_destination`) — video players and UIs rendering at a lower resolution;
//! and `wl_surface.set_buffer_scale`, a buffer drawn at N times the surface's size (the
//! output's scale is 1, so such a buffer is shown scaled down).
//!
//! The master applies the viewport when it takes the buffer in (`server/wayland.rs`): its
//! copy of the surface has the destination size and holds the crop scaled to it
//! ([`crate::compose::scale_into`], bilinear), so the window, its hit-test, damage and
//! `fusionfb status` all see the surface's on-screen size. The crop is rounded out to whole
//! pixels (a fractional source edge is drawn from the pixel it falls in). A source outside
//! the buffer is the protocol's `out_of_buffer` error (smithay's check).

use smithay::delegate_viewporter;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::{self, SurfaceAttributes};
use smithay::wayland::viewporter::{ensure_viewport_valid, ViewportCachedState};

use super::state::WaylandState;
use fusionfb_types::geometry::{Buffer as BufferSpace, Rect};

/// A crop of a buffer (its pixels) and the size it is shown at.
pub type Viewed = (Rect<BufferSpace>, (u32, u32));

/// What a surface's viewport and `buffer_scale` ask of a buffer of `size`: the crop
/// (buffer pixels) and the size it is shown at (surface pixels, which are the output's).
/// `None`: the buffer as it is. `Err(())`: the viewport does not fit the buffer, and the
/// client got its protocol error.
#[allow(clippy::result_unit_err)]
pub fn of(s: &WlSurface, size: (u32, u32)) -> Result<Option<Viewed>, ()> {
    compositor::with_states(s, |st| {
        let scale = st
            .cached_state
            .get::<SurfaceAttributes>()
            .current()
            .buffer_scale
            .max(1);
        let scale_u = u32::try_from(scale).unwrap_or(1);
        // The buffer's size in surface pixels.
        let logical = (size.0 / scale_u, size.1 / scale_u);
        let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        if !ensure_viewport_valid(st, (as_i32(logical.0), as_i32(logical.1)).into()) {
            return Err(());
        }
        let mut cached = st.cached_state.get::<ViewportCachedState>();
        let v = *cached.current();
        if v.src.is_none() && v.dst.is_none() && scale == 1 {
            return Ok(None);
        }
        let crop = match v.src {
            Some(r) => {
                let f = f64::from(scale);
                let (x0, y0) = ((r.loc.x * f).floor(), (r.loc.y * f).floor());
                let (x1, y1) = (
                    ((r.loc.x + r.size.w) * f).ceil(),
                    ((r.loc.y + r.size.h) * f).ceil(),
                );
                let side = |v: f64| u32::try_from(v as i64).unwrap_or(0);
                Rect::new(x0 as i32, y0 as i32, side(x1 - x0), side(y1 - y0))
            }
            None => Rect::new(0, 0, size.0, size.1),
        };
        let shown = v
            .size()
            .map(|sz| {
                let side = |v: i32| u32::try_from(v).unwrap_or(0).max(1);
                (side(sz.w), side(sz.h))
            })
            .unwrap_or((logical.0.max(1), logical.1.max(1)));
        Ok(Some((crop, shown)))
    })
}

delegate_viewporter!(WaylandState);
