//! `zwlr_screencopy_manager_v1`: Wayland screenshot tools (`grim`) read the glass.
//!
//! smithay 0.7 has no screencopy of its own, so the protocol is answered here, on the
//! bindings of `wayland-protocols-wlr`. A client asks to capture the output (or a region of
//! it); the master answers with the one buffer it can fill — `wl_shm` XRGB8888 of the
//! region's size — and the client attaches such a buffer with `copy` (or
//! `copy_with_damage`). The state only records the request ([`PendingCopy`]); the server
//! fills the buffer from what is on the glass (the same picture as `fusionfb screenshot`)
//! after the turn, and sends `flags` and `ready` (or `failed` when the buffer does not fit).
//! A copy is answered with the glass as it is, without waiting for new damage.

use smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::{
    zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::{self, ZwlrScreencopyManagerV1},
};
use smithay::reexports::wayland_server::protocol::{wl_buffer::WlBuffer, wl_shm};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};

use super::WaylandState;

/// The version offered (3: `buffer_done` after the buffer offers; no dma-buf offer).
pub const VERSION: u32 = 3;

/// What was captured: a rectangle of the output, in output pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// A copy a client asked for, waiting for the server to fill its buffer.
#[derive(Debug)]
pub struct PendingCopy {
    /// The frame object (answered with `flags` + `ready`, or `failed`).
    pub frame: ZwlrScreencopyFrameV1,
    /// The client's buffer.
    pub buffer: WlBuffer,
    /// What to copy into it.
    pub region: Region,
}

/// Per frame: the region it captures, and whether a copy was asked already.
#[derive(Debug)]
pub struct FrameData {
    region: Region,
    used: std::sync::atomic::AtomicBool,
}

/// Makes the global.
pub fn create(dh: &DisplayHandle) {
    dh.create_global::<WaylandState, ZwlrScreencopyManagerV1, ()>(VERSION, ());
}

/// The region of a `capture_output_region` request, clipped to the output; `None` when
/// nothing of it is on the output.
pub fn clip_region(x: i32, y: i32, w: i32, h: i32, size: (u32, u32)) -> Option<Region> {
    let (ow, oh) = (i64::from(size.0), i64::from(size.1));
    let (x0, y0) = (i64::from(x).clamp(0, ow), i64::from(y).clamp(0, oh));
    let x1 = (i64::from(x) + i64::from(w.max(0))).clamp(0, ow);
    let y1 = (i64::from(y) + i64::from(h.max(0))).clamp(0, oh);
    // In range: every value is clamped to the output's u32 size.
    let u = |v: i64| u32::try_from(v).unwrap_or(0);
    (x1 > x0 && y1 > y0).then(|| Region {
        x: u(x0),
        y: u(y0),
        w: u(x1 - x0),
        h: u(y1 - y0),
    })
}

impl WaylandState {
    fn new_frame(
        &mut self,
        data_init: &mut DataInit<'_, Self>,
        frame: New<ZwlrScreencopyFrameV1>,
        region: Option<Region>,
    ) {
        let empty = Region {
            x: 0,
            y: 0,
            w: 0,
            h: 0,
        };
        let frame = data_init.init(
            frame,
            FrameData {
                region: region.unwrap_or(empty),
                used: false.into(),
            },
        );
        let Some(r) = region else {
            frame.failed();
            return;
        };
        frame.buffer(wl_shm::Format::Xrgb8888, r.w, r.h, r.w * 4);
        if frame.version() >= 3 {
            frame.buffer_done();
        }
    }
}

impl GlobalDispatch<ZwlrScreencopyManagerV1, ()> for WaylandState {
    fn bind(
        _state: &mut Self,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrScreencopyManagerV1>,
        _data: &(),
        data_init: &mut DataInit<'_, Self>,
    ) {
        data_init.init(resource, ());
    }
}

impl Dispatch<ZwlrScreencopyManagerV1, ()> for WaylandState {
    fn request(
        state: &mut Self,
        _client: &Client,
        _manager: &ZwlrScreencopyManagerV1,
        request: zwlr_screencopy_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        let (w, h) = state.size;
        match request {
            zwlr_screencopy_manager_v1::Request::CaptureOutput { frame, .. } => {
                let whole = Region { x: 0, y: 0, w, h };
                state.new_frame(data_init, frame, Some(whole));
            }
            zwlr_screencopy_manager_v1::Request::CaptureOutputRegion {
                frame,
                x,
                y,
                width,
                height,
                ..
            } => {
                let region = clip_region(x, y, width, height, (w, h));
                state.new_frame(data_init, frame, region);
            }
            zwlr_screencopy_manager_v1::Request::Destroy => {}
            _ => {}
        }
    }
}

impl Dispatch<ZwlrScreencopyFrameV1, FrameData> for WaylandState {
    fn request(
        state: &mut Self,
        _client: &Client,
        frame: &ZwlrScreencopyFrameV1,
        request: zwlr_screencopy_frame_v1::Request,
        data: &FrameData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, Self>,
    ) {
        let buffer = match request {
            zwlr_screencopy_frame_v1::Request::Copy { buffer }
            | zwlr_screencopy_frame_v1::Request::CopyWithDamage { buffer } => buffer,
            _ => return,
        };
        if data.used.swap(true, std::sync::atomic::Ordering::Relaxed) {
            frame.post_error(
                zwlr_screencopy_frame_v1::Error::AlreadyUsed,
                "this frame was copied already",
            );
            return;
        }
        state.screencopies.push(PendingCopy {
            frame: frame.clone(),
            buffer,
            region: data.region,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_clipped_to_the_output() {
        let r = |x, y, w, h| Some(Region { x, y, w, h });
        assert_eq!(clip_region(0, 0, 640, 480, (640, 480)), r(0, 0, 640, 480));
        assert_eq!(clip_region(-10, 470, 50, 50, (640, 480)), r(0, 470, 40, 10));
        assert_eq!(clip_region(700, 0, 10, 10, (640, 480)), None);
        assert_eq!(clip_region(0, 0, -5, 10, (640, 480)), None);
        assert_eq!(
            clip_region(i32::MAX, i32::MAX, i32::MAX, i32::MAX, (640, 480)),
            None
        );
    }
}
