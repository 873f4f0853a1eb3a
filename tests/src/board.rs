//! # The emulated board
//!
//! fusionfb is the display server of a board: a real kernel, a real DRM/KMS driver, a real
//! touchscreen node, udev and libinput. None of that exists on a development machine or in CI,
//! so these tests boot one: QEMU (software emulation, no KVM) runs Debian's kernel with an
//! initramfs that `tests/board/prepare.sh` builds once into a cache (`/work/shared/BOARD.md`
//! lists the facts it rests on; `tests/board/README.md` how to use it by hand).
//!
//! The pieces of a [`Board`]:
//! - **the guest**: Debian bookworm minbase with udev, libinput, libdrm, evemu and the kernel
//!   modules for the display ([`Gpu::Bochs`], QEMU's standard VGA, or [`Gpu::VirtioGpu`]) and
//!   input (evdev, uinput). Its `/init` loads the driver the host named on the kernel command
//!   line, starts udev and serves an **agent** on its second serial port.
//! - **the binaries**: the workspace's release binaries (built by [`Board::boot`] with
//!   `cargo build --release --bins` when stale) and `configs/*.toml`, packed per run into a
//!   second initramfs archive appended to the cached one, so new binaries never rebuild the
//!   root file system. In the guest they are in `/opt/fusionfb/bin` (on `PATH`) and
//!   `/opt/fusionfb/configs`. Or, with [`Install::Package`], only the Debian package, which
//!   the test installs with `dpkg -i` as a board's owner would.
//! - **the agent**: [`Board::run`] sends one shell command, the guest runs it under a timeout
//!   and answers with its status, stdout and stderr (length-framed, so any bytes come back
//!   exactly). [`Board::spawn`] starts a background process whose output goes to a guest file.
//! - **fingers**: [`Board::add_touchscreen`] makes a uinput multi-touch touchscreen that udev
//!   tags for libinput, and [`Touchscreen::frames`] touches it ([`touch`]);
//!   [`Board::add_keyboard`] and [`Board::add_mouse`] make a keyboard and a mouse.
//! - **the glass**: [`Board::screendump`] asks QEMU (QMP `screendump`) for what the display
//!   controller scans out — the board's real output, independent of anything fusionfb says
//!   about itself. A virtio-gpu card can have several outputs ([`BoardSpec::heads`]);
//!   [`Board::screendump_head`] shows any of them.
//!
//! Boards boot one at a time on a machine (a lock in the cache directory; software emulation
//! of two guests on a small machine only makes both slow). Dropping a board powers it off. A
//! board dropped during a panic first saves a screendump and its console log under
//! `target/board-artifacts/`.
//!
//! Skipping: with `FUSIONFB_BOARD=0`, or when `qemu-system-x86_64` is missing and cannot be
//! installed, [`Board::boot`] returns a [`BoardErrorKind::Skipped`] error and
//! [`Board::boot_or_skip`] prints `SKIPPED: …` on the real stderr (past the test harness's
//! capture) and returns `None`. Every other problem is an error whose message ends with the
//! tail of the guest's console and of the agent's output.
//!
//! Environment: `FUSIONFB_BOARD_CACHE` (where prepare.sh caches), `FUSIONFB_BOARD_BIN_DIR`
//! (take the guest binaries from this directory instead of building them),
//! `FUSIONFB_BOARD_DEB` (the package for [`Install::Package`] tests, instead of building it),
//! `FUSIONFB_BOARD_KEEP=1` (keep the run directory with the console log, QEMU's log and the
//! screendumps).
//!
//! The code: this file holds what both halves share (the board's description, errors, the
//! glass's [`Image`]); [`initramfs`] builds what the guest boots (the cached root file system,
//! the guest binaries and the archive they go in), [`qemu`] runs the machine ([`Board`]: boot,
//! the agent on the serial port, screendumps over QMP, the console), [`touch`] and [`master`]
//! drive what runs on it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod initramfs;
pub mod master;
pub mod qemu;
pub mod touch;
pub use initramfs::{guest_binaries, guest_package, prepare};
pub use qemu::Board;
pub use touch::{Contact, Keyboard, Mouse, Touchscreen};

/// The display controller of the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gpu {
    /// QEMU's standard VGA, driven by the kernel's `bochs` DRM driver: KMS with dumb buffers,
    /// one primary plane, fbdev emulation on `/dev/fb0`; no PRIME export.
    Bochs,
    /// `virtio-gpu-pci` (driver `virtio-gpu`): `card0` and `renderD128`, a primary and a cursor
    /// plane, PRIME export; CPU writes show after a page flip or DIRTYFB.
    VirtioGpu,
}

impl Gpu {
    /// Its name on the guest's kernel command line (`fusionfb.gpu=`).
    fn cmdline(self) -> &'static str {
        match self {
            Gpu::Bochs => "bochs",
            Gpu::VirtioGpu => "virtio",
        }
    }

    /// QEMU's display arguments for a card with `heads` outputs. The virtio-gpu device has
    /// the id [`GPU_ID`], which [`Board::screendump_head`] names.
    fn qemu_args(self, heads: u32) -> Vec<String> {
        match self {
            Gpu::Bochs => vec!["-vga".into(), "std".into()],
            Gpu::VirtioGpu => vec![
                "-vga".into(),
                "none".into(),
                "-device".into(),
                format!("virtio-gpu-pci,id={GPU_ID},max_outputs={heads}"),
            ],
        }
    }
}

