//! The probe's `zwp_linux_dmabuf_v1` side: buffers from a DRM card's dumb buffers exported
//! as dma-bufs (PRIME), as a client that allocates for the display does, or from a memfd
//! where no card exists; and what the compositor says of its formats (feedback).

use std::io::Write as _;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use wayland_client::protocol::wl_buffer;
use wayland_client::{Connection, Dispatch, QueueHandle};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1 as params_v1, zwp_linux_dmabuf_feedback_v1 as feedback_v1,
    zwp_linux_dmabuf_v1 as dmabuf_v1,
};

use super::{say, Probe, COLOUR};

/// `DRM_FORMAT_XRGB8888`.
const XRGB8888: u32 = u32::from_le_bytes(*b"XR24");

/// Where the probe's dma-bufs come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Dumb buffers of this DRM card, exported as dma-bufs.
    Device(PathBuf),
    /// A memfd (the protocol path where no card exists).
    Memfd,
    /// A memfd one row too short: the compositor must refuse it (`out_of_bounds`).
    Short,
    /// A plane 4096 bytes into its memfd: fusionfb takes planes from byte 0 only (`failed`).
    Offset,
}

impl Source {
    /// `memfd`, `short`, or a card's path.
    pub fn parse(s: &str) -> Source {
        match s {
            "memfd" => Source::Memfd,
            "short" => Source::Short,
            "offset" => Source::Offset,
            path => Source::Device(path.into()),
        }
    }
}

/// What the compositor said of dma-bufs.
#[derive(Debug, Default)]
pub struct Seen {
    /// The feedback's format table (format, modifier).
    table: Vec<(u32, u64)>,
    /// The feedback's main device.
    main_device: Option<u64>,
    /// Formats offered with the linear modifier (version 3's `modifier` events, or the
    /// feedback's tranche).
    linear: Vec<u32>,
    /// The answer to a `create`: whether the buffer was made.
    pub created: Option<bool>,
}

impl Dispatch<dmabuf_v1::ZwpLinuxDmabufV1, ()> for Probe {
    fn event(
        probe: &mut Self,
        _: &dmabuf_v1::ZwpLinuxDmabufV1,
        event: dmabuf_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let dmabuf_v1::Event::Modifier {
            format,
            modifier_hi: 0,
            modifier_lo: 0,
        } = event
        {
            probe.dmabuf.linear.push(format);
        }
    }
}

impl Dispatch<feedback_v1::ZwpLinuxDmabufFeedbackV1, ()> for Probe {
    fn event(
        probe: &mut Self,
        _: &feedback_v1::ZwpLinuxDmabufFeedbackV1,
        event: feedback_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let seen = &mut probe.dmabuf;
        match event {
            feedback_v1::Event::FormatTable { fd, size } => {
                let mut bytes = vec![0u8; size as usize];
                if rustix::io::pread(&fd, &mut bytes, 0).is_ok() {
                    seen.table = bytes
                        .chunks_exact(16)
                        .map(|c| {
                            let f = u32::from_le_bytes(c[0..4].try_into().unwrap_or_default());
                            let m = u64::from_le_bytes(c[8..16].try_into().unwrap_or_default());
                            (f, m)
                        })
                        .collect();
                }
            }
            feedback_v1::Event::MainDevice { device } => {
                seen.main_device = device
                    .get(..8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
            }
            feedback_v1::Event::TrancheFormats { indices } => {
                for i in indices.chunks_exact(2) {
                    let i = u16::from_le_bytes([i[0], i[1]]) as usize;
                    if let Some(&(f, 0)) = seen.table.get(i) {
                        seen.linear.push(f);
                    }
                }
            }
            feedback_v1::Event::Done => {
                let dev = seen.main_device.unwrap_or(0);
                say(&format!(
                    "feedback main-device {}:{} xrgb8888-linear {}",
                    rustix::fs::major(dev),
                    rustix::fs::minor(dev),
                    if seen.linear.contains(&XRGB8888) {
                        "yes"
                    } else {
                        "no"
                    }
                ));
            }
            _ => {}
        }
    }
}

impl Dispatch<params_v1::ZwpLinuxBufferParamsV1, ()> for Probe {
    fn event(
        probe: &mut Self,
        _: &params_v1::ZwpLinuxBufferParamsV1,
        event: params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            params_v1::Event::Created { .. } => probe.dmabuf.created = Some(true),
            params_v1::Event::Failed => probe.dmabuf.created = Some(false),
            _ => {}
        }
    }
}

