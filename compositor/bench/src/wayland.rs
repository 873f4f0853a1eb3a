//! Wayland round trips, measured from a real client: `wl_display.sync` sent and its
//! `done` received, through `wayland-client` on the system's libwayland-client (as
//! applications use it), against a socket — fusionfb's frontend, and as the baseline in the
//! same run, Weston's (its headless backend, when `weston` is installed).
//!
//! The reference figures on this machine kind: Weston 10 about 67 us, a bare
//! libwayland server 11.6 us; fusionfb's goal is at most 0.3x Weston's. Beside them, the
//! floor ([`socket_roundtrips`]): a bare one-byte ping-pong over a socket pair, which on this
//! VM costs about as much as either compositor's round trip when the two sides run on
//! different vCPUs (the wake-ups are the cost, not the compositor).

use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wayland_client::Connection;

/// `n` round trips to the compositor listening on `socket`, each in microseconds (after a
/// few to warm up).
pub fn roundtrips(socket: &Path, n: usize) -> anyhow::Result<Vec<f64>> {
    let stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let conn = Connection::from_socket(stream).context("Wayland connection")?;
    let mut queue = conn.new_event_queue::<()>();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 10 {
        let t = Instant::now();
        queue.roundtrip(&mut ()).context("wl_display.sync")?;
        if i >= 10 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(samples)
}

/// Where the two sides of a round trip run: both on CPU 0, or the client on CPU 0 and the
/// server on CPU 1. On a VM the second costs a cross-vCPU wake-up each way, several times a
/// same-core switch, so an unpinned figure is a lottery between the two; both are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Client and server on CPU 0.
    SameCore,
    /// Client on CPU 0, server on CPU 1.
    TwoCores,
}

impl Placement {
    /// Both placements, the second only where there are two CPUs.
    pub fn all() -> Vec<Placement> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cpus >= 2 {
            vec![Placement::SameCore, Placement::TwoCores]
        } else {
            vec![Placement::SameCore]
        }
    }

    /// How the figure says it.
    pub fn label(self) -> &'static str {
        match self {
            Placement::SameCore => "same core",
            Placement::TwoCores => "two cores",
        }
    }

    /// The server's CPU.
    fn server_cpu(self) -> usize {
        match self {
            Placement::SameCore => 0,
            Placement::TwoCores => 1,
        }
    }
}

/// Pins the thread or process `pid` (`None`: the calling thread) to `cpu`, or to every CPU
/// for `None`.
pub fn pin(pid: Option<u32>, cpu: Option<usize>) -> anyhow::Result<()> {
    fusionfb_sys::pin_to_cpu(pid, cpu).context("sched_setaffinity")
}

/// [`roundtrips`] to `peer` with the client (this thread) and the peer placed as `at` says;
/// this thread may run anywhere again afterwards.
pub fn placed_roundtrips(peer: &Peer, at: Placement, n: usize) -> anyhow::Result<Vec<f64>> {
    pin(Some(peer.child.id()), Some(at.server_cpu()))?;
    pin(None, Some(0))?;
    let v = roundtrips(peer.socket(), n);
    pin(None, None)?;
    v
}

/// The floor under any round trip: `n` one-byte ping-pongs (µs each) over a Unix stream
/// socket pair between this thread and an echoing one, placed as `at` says — what a Wayland round trip costs
/// with no compositor at all (the kernel's wake-ups, which dominate on a VM).
pub fn socket_roundtrips(n: usize, at: Placement) -> anyhow::Result<Vec<f64>> {
    use std::io::Write as _;
    let (mut a, mut b) = UnixStream::pair().context("socketpair")?;
    pin(None, Some(0))?;
    let echo = std::thread::spawn(move || -> anyhow::Result<()> {
        pin(None, Some(at.server_cpu()))?;
        let mut byte = [0u8; 1];
        for _ in 0..n + 10 {
            b.read_exact(&mut byte)?;
            b.write_all(&byte)?;
        }
        Ok(())
    });
    let mut samples = Vec::with_capacity(n);
    let mut byte = [7u8; 1];
    for i in 0..n + 10 {
        let t = Instant::now();
        a.write_all(&byte)?;
        a.read_exact(&mut byte)?;
        if i >= 10 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    pin(None, None)?;
    echo.join()
        .map_err(|_| anyhow::anyhow!("the echo thread panicked"))??;
    Ok(samples)
}

/// A compositor in a process of its own, in a private runtime directory (Weston on its
/// headless backend, or `fusionfb run` on its own), so both are measured the same way;
/// stopped when dropped.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    name: &'static str,
}

impl Peer {
    /// Starts `weston --backend=headless-backend.so`; `Ok(None)` when weston is not
    /// installed.
    pub fn weston() -> anyhow::Result<Option<Peer>> {
        let name = "weston-bench";
        Peer::start("weston", |cmd| {
            cmd.args([
                "--backend=headless-backend.so",
                // Composed in software, as fusionfb composes (the headless backend's
                // default renderer draws nothing).
                "--use-pixman",
                "--idle-time=0",
                &format!("--socket={name}"),
            ]);
            name
        })
    }

    /// Starts `fusionfb run --no-restart --backend headless` (the program `fusionfb`: the
    /// master alone in one process, as Weston is, so pinning and measuring the process is
    /// pinning and measuring the compositor); `Ok(None)` when it is not there.
    pub fn fusionfb(fusionfb: &Path) -> anyhow::Result<Option<Peer>> {
        Peer::start_program(fusionfb, "fusionfb", |cmd| {
            cmd.args([
                "run",
                "--no-restart",
                "--backend",
                "headless",
                "--world",
                "bench-rt",
            ]);
            "fusionfb-bench-rt"
        })
    }

    /// Starts `fusionfb run --backend headless` as boards run it: the supervisor, which
    /// starts the master as a child process of its own (see [`Peer::child_pid`]);
    /// `Ok(None)` when the program is not there.
    pub fn fusionfb_supervised(fusionfb: &Path) -> anyhow::Result<Option<Peer>> {
        Peer::start_program(fusionfb, "fusionfb", |cmd| {
            cmd.args(["run", "--backend", "headless", "--world", "bench-sv"]);
            "fusionfb-bench-sv"
        })
    }

    /// The process id of its (first) child process: the master a supervisor started.
    pub fn child_pid(&self) -> Option<u32> {
        let pid = self.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn start(
        program: &'static str,
        args: impl FnOnce(&mut Command) -> &'static str,
    ) -> anyhow::Result<Option<Peer>> {
        Peer::start_program(Path::new(program), program, args)
    }

    fn start_program(
        program: &Path,
        name: &'static str,
        args: impl FnOnce(&mut Command) -> &'static str,
    ) -> anyhow::Result<Option<Peer>> {
        let dir =
            std::env::temp_dir().join(format!("fusionfb-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // Weston wants its runtime directory private.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let mut cmd = Command::new(program);
        let socket = dir.join(args(&mut cmd));
        let child = match cmd
            .env("XDG_RUNTIME_DIR", &dir)
            .env("FUSIONFB_RUNTIME_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("starting {name}")),
        };
        let mut peer = Peer {
            child,
            socket,
            dir,
            name,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&peer.socket).is_err() {
            if let Some(status) = peer.child.try_wait()? {
                let mut log = String::new();
                if let Some(mut e) = peer.child.stderr.take() {
                    let _ = e.read_to_string(&mut log);
                }
                anyhow::bail!("{name} exited ({status}) before listening:\n{log}");
            }
            anyhow::ensure!(Instant::now() < end, "{name} did not listen within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Some(peer))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Which compositor it is.
    pub fn name(&self) -> &str {
        self.name
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
