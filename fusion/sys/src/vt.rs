//! The Linux virtual terminal's ioctls (`/dev/ttyN`, `<linux/vt.h>` and `<linux/kd.h>`), for
//! the display backends of `gfx-drivers` when they own the console themselves (no seat
//! manager): graphics mode so the text console stops drawing over the display, the keyboard
//! switched off so keys typed for the master do not reach a shell on the console, and
//! process-controlled VT switching so a switch away pauses the display instead of fighting
//! over it.
//!
//! Like [`super::fb`], these wrappers live here only because this module is the project's one
//! room for raw system calls and their `unsafe`. What to do with them is
//! `gfx_drivers::vt`'s business.

use std::os::fd::BorrowedFd;

use rustix::ioctl::{ioctl, Getter, IntegerSetter, Setter};

/// The major device number of virtual terminals (`/dev/tty0`…`/dev/tty63`).
pub const TTY_MAJOR: u32 = 4;
/// The highest virtual terminal number (`MAX_NR_CONSOLES`).
pub const MAX_VT: u32 = 63;

/// `KD_TEXT`: the console draws text.
pub const KD_TEXT: i32 = 0;
/// `KD_GRAPHICS`: the console leaves the display alone.
pub const KD_GRAPHICS: i32 = 1;
/// `K_OFF`: the console's keyboard delivers nothing to the tty.
pub const K_OFF: i32 = 4;
/// `K_XLATE`: the default keyboard mode (translated characters).
pub const K_XLATE: i32 = 1;

/// `VT_AUTO`: the kernel switches VTs on its own.
pub const VT_AUTO: u8 = 0;
/// `VT_PROCESS`: the owning process is signalled and must acknowledge each switch.
pub const VT_PROCESS: u8 = 1;
/// `VT_ACKACQ`: the argument of `VT_RELDISP` acknowledging an acquisition.
pub const VT_ACKACQ: usize = 2;

/// `struct vt_mode`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VtMode {
    /// [`VT_AUTO`] or [`VT_PROCESS`].
    pub mode: u8,
    /// Unused by the kernel (`waitv`).
    pub waitv: u8,
    /// The signal sent when another VT wants the display.
    pub relsig: i16,
    /// The signal sent when the display comes back.
    pub acqsig: i16,
    /// Unused (`frsig`).
    pub frsig: i16,
}

/// `struct vt_stat`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VtStat {
    /// The active VT's number.
    pub v_active: u16,
    /// Signal to send (unused).
    pub v_signal: u16,
    /// A bit mask of the VTs in use.
    pub v_state: u16,
}

const VT_GETMODE: u32 = 0x5601;
const VT_SETMODE: u32 = 0x5602;
const VT_GETSTATE: u32 = 0x5603;
const VT_RELDISP: u32 = 0x5605;
const KDSETMODE: u32 = 0x4B3A;
const KDGETMODE: u32 = 0x4B3B;
const KDGKBMODE: u32 = 0x4B44;
const KDSKBMODE: u32 = 0x4B45;

/// `VT_GETSTATE`: the active VT (ask it of `/dev/tty0` or any VT).
pub fn get_state(fd: BorrowedFd<'_>) -> std::io::Result<VtStat> {
    // SAFETY: the opcode writes a `struct vt_stat`, which the type mirrors.
    Ok(unsafe { ioctl(fd, Getter::<{ VT_GETSTATE as _ }, VtStat>::new())? })
}

/// `VT_GETMODE`: how switches away from this VT are handled.
pub fn get_mode(fd: BorrowedFd<'_>) -> std::io::Result<VtMode> {
    // SAFETY: the opcode writes a `struct vt_mode`, which the type mirrors.
    Ok(unsafe { ioctl(fd, Getter::<{ VT_GETMODE as _ }, VtMode>::new())? })
}

/// `VT_SETMODE`: sets how switches away from this VT are handled.
pub fn set_mode(fd: BorrowedFd<'_>, mode: &VtMode) -> std::io::Result<()> {
    // SAFETY: the opcode reads a `struct vt_mode`, which the type mirrors.
    unsafe { ioctl(fd, Setter::<{ VT_SETMODE as _ }, VtMode>::new(*mode))? };
    Ok(())
}

/// `VT_RELDISP`: `1` lets a pending switch away go ahead, [`VT_ACKACQ`] acknowledges that
/// the display came back.
pub fn release_display(fd: BorrowedFd<'_>, how: usize) -> std::io::Result<()> {
    // SAFETY: the opcode takes its argument by value.
    unsafe { ioctl(fd, IntegerSetter::<{ VT_RELDISP as _ }>::new_usize(how))? };
    Ok(())
}

/// `KDGETMODE`: [`KD_TEXT`] or [`KD_GRAPHICS`].
pub fn get_kd_mode(fd: BorrowedFd<'_>) -> std::io::Result<i32> {
    // SAFETY: the opcode writes an `int`.
    Ok(unsafe { ioctl(fd, Getter::<{ KDGETMODE as _ }, i32>::new())? })
}

/// `KDSETMODE`: [`KD_TEXT`] or [`KD_GRAPHICS`].
pub fn set_kd_mode(fd: BorrowedFd<'_>, mode: i32) -> std::io::Result<()> {
    // SAFETY: the opcode takes its argument by value.
    unsafe {
        ioctl(
            fd,
            IntegerSetter::<{ KDSETMODE as _ }>::new_usize(mode as usize),
        )?
    };
    Ok(())
}

/// `KDGKBMODE`: the keyboard mode (`K_RAW`, [`K_XLATE`], `K_MEDIUMRAW`, `K_UNICODE`,
/// [`K_OFF`]).
pub fn get_kb_mode(fd: BorrowedFd<'_>) -> std::io::Result<i32> {
    // SAFETY: the opcode writes an `int` (a `long` on some architectures, but the kernel
    // writes it with `put_user` of an `int`).
    Ok(unsafe { ioctl(fd, Getter::<{ KDGKBMODE as _ }, i32>::new())? })
}

/// `KDSKBMODE`: sets the keyboard mode.
pub fn set_kb_mode(fd: BorrowedFd<'_>, mode: i32) -> std::io::Result<()> {
    // SAFETY: the opcode takes its argument by value.
    unsafe {
        ioctl(
            fd,
            IntegerSetter::<{ KDSKBMODE as _ }>::new_usize(mode as usize),
        )?
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_the_kernels_sizes() {
        assert_eq!(std::mem::size_of::<VtMode>(), 8);
        assert_eq!(std::mem::size_of::<VtStat>(), 6);
    }

    #[test]
    fn ioctls_on_a_non_terminal_fail_cleanly() {
        let f = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        let fd = f.as_fd();
        assert!(get_state(fd).is_err());
        assert!(get_mode(fd).is_err());
        assert!(get_kd_mode(fd).is_err());
        assert!(get_kb_mode(fd).is_err());
        assert!(set_kd_mode(fd, KD_GRAPHICS).is_err());
    }
}