wayland_client::event_created_child!(Probe, params_v1::ZwpLinuxBufferParamsV1, [
    params_v1::EVT_CREATED_OPCODE => (wl_buffer::WlBuffer, ()),
]);

/// A `w`×`h` XRGB8888 dma-buf of [`COLOUR`] from `source`, its stride and its offset.
fn allocate(source: &Source, w: u32, h: u32) -> std::io::Result<(OwnedFd, u32, u32)> {
    match source {
        Source::Device(path) => {
            let card = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            let dumb = drm_ffi::mode::dumbbuffer::create(card.as_fd(), w, h, 32, 0)?;
            let flags = (rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::RDWR).bits();
            let prime = drm_ffi::gem::handle_to_fd(card.as_fd(), dumb.handle, flags)?;
            // SAFETY: the kernel just made this fd for us (`DRM_IOCTL_PRIME_HANDLE_TO_FD`);
            // nothing else owns it. The dma-buf keeps the dumb buffer alive after the card
            // is closed.
            #[allow(unsafe_code)]
            let fd = unsafe { OwnedFd::from_raw_fd(prime.fd) };
            let desc = gfx_drivers::BufferDesc::with_pitch(
                w,
                h,
                gfx_drivers::Format::Xrgb8888,
                dumb.pitch as usize,
            );
            let map = gfx_drivers::Buffer::import(fd.try_clone()?, desc, true)
                .map_err(std::io::Error::other)?;
            map.fill(0xff00_0000 | COLOUR)
                .map_err(std::io::Error::other)?;
            Ok((fd, dumb.pitch, 0))
        }
        Source::Memfd | Source::Short | Source::Offset => {
            let rows = if matches!(source, Source::Short) {
                h - 1
            } else {
                h
            };
            let offset = if matches!(source, Source::Offset) {
                4096
            } else {
                0
            };
            let fd =
                rustix::fs::memfd_create("fusionfb-probe-dmabuf", rustix::fs::MemfdFlags::CLOEXEC)?;
            let mut file = std::fs::File::from(fd);
            file.write_all(&vec![0; offset as usize])?;
            let row = COLOUR.to_le_bytes().repeat(w as usize);
            for _ in 0..rows {
                file.write_all(&row)?;
            }
            Ok((file.into(), w * 4, offset))
        }
    }
}

/// Sends a `w`×`h` dma-buf from `source` with `create_immed`.
pub fn buffer(
    global: &dmabuf_v1::ZwpLinuxDmabufV1,
    source: &Source,
    qh: &QueueHandle<Probe>,
    w: u32,
    h: u32,
) -> std::io::Result<wl_buffer::WlBuffer> {
    let (fd, stride, offset) = allocate(source, w, h)?;
    let params = global.create_params(qh, ());
    params.add(fd.as_fd(), 0, offset, stride, 0, 0);
    let b = params.create_immed(
        w as i32,
        h as i32,
        XRGB8888,
        params_v1::Flags::empty(),
        qh,
        (),
    );
    params.destroy();
    Ok(b)
}

/// Sends a `w`×`h` dma-buf from `source` with `create` (the answer comes as an event).
pub fn ask(
    global: &dmabuf_v1::ZwpLinuxDmabufV1,
    source: &Source,
    qh: &QueueHandle<Probe>,
    w: u32,
    h: u32,
) -> std::io::Result<()> {
    let (fd, stride, offset) = allocate(source, w, h)?;
    let params = global.create_params(qh, ());
    params.add(fd.as_fd(), 0, offset, stride, 0, 0);
    params.create(w as i32, h as i32, XRGB8888, params_v1::Flags::empty());
    Ok(())
}
