//! Building what the guest boots: `tests/board/prepare.sh`'s cached kernel and root file
//! system ([`prepare`]), the workspace's binaries for the guest ([`guest_binaries`]), and the
//! per-run initramfs archive they go in (a newc cpio writer, stripped copies of the binaries,
//! `write_initrd`), appended to the cached one by [`Board::boot`](super::Board::boot).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{err, note, workspace_root, BoardError, BoardErrorKind};

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

/// The Debian package for [`Install::Package`](super::Install::Package): the file named by
/// `FUSIONFB_BOARD_DEB`, or else what `scripts/deb.sh` builds (once per process: a release
/// build of the shipped binaries, a no-op when fresh, then `cargo deb`; it installs cargo-deb
/// and dpkg-dev when missing). The script's progress goes to stderr.
pub fn guest_package() -> Result<PathBuf, BoardError> {
    static DEB: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DEB.get_or_init(|| {
        if let Some(deb) = std::env::var_os("FUSIONFB_BOARD_DEB") {
            let deb = PathBuf::from(deb);
            return if deb.is_file() {
                Ok(deb)
            } else {
                Err(format!(
                    "FUSIONFB_BOARD_DEB={} is not a file",
                    deb.display()
                ))
            };
        }
        let script = workspace_root().join("scripts/deb.sh");
        note("board: scripts/deb.sh (the Debian package the guest installs)");
        let out = Command::new(&script)
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let said = String::from_utf8_lossy(&out.stdout);
        // Absolute; a relative one would be the workspace's (where the script ran).
        let deb = workspace_root().join(said.lines().last().unwrap_or_default().trim());
        if !out.status.success() || !deb.is_file() {
            return Err(format!(
                "{} failed ({}; its messages are above) or named no package: {said}",
                script.display(),
                out.status
            ));
        }
        Ok(deb)
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
pub(super) fn stripped(bins: &[PathBuf], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
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

/// What [`write_initrd`] puts next to the root file system.
pub(super) enum Payload<'a> {
    /// These binaries in `/opt/fusionfb/bin`, and the workspace's `configs/*.toml` in
    /// `/opt/fusionfb/configs`.
    Binaries(&'a [PathBuf]),
    /// This Debian package in `/opt/fusionfb/`, alone.
    Package(&'a Path),
}

/// Writes `initrd` = the cached root file system + an archive with the `payload`.
pub(super) fn write_initrd(initrd: &Path, rootfs: &Path, payload: Payload) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(initrd)?);
    let len = std::io::copy(&mut std::fs::File::open(rootfs)?, &mut out)?;
    // The kernel looks for the next archive at a 4-byte boundary and skips zeros.
    out.write_all(&[0; 3][..((4 - len % 4) % 4) as usize])?;
    let mut cpio = Cpio { out, ino: 0 };
    cpio.dir("opt")?;
    cpio.dir("opt/fusionfb")?;
    let bins = match payload {
        Payload::Binaries(bins) => bins,
        Payload::Package(deb) => {
            let name = deb.file_name().unwrap_or_default().to_string_lossy();
            cpio.file(&format!("opt/fusionfb/{name}"), 0o644, deb)?;
            return cpio.finish()?.flush();
        }
    };
    cpio.dir("opt/fusionfb/bin")?;
    cpio.dir("opt/fusionfb/configs")?;
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
