//! `zwp_linux_dmabuf_v1`: clients hand the master dma-bufs instead of `wl_shm` pools.
//!
//! smithay's `DmabufState` speaks the protocol (params, `create`/`create_immed`, the format
//! table and feedback); this module says what the master takes and checks each buffer
//! before it exists. What it takes is what it can read with the CPU and what a display
//! plane can scan out: **one linear plane** (`DRM_FORMAT_MOD_LINEAR`) of ARGB8888, XRGB8888
//! or RGB565 from byte 0, a stride that holds a row and a dma-buf that holds every row.
//! Anything else — tiled or compressed modifiers, several planes (YUV), an offset — fails
//! the `create` (`failed` event, or an `invalid_wl_buffer` protocol error for
//! `create_immed`): the master and the other clients carry on.
//!
//! **Version.** With a display device (DRM), the global is version 4 with default feedback:
//! its main device is the card (`dev_t`), so a client allocates where the master can scan
//! out; one tranche, the formats above. Without one (headless, fbdev, a window) there is
//! no device to name, and the global is version 3 (format and modifier events).
//!
//! **Where the pixels go** is the server's business (`server/wayland/dmabuf.rs`): the buffer
//! is imported through the backend once, shown without a copy, scanned out as it is when it
//! covers the output, and released when the master no longer reads it.

use smithay::backend::allocator::dmabuf::Dmabuf;
use smithay::backend::allocator::{Buffer as _, Format as DrmFormat, Fourcc, Modifier};
use smithay::delegate_dmabuf;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::wayland::dmabuf::{
    DmabufFeedbackBuilder, DmabufGlobal, DmabufHandler, DmabufState, ImportNotifier,
};
use tracing::{debug, warn};

use gfx_drivers::{BufferDesc, Format};

use super::state::WaylandState;

/// The formats the master takes, as DRM formats with the linear modifier.
fn formats() -> Vec<DrmFormat> {
    [Fourcc::Argb8888, Fourcc::Xrgb8888, Fourcc::Rgb565]
        .into_iter()
        .map(|code| DrmFormat {
            code,
            modifier: Modifier::Linear,
        })
        .collect()
}

/// The master's format for a DRM fourcc it takes.
fn format_of(code: Fourcc) -> Option<Format> {
    match code {
        Fourcc::Argb8888 => Some(Format::Argb8888),
        Fourcc::Xrgb8888 => Some(Format::Xrgb8888),
        Fourcc::Rgb565 => Some(Format::Rgb565),
        _ => None,
    }
}

/// Makes the global: version 4 with feedback naming `device` (the display's `dev_t`), or
/// version 3 without one.
pub fn create(dh: &DisplayHandle, device: Option<u64>) -> (DmabufState, DmabufGlobal) {
    let mut state = DmabufState::new();
    let global = match device.map(|d| DmabufFeedbackBuilder::new(d, formats()).build()) {
        Some(Ok(feedback)) => {
            state.create_global_with_default_feedback::<WaylandState>(dh, &feedback)
        }
        Some(Err(e)) => {
            warn!("wayland: no dma-buf feedback ({e}); offering zwp_linux_dmabuf_v1 version 3");
            state.create_global::<WaylandState>(dh, formats())
        }
        None => state.create_global::<WaylandState>(dh, formats()),
    };
    (state, global)
}

/// What the master maps of `dmabuf`, or why it does not take it (see the module docs).
/// `max_side` is the largest width or height a client may show.
pub fn describe(dmabuf: &Dmabuf, max_side: u32) -> Result<BufferDesc, String> {
    let planes = dmabuf.num_planes();
    if planes != 1 {
        return Err(format!("{planes} planes (one is taken)"));
    }
    let f = dmabuf.format();
    if f.modifier != Modifier::Linear {
        return Err(format!("modifier {:?} (only linear is taken)", f.modifier));
    }
    let format = format_of(f.code).ok_or_else(|| format!("format {:?} is not taken", f.code))?;
    let size = dmabuf.size();
    let (width, height) = (
        u32::try_from(size.w).unwrap_or(0),
        u32::try_from(size.h).unwrap_or(0),
    );
    if width == 0 || height == 0 || width > max_side || height > max_side {
        return Err(format!("{width}x{height} is not a size the master shows"));
    }
    let offset = dmabuf.offsets().next().unwrap_or(0);
    if offset != 0 {
        return Err(format!(
            "plane offset {offset} (the plane must start at byte 0)"
        ));
    }
    let pitch = dmabuf.strides().next().unwrap_or(0) as usize;
    if pitch < format.pitch(width) {
        return Err(format!(
            "stride {pitch} does not hold a row of {width} pixels"
        ));
    }
    let desc = BufferDesc::with_pitch(width, height, format, pitch);
    let fd = dmabuf
        .handles()
        .next()
        .ok_or_else(|| "no plane".to_string())?;
    let have = fusionfb_sys::fd_size(fd).map_err(|e| format!("the dma-buf's size: {e}"))?;
    if have < desc.size {
        return Err(format!(
            "the dma-buf holds {have} bytes, {width}x{height} at stride {pitch} needs {}",
            desc.size
        ));
    }
    Ok(desc)
}

impl DmabufHandler for WaylandState {
    fn dmabuf_state(&mut self) -> &mut DmabufState {
        &mut self.dmabuf.0
    }

    fn dmabuf_imported(
        &mut self,
        _global: &DmabufGlobal,
        dmabuf: Dmabuf,
        notifier: ImportNotifier,
    ) {
        match describe(&dmabuf, super::MAX_SIDE) {
            Ok(desc) => {
                debug!(?desc, "wayland: dma-buf taken");
                let _ = notifier.successful::<WaylandState>();
            }
            Err(e) => {
                warn!("wayland: a client's dma-buf is refused: {e}");
                notifier.failed();
            }
        }
    }
}

delegate_dmabuf!(WaylandState);
