//! Driving the emulated machine: [`Board`] starts QEMU (behind a watchdog that kills it with
//! the test process), talks to the guest's agent on the second serial port (commands framed in
//! base64), takes QMP screendumps of the glass, keeps the serial console, and powers the
//! machine off when dropped.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::initramfs::{guest_binaries, prepare, stripped, write_initrd, Payload};
use super::*;

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
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
        if spec.heads == 0 || (spec.heads > 1 && spec.gpu != Gpu::VirtioGpu) {
            return Err(err(
                BoardErrorKind::Boot,
                format!(
                    "{} heads on {:?}: a card has at least one, and only virtio-gpu has more",
                    spec.heads, spec.gpu
                ),
            ));
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
        let bins = match &spec.install {
            Install::Binaries => guest_binaries()?,
            Install::Package(_) => Vec::new(),
        };

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
        let payload = match &spec.install {
            Install::Binaries => Payload::Binaries(&bins),
            Install::Package(deb) => Payload::Package(deb),
        };
        write_initrd(&initrd, &cache.join("rootfs.cpio.gz"), payload)
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
            "console=ttyS0 panic=-1 rdinit=/init quiet fusionfb.gpu={} {} {}",
            spec.gpu.cmdline(),
            extra_heads_cmdline(spec.heads),
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
            .args(spec.gpu.qemu_args(spec.heads))
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

    /// An error of `kind` saying `what`, followed by [`context`](Board::context) (what
    /// [`master`](super::master) and [`touch`](super::touch) report with).
    pub(super) fn fail(&self, kind: BoardErrorKind, what: impl fmt::Display) -> BoardError {
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
        self.wait_for_screen_head(0, timeout, what, pred)
    }

    /// [`wait_for_screen`](Board::wait_for_screen) on head `head` (0 for `Virtual-1`) of the
    /// card ([`screendump_head`](Board::screendump_head)); the artefact on timeout is
    /// `screen-timeout-head<N>` (`screen-timeout` for head 0).
    pub fn wait_for_screen_head(
        &mut self,
        head: u32,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Image) -> bool,
    ) -> Result<Image, BoardError> {
        let mut last = None;
        let r = self.wait_until(timeout, what, |b| {
            let img = b.screendump_head(head)?;
            let ok = pred(&img);
            last = Some(img.clone());
            Ok(ok.then_some(img))
        });
        if let (Err(_), Some(img)) = (&r, last) {
            let name = match head {
                0 => "screen-timeout".to_string(),
                _ => format!("screen-timeout-head{head}"),
            };
            self.save_artifact(&name, &img);
        }
        r
    }

    /// What the display controller scans out now on its first output (QMP `screendump`).
    pub fn screendump(&mut self) -> Result<Image, BoardError> {
        self.screendump_head(0)
    }

    /// What the display controller scans out now on output `head`, counting from 0
    /// (`Virtual-1`): QMP `screendump` with `device` [`GPU_ID`] and `head` (QEMU 7+; QEMU
    /// rejects `head` without `device`). Head 0 is the plain screendump (any card); the
    /// others need a board with that many [`heads`](BoardSpec::heads).
    pub fn screendump_head(&mut self, head: u32) -> Result<Image, BoardError> {
        if head >= self.spec.heads {
            return Err(self.fail(
                BoardErrorKind::Screendump,
                format_args!("no head {head}: the card has {}", self.spec.heads),
            ));
        }
        self.screendumps += 1;
        let path = self.dir.join(format!("screen-{}.ppm", self.screendumps));
        let mut arguments = serde_json::json!({ "filename": path.to_string_lossy() });
        if head > 0 {
            arguments["device"] = GPU_ID.into();
            arguments["head"] = head.into();
        }
        self.qmp(&serde_json::json!({
            "execute": "screendump",
            "arguments": arguments,
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
            for head in 1..self.spec.heads {
                if let Ok(img) = self.screendump_head(head) {
                    self.save_artifact(&format!("final-head{head}"), &img);
                }
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
}