/// The QEMU device id of a [`Gpu::VirtioGpu`] card (QMP `screendump`'s `device`).
pub const GPU_ID: &str = "gpu";

/// The EDID the guest kernel gives the heads after the first (`drm.edid_firmware`, one of
/// the kernel's built-in EDIDs), and the mode it makes them prefer.
pub const EXTRA_HEAD_EDID: &str = "edid/1024x768.bin";
/// The size of every head after the first (see [`BoardSpec::heads`]).
pub const EXTRA_HEAD_SIZE: (u32, u32) = (1024, 768);
/// The size of the first head: QEMU's `xres`×`yres` for virtio-gpu, bochs's preferred mode.
pub const FIRST_HEAD_SIZE: (u32, u32) = (1280, 800);

/// The kernel command line words that make heads `2..=heads` of a virtio-gpu card usable
/// without a QEMU display (see [`BoardSpec::heads`]): `video=Virtual-N:e` forces connector
/// `Virtual-N` connected, and `drm.edid_firmware=Virtual-N:`[`EXTRA_HEAD_EDID`] gives it a
/// preferred mode that the driver accepts.
pub fn extra_heads_cmdline(heads: u32) -> String {
    if heads < 2 {
        return String::new();
    }
    let connectors: Vec<String> = (2..=heads).map(|n| format!("Virtual-{n}")).collect();
    let forced: Vec<String> = connectors.iter().map(|c| format!("video={c}:e")).collect();
    let edids: Vec<String> = connectors
        .iter()
        .map(|c| format!("{c}:{EXTRA_HEAD_EDID}"))
        .collect();
    format!("{} drm.edid_firmware={}", forced.join(" "), edids.join(","))
}

/// What board to boot.
#[derive(Clone, Debug)]
pub struct BoardSpec {
    /// The display controller.
    pub gpu: Gpu,
    /// How many outputs ("heads") the card has: connectors `Virtual-1` … `Virtual-N`. More
    /// than one needs [`Gpu::VirtioGpu`] (`virtio-gpu-pci,max_outputs=N`; bochs has one).
    ///
    /// What that takes with QEMU 7.2 and `-display none`: QEMU reports only head 1 as
    /// enabled (it enables another head only when a display UI sets its size), so the guest's
    /// `Virtual-2` would read `disconnected`. The harness therefore adds
    /// [`extra_heads_cmdline`] to the kernel command line: `video=Virtual-N:e` forces the
    /// connector on, and since virtio-gpu drops a preferred mode that does not match the size
    /// QEMU reports for the head (0×0 here) unless it is 1024×768, and QEMU's own EDID prefers
    /// 1280×800 (leaving 5120×2160 as the first mode), the kernel's built-in
    /// [`EXTRA_HEAD_EDID`] replaces that EDID. So head 1 is [`FIRST_HEAD_SIZE`] (1280×800)
    /// and every other head [`EXTRA_HEAD_SIZE`] (1024×768), and QMP `screendump` with
    /// `device` [`GPU_ID`] and `head` N-1 shows each ([`Board::screendump_head`]).
    pub heads: u32,
    /// Guest memory; the root file system lives in it (about 250 MB unpacked).
    pub memory_mb: u32,
    /// Virtual CPUs (QEMU runs them on host threads).
    pub cpus: u32,
    /// How long booting may take until the agent answers (software emulation on a busy
    /// machine is slow: about 25 s on an idle 2-core machine).
    pub boot_timeout: Duration,
    /// Extra kernel command line words.
    pub append: String,
    /// How fusionfb gets onto the board.
    pub install: Install,
}

/// How fusionfb gets onto the board, on top of the cached root file system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Install {
    /// The workspace's binaries ([`guest_binaries`]) in `/opt/fusionfb/bin`, on `PATH`, and
    /// `configs/*.toml` in `/opt/fusionfb/configs`.
    #[default]
    Binaries,
    /// Only this Debian package (`scripts/deb.sh`), as `/opt/fusionfb/<its file name>`, for
    /// the test to install with `dpkg -i`: no binaries and no configs besides it.
    Package(PathBuf),
}

impl BoardSpec {
    /// A board with `gpu` and the defaults for the rest.
    pub fn new(gpu: Gpu) -> BoardSpec {
        BoardSpec {
            gpu,
            ..BoardSpec::default()
        }
    }

    /// A virtio-gpu board whose card has `heads` outputs (see [`BoardSpec::heads`]).
    pub fn heads(heads: u32) -> BoardSpec {
        BoardSpec {
            heads,
            ..BoardSpec::new(Gpu::VirtioGpu)
        }
    }
}

impl Default for BoardSpec {
    fn default() -> BoardSpec {
        BoardSpec {
            gpu: Gpu::Bochs,
            heads: 1,
            memory_mb: 1024,
            cpus: 1,
            boot_timeout: Duration::from_secs(240),
            append: String::new(),
            install: Install::Binaries,
        }
    }
}

