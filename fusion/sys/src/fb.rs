//! The Linux framebuffer device's ioctls (`/dev/fbN`, `<linux/fb.h>`), for the `fbdev`
//! display backend of `gfx-drivers`.
//!
//! Fusion itself knows nothing about pixels; these wrappers live here only because this
//! module is the project's one room for raw system calls and their `unsafe`. They are thin:
//! the structures exactly as the kernel lays them out, and one function per ioctl. What the
//! numbers mean (formats, modes, pan offsets) is worked out in `gfx_drivers::fbdev`.

use std::os::fd::BorrowedFd;

use rustix::ioctl::{ioctl, opcode, Getter, Setter, Updater};

/// `struct fb_bitfield`: where one colour channel sits in a pixel.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FbBitfield {
    /// Bit offset of the channel's least significant bit.
    pub offset: u32,
    /// Number of bits.
    pub length: u32,
    /// Non-zero when the most significant bit is on the right.
    pub msb_right: u32,
}

/// `struct fb_var_screeninfo`: the mode, the virtual (pannable) size and the pixel layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FbVarScreeninfo {
    /// Visible width in pixels.
    pub xres: u32,
    /// Visible height in pixels.
    pub yres: u32,
    /// Virtual width in pixels.
    pub xres_virtual: u32,
    /// Virtual height in pixels (2 × `yres` allows double buffering by panning).
    pub yres_virtual: u32,
    /// Visible area's left edge in the virtual area.
    pub xoffset: u32,
    /// Visible area's top edge in the virtual area.
    pub yoffset: u32,
    /// Bits per pixel.
    pub bits_per_pixel: u32,
    /// Non-zero for grayscale.
    pub grayscale: u32,
    /// Red channel.
    pub red: FbBitfield,
    /// Green channel.
    pub green: FbBitfield,
    /// Blue channel.
    pub blue: FbBitfield,
    /// Alpha channel.
    pub transp: FbBitfield,
    /// Non-zero for a non-standard pixel format.
    pub nonstd: u32,
    /// `FB_ACTIVATE_*`.
    pub activate: u32,
    /// Height of the picture in mm.
    pub height: u32,
    /// Width of the picture in mm.
    pub width: u32,
    /// Obsolete.
    pub accel_flags: u32,
    /// Pixel clock in picoseconds.
    pub pixclock: u32,
    /// Time from sync to picture, in pixel clocks.
    pub left_margin: u32,
    /// Time from picture to sync.
    pub right_margin: u32,
    /// Time from sync to picture, in lines.
    pub upper_margin: u32,
    /// Time from picture to sync, in lines.
    pub lower_margin: u32,
    /// Length of the horizontal sync.
    pub hsync_len: u32,
    /// Length of the vertical sync.
    pub vsync_len: u32,
    /// `FB_SYNC_*`.
    pub sync: u32,
    /// `FB_VMODE_*`.
    pub vmode: u32,
    /// Angle of counter-clockwise rotation.
    pub rotate: u32,
    /// Colour space for FOURCC-based modes.
    pub colorspace: u32,
    /// Reserved.
    pub reserved: [u32; 4],
}

/// `struct fb_fix_screeninfo`: what the mode cannot change (memory, line length, panning).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FbFixScreeninfo {
    /// Driver name, NUL-padded (`bochsdrmfb`, `simple`, …).
    pub id: [u8; 16],
    /// Physical start of the framebuffer memory.
    pub smem_start: std::ffi::c_ulong,
    /// Length of the framebuffer memory (what may be mapped).
    pub smem_len: u32,
    /// `FB_TYPE_*`.
    pub type_: u32,
    /// Interleave for interleaved planes.
    pub type_aux: u32,
    /// `FB_VISUAL_*`.
    pub visual: u32,
    /// Horizontal pan step, 0 when the hardware cannot pan horizontally.
    pub xpanstep: u16,
    /// Vertical pan step, 0 when the hardware cannot pan vertically.
    pub ypanstep: u16,
    /// Vertical wrap step, 0 without wrapping.
    pub ywrapstep: u16,
    /// Bytes from one line to the next.
    pub line_length: u32,
    /// Physical start of the MMIO area.
    pub mmio_start: std::ffi::c_ulong,
    /// Length of the MMIO area.
    pub mmio_len: u32,
    /// The accelerator.
    pub accel: u32,
    /// `FB_CAP_*`.
    pub capabilities: u16,
    /// Reserved.
    pub reserved: [u16; 2],
}

impl FbFixScreeninfo {
    /// The driver's name.
    pub fn id(&self) -> String {
        let end = self
            .id
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.id.len());
        String::from_utf8_lossy(&self.id[..end]).into_owned()
    }
}

/// `FB_ACTIVATE_NOW`: apply at once.
pub const FB_ACTIVATE_NOW: u32 = 0;
/// `FB_ACTIVATE_VBL`: apply at the next vertical blank.
pub const FB_ACTIVATE_VBL: u32 = 16;
/// `FB_VISUAL_TRUECOLOR`.
pub const FB_VISUAL_TRUECOLOR: u32 = 2;
/// `FB_TYPE_PACKED_PIXELS`.
pub const FB_TYPE_PACKED_PIXELS: u32 = 0;

const FBIOGET_VSCREENINFO: u32 = 0x4600;
const FBIOPUT_VSCREENINFO: u32 = 0x4601;
const FBIOGET_FSCREENINFO: u32 = 0x4602;
const FBIOPAN_DISPLAY: u32 = 0x4606;
const FBIOBLANK: u32 = 0x4611;
/// `FB_BLANK_UNBLANK`: the panel on.
const FB_BLANK_UNBLANK: usize = 0;
/// `FB_BLANK_POWERDOWN`: the panel off (sync and backlight off where the driver can).
const FB_BLANK_POWERDOWN: usize = 4;
const FBIO_WAITFORVSYNC: u32 = opcode::write::<u32>(b'F', 0x20) as u32;

