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
//!   `/opt/fusionfb/configs`.
//! - **the agent**: [`Board::run`] sends one shell command, the guest runs it under a timeout
//!   and answers with its status, stdout and stderr (length-framed, so any bytes come back
//!   exactly). [`Board::spawn`] starts a background process whose output goes to a guest file.
//! - **fingers**: [`Board::add_touchscreen`] makes a uinput multi-touch touchscreen that udev
//!   tags for libinput, and [`Touchscreen::frames`] touches it ([`touch`]).
//! - **the glass**: [`Board::screendump`] asks QEMU (QMP `screendump`) for what the display
//!   controller scans out — the board's real output, independent of anything fusionfb says
//!   about itself.
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
//! `FUSIONFB_BOARD_KEEP=1` (keep the run directory with the console log, QEMU's log and the
//! screendumps).

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod master;
pub mod touch;
pub use touch::{Contact, Keyboard, Touchscreen};

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

    fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Gpu::Bochs => &["-vga", "std"],
            Gpu::VirtioGpu => &["-vga", "none", "-device", "virtio-gpu-pci"],
        }
    }
}

/// What board to boot.
#[derive(Clone, Debug)]
pub struct BoardSpec {
    /// The display controller.
    pub gpu: Gpu,
    /// Guest memory; the root file system lives in it (about 250 MB unpacked).
    pub memory_mb: u32,
    /// Virtual CPUs (QEMU runs them on host threads).
    pub cpus: u32,
    /// How long booting may take until the agent answers (software emulation on a busy
    /// machine is slow: about 25 s on an idle 2-core machine).
    pub boot_timeout: Duration,
    /// Extra kernel command line words.
    pub append: String,
}

impl BoardSpec {
    /// A board with `gpu` and the defaults for the rest.
    pub fn new(gpu: Gpu) -> BoardSpec {
        BoardSpec {
            gpu,
            ..BoardSpec::default()
        }
    }
}

impl Default for BoardSpec {
    fn default() -> BoardSpec {
        BoardSpec {
            gpu: Gpu::Bochs,
            memory_mb: 1024,
            cpus: 1,
            boot_timeout: Duration::from_secs(240),
            append: String::new(),
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

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs `tests/board/prepare.sh` once per process (it is quick when its cache is filled) and
/// returns the directory with `vmlinuz` and `rootfs.cpio.gz`. Its progress goes to stderr.
pub fn prepare() -> Result<PathBuf, BoardError> {
    static PREPARED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PREPARED
        .get_or_init(|| {
            let script = workspace_root().join("tests/board/prepare.sh");
            let out = Command::new(&script)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}); its messages are above",
                    script.display(),
                    out.status
                ));
            }
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let dir = PathBuf::from(dir.lines().last().unwrap_or_default());
            if !dir.join("rootfs.cpio.gz").is_file() || !dir.join("vmlinuz").is_file() {
                return Err(format!(
                    "prepare.sh named {} but it has no vmlinuz and rootfs.cpio.gz",
                    dir.display()
                ));
            }
            Ok(dir)
        })
        .clone()
        .map_err(|m| err(BoardErrorKind::Prepare, m))
}

/// The binaries that go into the guest: every executable in `FUSIONFB_BOARD_BIN_DIR`, or else
/// the workspace's binaries from `cargo build --release --bins` (run once per process; a no-op
/// when they are up to date; it locks the release directory only, so it runs fine from inside
/// `cargo test`).
pub fn guest_binaries() -> Result<Vec<PathBuf>, BoardError> {
    static BINS: OnceLock<Result<Vec<PathBuf>, String>> = OnceLock::new();
    BINS.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FUSIONFB_BOARD_BIN_DIR") {
            return executables_in(Path::new(&dir));
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        note("board: cargo build --release --bins (the guest's binaries)");
        let out = Command::new(&cargo)
            .args([
                "build",
                "--release",
                "--bins",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
        if !out.status.success() {
            return Err(format!(
                "`cargo build --release --bins` failed ({}); build the binaries by hand or \
                 set FUSIONFB_BOARD_BIN_DIR to a directory holding them",
                out.status
            ));
        }
        let mut bins = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let is_bin = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if let (true, Some(exe)) = (is_bin, msg["executable"].as_str()) {
                bins.push(PathBuf::from(exe));
            }
        }
        if bins.is_empty() {
            return Err("`cargo build --release --bins` reported no binaries".into());
        }
        bins.sort();
        bins.dedup();
        Ok(bins)
    })
    .clone()
    .map_err(|m| err(BoardErrorKind::Binaries, m))
}

