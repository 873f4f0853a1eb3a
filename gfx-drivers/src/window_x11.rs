//! The `window` backend's pixels into an X11 window: core `PutImage` over an X connection of
//! its own (x11rb's pure-Rust `RustConnection`), drawing into winit's window by its id.
//!
//! Written here rather than taken from softbuffer's X11 backend, which does this well but
//! comes with tiny-xlib, whose library constructor loads libX11 and libxcb into every
//! process that links it: 0.43 MiB resident in a headless master, or a board's, that never
//! opens a window. No MIT-SHM: this backend is for a developer's desktop and for tests under
//! Xvfb; a 1280x800 frame is 4 MB over the local socket. On Wayland softbuffer presents, as
//! before (it loads libwayland-client only when asked to).

use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateGCAux, Gcontext, ImageFormat, ImageOrder, Window,
};
use x11rb::rust_connection::RustConnection;

use crate::backend::{geometry, Rect};

/// A connection to the display winit's window is on, ready to draw into that window.
pub struct X11Presenter {
    conn: RustConnection,
    window: Window,
    gc: Gcontext,
    depth: u8,
    /// One request's rows, packed.
    scratch: Vec<u8>,
}

impl X11Presenter {
    /// Connects to the display `DISPLAY` names (winit's) and prepares to draw into `window`,
    /// which must be at 32 bits per pixel in the server's least-significant-byte-first order
    /// (depth 24 or 32 on every PC X server), so that XRGB8888 rows go as they are.
    pub fn new(window: Window) -> Result<X11Presenter, String> {
        let (conn, _) = x11rb::connect(None).map_err(|e| failed("connection", e))?;
        let geometry = conn
            .get_geometry(window)
            .map_err(|e| failed("GetGeometry", e))?
            .reply()
            .map_err(|e| failed("GetGeometry", e))?;
        let setup = conn.setup();
        let bits = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == geometry.depth)
            .map(|f| f.bits_per_pixel);
        if bits != Some(32) || setup.image_byte_order != ImageOrder::LSB_FIRST {
            return Err(format!(
                "X11 window of depth {} at {bits:?} bits per pixel, {:?}: only 32 bits, LSB \
                 first, are drawn",
                geometry.depth, setup.image_byte_order
            ));
        }
        let gc = conn.generate_id().map_err(|e| failed("ids", e))?;
        conn.create_gc(gc, window, &CreateGCAux::new())
            .map_err(|e| failed("CreateGC", e))?;
        Ok(X11Presenter {
            conn,
            window,
            gc,
            depth: geometry.depth,
            scratch: Vec::new(),
        })
    }

    /// Puts `rects` of `bytes` (XRGB8888 rows of `pitch` bytes; the rects clipped to them by
    /// the caller) into the window, each in as few requests as the server's request size
    /// allows.
    pub fn present(
        &mut self,
        bytes: &[u8],
        pitch: usize,
        rects: &[Rect<geometry::Buffer>],
    ) -> Result<(), String> {
        // The request's own 24 bytes, and a margin.
        let room = self.conn.maximum_request_bytes().saturating_sub(64);
        for r in rects.iter().filter(|r| r.w > 0 && r.h > 0) {
            let (x, top) = r.origin_unsigned();
            let row = r.w as usize * 4;
            let rows_per_request = (room / row).clamp(1, u16::MAX as usize) as u32;
            let mut y = top;
            while y < top + r.h {
                let rows = rows_per_request.min(top + r.h - y);
                self.scratch.clear();
                for line in y..y + rows {
                    let at = line as usize * pitch + x as usize * 4;
                    self.scratch.extend_from_slice(&bytes[at..at + row]);
                }
                self.conn
                    .put_image(
                        ImageFormat::Z_PIXMAP,
                        self.window,
                        self.gc,
                        r.w as u16,
                        rows as u16,
                        x as i16,
                        y as i16,
                        0,
                        self.depth,
                        &self.scratch,
                    )
                    .map_err(|e| failed("PutImage", e))?
                    .ignore_error();
                y += rows;
            }
        }
        self.conn.flush().map_err(|e| failed("PutImage", e))?;
        // Nothing is asked for on this connection but errors (a window already gone), which
        // come as events: drop them, so that they do not pile up.
        while let Ok(Some(_)) = self.conn.poll_for_event() {}
        Ok(())
    }
}

/// What failed, said with the request it was.
fn failed(what: &str, e: impl std::fmt::Display) -> String {
    format!("X11 {what}: {e}")
}
