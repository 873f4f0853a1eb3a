//! Wayland round trips, measured from a real client: `wl_display.sync` sent and its
//! `done` received, through `wayland-client` on the system's libwayland-client (as
//! applications use it), against a socket — fusionfb's frontend, and as the baseline in the
//! same run, Weston's (its headless backend, when `weston` is installed).
//!
//! The reference figures on this machine kind: Weston 10 about 67 us, a bare
//! libwayland server 11.6 us; fusionfb's goal is at most 0.3x Weston's.

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

/// Weston on its headless backend, in a private runtime directory; stopped when dropped.
#[derive(Debug)]
pub struct Weston {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Weston {
    /// Starts `weston --backend=headless-backend.so`; `Ok(None)` when weston is not
    /// installed.
    pub fn start() -> anyhow::Result<Option<Weston>> {
        let dir =
            std::env::temp_dir().join(format!("fusionfb-bench-weston-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // Weston wants its runtime directory private.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let name = "weston-bench";
        let child = match Command::new("weston")
            .args([
                "--backend=headless-backend.so",
                "--idle-time=0",
                &format!("--socket={name}"),
            ])
            .env("XDG_RUNTIME_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("starting weston"),
        };
        let mut weston = Weston {
            child,
            socket: dir.join(name),
            dir,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&weston.socket).is_err() {
            if let Some(status) = weston.child.try_wait()? {
                let mut log = String::new();
                if let Some(mut e) = weston.child.stderr.take() {
                    let _ = e.read_to_string(&mut log);
                }
                anyhow::bail!("weston exited ({status}) before listening:\n{log}");
            }
            anyhow::ensure!(Instant::now() < end, "weston did not listen within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Some(weston))
    }

    /// Its socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Weston {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