fn executables_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut bins = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let meta = std::fs::metadata(&path).map_err(|e| e.to_string())?;
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            bins.push(path);
        }
    }
    if bins.is_empty() {
        return Err(format!("no executables in {}", dir.display()));
    }
    bins.sort();
    Ok(bins)
}

/// A newc cpio archive writer: enough for the appended initramfs (directories and files).
struct Cpio<W: Write> {
    out: W,
    ino: u32,
}

impl<W: Write> Cpio<W> {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            namesize as u32,
            0,
        ];
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.out
            .write_all(&[0; 3][..(4 - (110 + namesize) % 4) % 4])?;
        self.out.write_all(data)?;
        self.out.write_all(&[0; 3][..(4 - data.len() % 4) % 4])
    }

    fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040755, &[])
    }

    fn file(&mut self, name: &str, mode: u32, src: &Path) -> std::io::Result<()> {
        self.entry(name, 0o100000 | mode, &std::fs::read(src)?)
    }

    fn finish(mut self) -> std::io::Result<W> {
        self.entry("TRAILER!!!", 0, &[])?;
        Ok(self.out)
    }
}

/// Copies `bins` into `dir` without their debug information (`strip --strip-debug`; plain
/// copies when `strip` is missing): the guest keeps its files in RAM, and debug builds are
/// several times larger than what runs.
fn stripped(bins: &[PathBuf], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for bin in bins {
        let dest = dir.join(bin.file_name().unwrap_or_default());
        let strip = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&dest)
            .arg(bin)
            .stdin(Stdio::null())
            .status();
        if !strip.is_ok_and(|s| s.success()) {
            std::fs::copy(bin, &dest)?;
        }
        out.push(dest);
    }
    Ok(out)
}