/// What went wrong, in kinds a test can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardErrorKind {
    /// No board here (`FUSIONFB_BOARD=0`, or no QEMU); the test should not run.
    Skipped,
    /// `tests/board/prepare.sh` failed.
    Prepare,
    /// The guest binaries could not be built or found.
    Binaries,
    /// QEMU did not start, died, or the guest did not come up.
    Boot,
    /// The agent connection broke or answered nonsense.
    Agent,
    /// A command or a wait ran out of time.
    Timeout,
    /// QMP or the screendump file failed.
    Screendump,
}

/// A board error: its kind and a message that, once the board is up, ends with the tail of the
/// console log and of the agent's output.
#[derive(Debug)]
pub struct BoardError {
    /// What kind of failure.
    pub kind: BoardErrorKind,
    /// What happened, with context.
    pub message: String,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "board {:?} error: {}", self.kind, self.message)
    }
}

impl std::error::Error for BoardError {}

fn err(kind: BoardErrorKind, message: impl Into<String>) -> BoardError {
    BoardError {
        kind,
        message: message.into(),
    }
}

/// The result of one command run by the agent.
#[derive(Clone, Debug)]
pub struct Output {
    /// Exit status (124 when the agent's timeout ended it, 126 when it could not be decoded).
    pub status: i32,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A process started in the guest's background by [`Board::spawn`].
#[derive(Clone, Debug)]
pub struct Background {
    /// Its process id in the guest.
    pub pid: u32,
    /// The guest file that receives its stdout and stderr.
    pub log: String,
    /// The command it runs.
    pub cmd: String,
}

/// A picture of the glass: 8-bit RGB, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    /// Parses a binary PPM (`P6`, maxval 255), which QEMU's `screendump` writes.
    pub fn from_ppm(data: &[u8]) -> Result<Image, String> {
        let mut pos = 0;
        let mut fields = Vec::new();
        while fields.len() < 4 {
            while pos < data.len() && data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if data.get(pos) == Some(&b'#') {
                while pos < data.len() && data[pos] != b'\n' {
                    pos += 1;
                }
                continue;
            }
            let start = pos;
            while pos < data.len() && !data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if start == pos {
                return Err("PPM header ends early".into());
            }
            fields.push(String::from_utf8_lossy(&data[start..pos]).into_owned());
        }
        if fields[0] != "P6" {
            return Err(format!("not a binary PPM (magic {:?})", fields[0]));
        }
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("bad PPM number {s:?}"))
        };
        let (width, height, max) = (
            number(&fields[1])?,
            number(&fields[2])?,
            number(&fields[3])?,
        );
        if max != 255 {
            return Err(format!("PPM maxval {max}, only 255 is read"));
        }
        let body = &data[(pos + 1).min(data.len())..];
        let len = width as usize * height as usize * 3;
        if body.len() < len {
            return Err(format!(
                "PPM {width}x{height} needs {len} bytes of pixels, has {}",
                body.len()
            ));
        }
        Ok(Image {
            width,
            height,
            rgb: body[..len].to_vec(),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The colour at (`x`, `y`) as `[r, g, b]`; panics outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{}",
            self.width,
            self.height
        );
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// How many pixels satisfy `pred`.
    pub fn count(&self, pred: impl Fn([u8; 3]) -> bool) -> usize {
        self.rgb
            .chunks_exact(3)
            .filter(|p| pred([p[0], p[1], p[2]]))
            .count()
    }

    /// Writes it as a PNG file (for failure artefacts and reports).
    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut enc = png::Encoder::new(file, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .and_then(|mut w| w.write_image_data(&self.rgb))
            .map_err(std::io::Error::other)
    }
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// Where failing board tests leave screendumps and console logs: `board-artifacts/` in the
/// target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("board-artifacts")
}

/// Writes a line to the process's real stderr, past the test harness's output capture, so
/// that progress and skips are seen.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Quotes `s` as one word for the guest's `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_is_parsed_with_comments_and_rejects_short_data() {
        let mut ppm = b"P6\n# made by hand\n2 1\n255\n".to_vec();
        ppm.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let img = Image::from_ppm(&ppm).unwrap();
        assert_eq!((img.width(), img.height()), (2, 1));
        assert_eq!(img.pixel(1, 0), [4, 5, 6]);
        assert_eq!(img.count(|p| p[0] < 3), 1);
        assert!(Image::from_ppm(&ppm[..ppm.len() - 1]).is_err());
        assert!(Image::from_ppm(b"P3\n1 1\n255\n1 2 3").is_err());
    }

    #[test]
    fn extra_heads_are_forced_on_with_a_1024x768_edid() {
        assert_eq!(extra_heads_cmdline(1), "");
        assert_eq!(
            extra_heads_cmdline(3),
            "video=Virtual-2:e video=Virtual-3:e \
             drm.edid_firmware=Virtual-2:edid/1024x768.bin,Virtual-3:edid/1024x768.bin"
        );
    }

    #[test]
    fn shell_quote_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