/// `FBIOGET_VSCREENINFO`: the current mode and layout.
pub fn get_var(fd: BorrowedFd<'_>) -> std::io::Result<FbVarScreeninfo> {
    // SAFETY: the opcode reads a `struct fb_var_screeninfo`, which the type mirrors.
    Ok(unsafe {
        ioctl(
            fd,
            Getter::<{ FBIOGET_VSCREENINFO as _ }, FbVarScreeninfo>::new(),
        )?
    })
}

/// `FBIOPUT_VSCREENINFO`: asks for a mode or layout; the driver writes back what it chose
/// (which may differ from what was asked: check the result).
pub fn put_var(fd: BorrowedFd<'_>, var: &mut FbVarScreeninfo) -> std::io::Result<()> {
    // SAFETY: the opcode reads and writes a `struct fb_var_screeninfo`, which the type mirrors.
    unsafe { ioctl(fd, Updater::<{ FBIOPUT_VSCREENINFO as _ }, _>::new(var))? };
    Ok(())
}

/// `FBIOGET_FSCREENINFO`: memory size, line length, pan steps.
pub fn get_fix(fd: BorrowedFd<'_>) -> std::io::Result<FbFixScreeninfo> {
    // SAFETY: the opcode reads a `struct fb_fix_screeninfo`, which the type mirrors.
    Ok(unsafe {
        ioctl(
            fd,
            Getter::<{ FBIOGET_FSCREENINFO as _ }, FbFixScreeninfo>::new(),
        )?
    })
}

/// `FBIOPAN_DISPLAY`: shows the virtual area from `var.xoffset`/`var.yoffset` on
/// (`var.activate` may ask for the next vblank).
pub fn pan(fd: BorrowedFd<'_>, var: &FbVarScreeninfo) -> std::io::Result<()> {
    // SAFETY: the opcode reads a `struct fb_var_screeninfo` (the kernel copies it in).
    unsafe { ioctl(fd, Setter::<{ FBIOPAN_DISPLAY as _ }, _>::new(*var))? };
    Ok(())
}

/// `FBIOBLANK`: turns the panel off (`FB_BLANK_POWERDOWN`) or on (`FB_BLANK_UNBLANK`).
pub fn blank(fd: BorrowedFd<'_>, blank: bool) -> std::io::Result<()> {
    let level = if blank {
        FB_BLANK_POWERDOWN
    } else {
        FB_BLANK_UNBLANK
    };
    // SAFETY: FBIOBLANK takes its level, one of the FB_BLANK_* values, as the ioctl's
    // integer argument, by value.
    unsafe {
        let set = rustix::ioctl::IntegerSetter::<{ FBIOBLANK as _ }>::new_usize(level);
        ioctl(fd, set)?
    };
    Ok(())
}

/// `FBIO_WAITFORVSYNC` on CRTC 0: blocks until the next vertical blank. Many drivers do not
/// implement it (`ENOTTY`, `EINVAL`).
pub fn wait_for_vsync(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    // SAFETY: the opcode reads a `__u32` (the CRTC number).
    unsafe { ioctl(fd, Setter::<{ FBIO_WAITFORVSYNC as _ }, u32>::new(0))? };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_linux_fb_h() {
        assert_eq!(std::mem::size_of::<FbVarScreeninfo>(), 160);
        assert_eq!(std::mem::offset_of!(FbVarScreeninfo, pixclock), 100);
        assert_eq!(std::mem::offset_of!(FbVarScreeninfo, colorspace), 140);
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(std::mem::size_of::<FbFixScreeninfo>(), 80);
            assert_eq!(std::mem::offset_of!(FbFixScreeninfo, line_length), 48);
            assert_eq!(std::mem::offset_of!(FbFixScreeninfo, capabilities), 72);
        }
        #[cfg(target_pointer_width = "32")]
        {
            assert_eq!(std::mem::size_of::<FbFixScreeninfo>(), 68);
            assert_eq!(std::mem::offset_of!(FbFixScreeninfo, line_length), 40);
        }
        assert_eq!(FBIO_WAITFORVSYNC, 0x4004_4620);
    }

    #[test]
    fn ioctls_on_a_non_framebuffer_fail_cleanly() {
        let fd = crate::memfd_create("not-a-framebuffer", 4096).unwrap();
        use std::os::fd::AsFd;
        assert!(get_var(fd.as_fd()).is_err());
        assert!(get_fix(fd.as_fd()).is_err());
    }

    #[test]
    fn mapping_at_an_unaligned_offset() {
        use std::os::fd::AsFd;
        let page = crate::page_size();
        let fd = crate::memfd_create("fb-like", 3 * page).unwrap();
        let whole = crate::Mapping::new(fd.as_fd(), 3 * page, true).unwrap();
        let at = page + 100;
        assert!(whole.write(at, b"pixels"));
        let part = crate::Mapping::new_at(fd.as_fd(), at as u64, page, true).unwrap();
        let mut got = [0u8; 6];
        assert!(part.read(0, &mut got));
        assert_eq!(&got, b"pixels");
        assert!(part.write(page - 1, b"!"));
        assert!(!part.write(page, b"!"));
        let mut last = [0u8];
        assert!(whole.read(at + page - 1, &mut last));
        assert_eq!(&last, b"!");
    }
}