/// Writes `initrd` = the cached root file system + an archive with `bins` in
/// `/opt/fusionfb/bin` and the workspace's `configs/*.toml` in `/opt/fusionfb/configs`.
fn write_initrd(initrd: &Path, rootfs: &Path, bins: &[PathBuf]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(initrd)?);
    let len = std::io::copy(&mut std::fs::File::open(rootfs)?, &mut out)?;
    // The kernel looks for the next archive at a 4-byte boundary and skips zeros.
    out.write_all(&[0; 3][..((4 - len % 4) % 4) as usize])?;
    let mut cpio = Cpio { out, ino: 0 };
    for d in [
        "opt",
        "opt/fusionfb",
        "opt/fusionfb/bin",
        "opt/fusionfb/configs",
    ] {
        cpio.dir(d)?;
    }
    for bin in bins {
        let name = bin.file_name().unwrap_or_default().to_string_lossy();
        cpio.file(&format!("opt/fusionfb/bin/{name}"), 0o755, bin)?;
    }
    let configs = workspace_root().join("configs");
    let mut tomls: Vec<PathBuf> = std::fs::read_dir(&configs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    tomls.sort();
    for toml in tomls {
        let name = toml.file_name().unwrap_or_default().to_string_lossy();
        cpio.file(&format!("opt/fusionfb/configs/{name}"), 0o644, &toml)?;
    }
    cpio.finish()?.flush()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            s.push(if i <= chunk.len() {
                ALPHABET[(n >> shift) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    s
}

/// Quotes `s` as one word for the guest's `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs QEMU (`"$@"`) so that it cannot outlive the test process: a reader holds the pipe on
/// stdin, and when the test process ends, however it ends, the pipe closes and the reader kills
/// QEMU. The shell exits with QEMU's status.
const QEMU_WATCHDOG: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
q=$!
{ read -r _ <&3; kill "$q" 2>/dev/null; } &
wait "$q""#;

/// Ends QEMU started with [`QEMU_WATCHDOG`]: waits up to `grace` for it to end by itself (after
/// a power-off), then closes the watchdog's pipe, which kills it.
fn stop_qemu(qemu: &mut Child, grace: Duration) {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && matches!(qemu.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(qemu.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && matches!(qemu.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
}

/// An emulated board that is up, with its agent answering. Powered off when dropped.
pub struct Board {
    spec: BoardSpec,
    dir: PathBuf,
    qemu: Child,
    agent: UnixStream,
    /// Agent bytes received and not yet consumed.
    pending: Vec<u8>,
    /// The last bytes the agent sent, for error messages.
    recent: VecDeque<u8>,
    last_cmd: String,
    seq: u64,
    spawned: u32,
    screendumps: u32,
    boot_time: Duration,
    _lock: std::fs::File,
}

impl fmt::Debug for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Board")
            .field("spec", &self.spec)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The tail kept of the agent's output for error messages.
const RECENT: usize = 2048;

impl Board {
    /// Boots a board: prepares the cache (or checks it), builds the binaries' archive, waits for
    /// the machine-wide boot lock, starts QEMU and waits until the guest's agent answers.
    pub fn boot(spec: BoardSpec) -> Result<Board, BoardError> {
        if std::env::var("FUSIONFB_BOARD").is_ok_and(|v| v == "0") {
            return Err(err(BoardErrorKind::Skipped, "FUSIONFB_BOARD=0"));
        }
        // prepare.sh also installs QEMU when it can.
        let prepared = prepare();
        if !on_path("qemu-system-x86_64") {
            return Err(err(
                BoardErrorKind::Skipped,
                "qemu-system-x86_64 is not installed and could not be installed \
                 (apt-get install qemu-system-x86)",
            ));
        }
        let cache = prepared?;
        let bins = guest_binaries()?;

        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fusionfb-board-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let io = |what: &str, e: std::io::Error| err(BoardErrorKind::Boot, format!("{what}: {e}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| io("run directory", e))?;
        let bins = stripped(&bins, &dir.join("bin")).map_err(|e| io("copying the binaries", e))?;
        let initrd = dir.join("initrd");
        write_initrd(&initrd, &cache.join("rootfs.cpio.gz"), &bins)
            .map_err(|e| io("writing the initrd", e))?;

        let lock_path = cache.parent().unwrap_or(&cache).join("boot.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("boot lock", e))?;
        let mut told = false;
        while !fusionfb_sys::try_flock_exclusive(lock.as_fd()).map_err(|e| io("boot lock", e))? {
            if !told {
                note("board: waiting for another board on this machine to power off");
                told = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        let agent_path = dir.join("agent.sock");
        let listener = UnixListener::bind(&agent_path).map_err(|e| io("agent socket", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| io("agent socket", e))?;
        let append = format!(
            "console=ttyS0 panic=-1 rdinit=/init quiet fusionfb.gpu={} {}",
            spec.gpu.cmdline(),
            spec.append
        );
        let qemu_log =
            std::fs::File::create(dir.join("qemu.log")).map_err(|e| io("qemu.log", e))?;
        let start = Instant::now();
        let mut qemu = Command::new("sh")
            .args(["-c", QEMU_WATCHDOG, "fusionfb-board", "qemu-system-x86_64"])
            .args(["-accel", "tcg", "-cpu", "max", "-nodefaults", "-no-reboot"])
            .args(["-display", "none"])
            .args(["-m", &spec.memory_mb.to_string()])
            .args(["-smp", &spec.cpus.to_string()])
            .args(spec.gpu.qemu_args())
            .arg("-qmp")
            .arg(format!(
                "unix:{},server=on,wait=off",
                dir.join("qmp.sock").display()
            ))
            .arg("-serial")
            .arg(format!("file:{}", dir.join("console.log").display()))
            .arg("-chardev")
            .arg(format!("socket,id=agent,path={}", agent_path.display()))
            .args(["-serial", "chardev:agent"])
            .arg("-kernel")
            .arg(cache.join("vmlinuz"))
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &append])
            .stdin(Stdio::piped())
            .stdout(qemu_log.try_clone().map_err(|e| io("qemu.log", e))?)
            .stderr(qemu_log)
            .spawn()
            .map_err(|e| io("starting qemu-system-x86_64", e))?;

        // QEMU connects to the agent socket as it starts, before the guest runs.
        let agent = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(io("accepting the agent connection", e)),
            }
            let exited = qemu.try_wait().ok().flatten();
            if exited.is_some() || start.elapsed() > Duration::from_secs(60) {
                stop_qemu(&mut qemu, Duration::ZERO);
                let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
                return Err(err(
                    BoardErrorKind::Boot,
                    format!("QEMU did not connect the agent port ({exited:?}); its log:\n{log}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = agent.set_write_timeout(Some(Duration::from_secs(60)));
        let mut board = Board {
            spec,
            dir,
            qemu,
            agent,
            pending: Vec::new(),
            recent: VecDeque::new(),
            last_cmd: String::new(),
            seq: 0,
            spawned: 0,
            screendumps: 0,
            boot_time: Duration::ZERO,
            _lock: lock,
        };
        let deadline = start + board.spec.boot_timeout;
        loop {
            if let Some(at) = find(&board.pending, b"@@READY\n") {
                board.pending.drain(..at + 8);
                break;
            }
            board.read_more(deadline, "the guest to boot")?;
        }
        board.boot_time = start.elapsed();
        note(&format!(
            "board: {:?} up in {:.1} s",
            board.spec.gpu,
            board.boot_time.as_secs_f64()
        ));
        Ok(board)
    }

    /// [`Board::boot`], but a skip prints `SKIPPED: <test>: <reason>` on stderr and gives
    /// `None`, and any other error panics with its message.
    pub fn boot_or_skip(spec: BoardSpec) -> Option<Board> {
        match Board::boot(spec) {
            Ok(b) => Some(b),
            Err(e) if e.kind == BoardErrorKind::Skipped => {
                let test = std::thread::current()
                    .name()
                    .unwrap_or("board test")
                    .to_string();
                note(&format!("SKIPPED: {test}: {}", e.message));
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// How long booting took, from QEMU's start to the agent's first word.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// The spec it was booted with.
    pub fn spec(&self) -> &BoardSpec {
        &self.spec
    }

    /// The host directory of this run (console log, QEMU log, screendumps).
    pub fn run_dir(&self) -> &Path {
        &self.dir
    }

    /// Everything the guest printed on its console (`ttyS0`) so far.
    pub fn console_log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("console.log")).unwrap_or_default())
            .into_owned()
    }

    /// The tails of the console log, the agent's output and QEMU's log, for error messages.
    pub fn context(&self) -> String {
        let console = self.console_log();
        let lines: Vec<&str> = console.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        let recent: Vec<u8> = self.recent.iter().copied().collect();
        let qemu = std::fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default();
        format!(
            "\n--- last command ---\n{}\n--- console (last 30 lines) ---\n{tail}\n--- agent (last \
             {RECENT} bytes) ---\n{}\n--- qemu ---\n{qemu}",
            self.last_cmd,
            String::from_utf8_lossy(&recent)
        )
    }

    fn fail(&self, kind: BoardErrorKind, what: impl fmt::Display) -> BoardError {
        err(kind, format!("{what}{}", self.context()))
    }

    /// Reads what the agent has sent, waiting at most until `deadline`.
    fn read_more(&mut self, deadline: Instant, waiting_for: &str) -> Result<(), BoardError> {
        let mut buf = [0u8; 16384];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(self.fail(
                    BoardErrorKind::Timeout,
                    format_args!("timed out waiting for {waiting_for}"),
                ));
            }
            if let Ok(Some(status)) = self.qemu.try_wait() {
                return Err(self.fail(
                    BoardErrorKind::Boot,
                    format_args!("QEMU ended ({status}) while waiting for {waiting_for}"),
                ));
            }
            let slice = (deadline - now).min(Duration::from_millis(500));
            let _ = self.agent.set_read_timeout(Some(slice));
            match self.agent.read(&mut buf) {
                Ok(0) => {
                    return Err(self.fail(
                        BoardErrorKind::Agent,
                        format_args!("the agent port closed while waiting for {waiting_for}"),
                    ))
                }
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.recent.extend(&buf[..n]);
                    let excess = self.recent.len().saturating_sub(RECENT);
                    self.recent.drain(..excess);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    return Err(self.fail(
                        BoardErrorKind::Agent,
                        format_args!("reading the agent port: {e}"),
                    ))
                }
            }
        }
    }

    /// Runs `cmd` with the guest's `sh` (60 s limit) and returns its status and output.
    pub fn run(&mut self, cmd: &str) -> Result<Output, BoardError> {
        self.run_timeout(cmd, Duration::from_secs(60))
    }

    /// Runs `cmd` with the guest's `sh`; the guest ends it after `limit` (status 124).
    pub fn run_timeout(&mut self, cmd: &str, limit: Duration) -> Result<Output, BoardError> {
        self.seq += 1;
        let seq = self.seq;
        self.last_cmd = cmd.to_string();
        let secs = limit.as_secs().max(1);
        let line = format!("{seq} {secs} {}\n", base64(cmd.as_bytes()));
        if let Err(e) = self.agent.write_all(line.as_bytes()) {
            return Err(self.fail(
                BoardErrorKind::Agent,
                format_args!("sending a command: {e}"),
            ));
        }
        // The guest's timeout (plus its 5 s kill grace) ends the command; the rest is slack for
        // a slow emulator.
        let deadline = Instant::now() + Duration::from_secs(secs + 30);
        let waiting_for = format!("the answer to `{cmd}`");
        loop {
            if let Some((answer_seq, output, used)) = self.parse_answer()? {
                self.pending.drain(..used);
                if answer_seq == seq {
                    return Ok(output);
                }
                // An answer to an earlier command that timed out on this side: dropped.
                continue;
            }
            self.read_more(deadline, &waiting_for)?;
        }
    }

    /// One complete answer at the front of `pending`, with the bytes it takes.
    #[allow(clippy::type_complexity)]
    fn parse_answer(&self) -> Result<Option<(u64, Output, usize)>, BoardError> {
        let Some(begin) = find(&self.pending, b"@@BEGIN ") else {
            return Ok(None);
        };
        let Some(eol) = find(&self.pending[begin..], b"\n").map(|e| begin + e) else {
            return Ok(None);
        };
        let header = String::from_utf8_lossy(&self.pending[begin + 8..eol]).into_owned();
        let f: Vec<i64> = header
            .split(' ')
            .map(|w| w.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                self.fail(
                    BoardErrorKind::Agent,
                    format_args!("bad answer header {header:?}"),
                )
            })?;
        let [seq, status, nout, nerr] = f[..] else {
            return Err(self.fail(
                BoardErrorKind::Agent,
                format_args!("bad answer header {header:?}"),
            ));
        };
        let body = eol + 1;
        let (nout, nerr) = (nout as usize, nerr as usize);
        let trailer = format!("\n@@DONE {seq} {status}\n");
        let end = body + nout + nerr + trailer.len();
        if self.pending.len() < end {
            return Ok(None);
        }
        if &self.pending[body + nout + nerr..end] != trailer.as_bytes() {
            return Err(self.fail(
                BoardErrorKind::Agent,
                format_args!("answer {seq} does not end with {trailer:?}"),
            ));
        }
        let text =
            |r: std::ops::Range<usize>| String::from_utf8_lossy(&self.pending[r]).into_owned();
        let output = Output {
            status: status as i32,
            stdout: text(body..body + nout),
            stderr: text(body + nout..body + nout + nerr),
        };
        Ok(Some((seq as u64, output, end)))
    }

    /// Runs `cmd` and returns its stdout; panics with the output and the board's context when
    /// it fails (for test steps that must work).
    pub fn ok(&mut self, cmd: &str) -> String {
        match self.run(cmd) {
            Ok(out) if out.success() => out.stdout,
            Ok(out) => panic!("`{cmd}` failed in the guest: {out}{}", self.context()),
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts `cmd` in the guest's background (its own session, stdout and stderr to a file
    /// under `/tmp/bg/`) and returns at once.
    pub fn spawn(&mut self, cmd: &str) -> Result<Background, BoardError> {
        self.spawned += 1;
        let log = format!("/tmp/bg/{}.log", self.spawned);
        let out = self.run(&format!(
            "setsid sh -c {} >{log} 2>&1 </dev/null & echo $!",
            shell_quote(cmd)
        ))?;
        let pid = out.stdout.trim().parse().map_err(|_| {
            self.fail(
                BoardErrorKind::Agent,
                format_args!("starting `{cmd}` in the background: {out}"),
            )
        })?;
        Ok(Background {
            pid,
            log,
            cmd: cmd.to_string(),
        })
    }

    /// What a background process has written so far.
    pub fn log(&mut self, bg: &Background) -> Result<String, BoardError> {
        Ok(self.run(&format!("cat {}", bg.log))?.stdout)
    }

    /// Whether a background process is still running.
    pub fn running(&mut self, bg: &Background) -> Result<bool, BoardError> {
        Ok(self.run(&format!("kill -0 {}", bg.pid))?.success())
    }

    /// Writes `data` to the guest file `path` (in chunks through the agent).
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), BoardError> {
        let mut redirect = ">";
        for chunk in data.chunks(3072).chain(data.is_empty().then_some(&[][..])) {
            let out = self.run(&format!(
                "printf %s {} | base64 -d {redirect}{}",
                base64(chunk),
                shell_quote(path)
            ))?;
            if !out.success() {
                return Err(self.fail(BoardErrorKind::Agent, format_args!("writing {path}: {out}")));
            }
            redirect = ">>";
        }
        Ok(())
    }

    /// Runs `cmd` every half second until it succeeds; the last output goes into the error.
    pub fn wait_for(&mut self, cmd: &str, timeout: Duration) -> Result<Output, BoardError> {
        let mut last = None;
        let found = self.wait_until(timeout, cmd, |b| {
            let out = b.run(cmd)?;
            let ok = out.success();
            last = Some(out.clone());
            Ok(ok.then_some(out))
        });
        found.map_err(|e| match (e.kind, last) {
            (BoardErrorKind::Timeout, Some(out)) => {
                err(e.kind, format!("last try of `{cmd}`: {out}\n{}", e.message))
            }
            _ => e,
        })
    }

    /// Polls `check` every half second until it gives `Some`, for at most `timeout`; `what`
    /// names the wait in the error.
    pub fn wait_until<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&mut Board) -> Result<Option<T>, BoardError>,
    ) -> Result<T, BoardError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(self)? {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(self.fail(
                    BoardErrorKind::Timeout,
                    format_args!("waited {timeout:?} for {what}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Takes screendumps until one satisfies `pred`, and returns it; on timeout the error names
    /// `what` and the last screendump is saved as an artefact.
    pub fn wait_for_screen(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Image) -> bool,
    ) -> Result<Image, BoardError> {
        let mut last = None;
        let r = self.wait_until(timeout, what, |b| {
            let img = b.screendump()?;
            let ok = pred(&img);
            last = Some(img.clone());
            Ok(ok.then_some(img))
        });
        if let (Err(_), Some(img)) = (&r, last) {
            self.save_artifact("screen-timeout", &img);
        }
        r
    }

    /// What the display controller scans out now (QMP `screendump`).
    pub fn screendump(&mut self) -> Result<Image, BoardError> {
        self.screendumps += 1;
        let path = self.dir.join(format!("screen-{}.ppm", self.screendumps));
        self.qmp(&serde_json::json!({
            "execute": "screendump",
            "arguments": { "filename": path.to_string_lossy() },
        }))?;
        let data = std::fs::read(&path).map_err(|e| {
            self.fail(
                BoardErrorKind::Screendump,
                format_args!("{}: {e}", path.display()),
            )
        })?;
        Image::from_ppm(&data).map_err(|e| {
            self.fail(
                BoardErrorKind::Screendump,
                format_args!("{}: {e}", path.display()),
            )
        })
    }

    /// Runs one QMP command on a fresh connection and returns its `return` value.
    pub fn qmp(&self, command: &serde_json::Value) -> Result<serde_json::Value, BoardError> {
        let fail =
            |what: String| self.fail(BoardErrorKind::Screendump, format_args!("QMP: {what}"));
        let stream = UnixStream::connect(self.dir.join("qmp.sock"))
            .map_err(|e| fail(format!("connect: {e}")))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
        let mut writer = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let mut reader = BufReader::new(stream);
        let answer = |reader: &mut BufReader<UnixStream>| -> Result<serde_json::Value, BoardError> {
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) => return Err(fail("connection closed".into())),
                    Ok(_) => {}
                    Err(e) => return Err(fail(format!("read: {e}"))),
                }
                let v: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| fail(format!("bad JSON {line:?}: {e}")))?;
                if let Some(e) = v.get("error") {
                    return Err(fail(format!("error {e}")));
                }
                if v.get("return").is_some() || v.get("QMP").is_some() {
                    return Ok(v);
                }
            }
        };
        answer(&mut reader)?; // the greeting
        for cmd in [
            serde_json::json!({ "execute": "qmp_capabilities" }),
            command.clone(),
        ] {
            writeln!(writer, "{cmd}").map_err(|e| fail(format!("write: {e}")))?;
            let v = answer(&mut reader)?;
            if cmd == *command {
                return Ok(v["return"].clone());
            }
        }
        unreachable!("the loop returns after the command")
    }

    /// Saves `image` as `target/board-artifacts/<test>-<name>.png` and returns the path.
    pub fn save_artifact(&self, name: &str, image: &Image) -> Option<PathBuf> {
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{}-{name}.png", test_name()));
        match image.save_png(&path) {
            Ok(()) => {
                note(&format!("board: saved {}", path.display()));
                Some(path)
            }
            Err(e) => {
                note(&format!("board: cannot save {}: {e}", path.display()));
                None
            }
        }
    }
}

/// The running test's name (libtest names the thread after it), usable in a file name.
fn test_name() -> String {
    std::thread::current().name().unwrap_or("board").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
        "_",
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Drop for Board {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(img) = self.screendump() {
                self.save_artifact("final", &img);
            }
            let dir = artifacts_dir();
            let log = dir.join(format!("{}-console.log", test_name()));
            if std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(&log, self.console_log()).is_ok()
            {
                note(&format!("board: saved {}", log.display()));
            }
        }
        // Power off (the agent does not answer this one), then make sure QEMU is gone.
        self.seq += 1;
        let line = format!(
            "{} 5 {}\n",
            self.seq,
            base64(b"echo o >/proc/sysrq-trigger")
        );
        let _ = self.agent.write_all(line.as_bytes());
        stop_qemu(&mut self.qemu, Duration::from_secs(10));
        if std::env::var_os("FUSIONFB_BOARD_KEEP").is_some() {
            note(&format!(
                "board: run directory kept: {}",
                self.dir.display()
            ));
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

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
    fn shell_quote_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
