//! The harness of the Wayland tests: a headless `fusionfb run` with its Wayland socket in a
//! runtime directory of the test's own, and real Wayland clients (Debian's weston and
//! wayland-utils programs) started against it.
//!
//! Every master has a world of its own (`fusion_testing::world`) and so a socket of its own
//! (`fusionfb-<world>`), in the world's private base directory given to both sides as
//! `XDG_RUNTIME_DIR`: tests run in parallel, as root or as a user, without touching the
//! machine's own Wayland sessions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{binary, poll_for, Process};

/// How long anything may take before a test fails (never a hang).
pub const LIMIT: Duration = Duration::from_secs(60);

/// Where program `name` is on `PATH`, if it is installed.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A headless master with its Wayland socket.
#[derive(Debug)]
pub struct WaylandMaster {
    /// Its world.
    pub world: fusion::WorldConfig,
    /// The `XDG_RUNTIME_DIR` both sides use.
    pub runtime: PathBuf,
    /// The master's log file.
    pub log: PathBuf,
    /// The master process.
    pub process: Process,
}

impl WaylandMaster {
    /// Starts `fusionfb run --backend headless` in a new world named after `tag`, and waits
    /// for its Wayland socket.
    pub fn start(tag: &str) -> WaylandMaster {
        let world = crate::world(tag);
        let runtime = world.base_dir();
        std::fs::create_dir_all(&runtime).unwrap();
        let log = runtime.join(format!("{}.log", world.name));
        let rt = runtime.display().to_string();
        let process = Process::spawn_logged(
            "fusionfb",
            &world,
            &["run", "--backend", "headless"],
            &[("XDG_RUNTIME_DIR", rt.as_str()), ("RUST_LOG", "warn")],
            Some(&log),
        );
        let mut m = WaylandMaster {
            world,
            runtime,
            log,
            process,
        };
        let socket = m.socket();
        let found = poll_for(LIMIT, || {
            m.assert_running();
            (socket.exists() && m.fusionfb(&["status"]).is_some()).then_some(())
        });
        assert!(
            found.is_some(),
            "no wayland socket {} after {LIMIT:?}; log:\n{}",
            socket.display(),
            m.log_text()
        );
        m
    }

    /// The socket's name (what clients put in `WAYLAND_DISPLAY`).
    pub fn display(&self) -> String {
        format!("fusionfb-{}", self.world.name)
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join(self.display())
    }

    /// The master's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the master ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.process.exited() {
            panic!("the master ended ({status}); log:\n{}", self.log_text());
        }
    }

    /// `fusionfb <args>` against this master; its stdout if it succeeded.
    pub fn fusionfb(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(binary("fusionfb"))
            .arg("--world")
            .arg(&self.world.name)
            .args(args)
            .env("FUSIONFB_RUNTIME_DIR", self.world.base_dir())
            .env_remove("FUSIONFB_WORLD")
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `fusionfb status --json`'s display part.
    pub fn scene(&self) -> Option<serde_json::Value> {
        let out = self.fusionfb(&["status", "--json"])?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        Some(v["display"].clone())
    }

    /// Starts Wayland client `program` with `args` on this master, its stdout and stderr
    /// into `<runtime>/<world>.<tag>.out` (line-buffered through `stdbuf` when it is there,
    /// so what the client prints can be read while it runs).
    pub fn client(&self, program: &Path, args: &[&str], tag: &str) -> WaylandClient {
        let out = self.runtime.join(format!("{}.{tag}.out", self.world.name));
        let file = std::fs::File::create(&out).unwrap();
        let mut cmd = match find_program("stdbuf") {
            Some(stdbuf) => {
                let mut c = Command::new(stdbuf);
                c.arg("-oL").arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", self.display())
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        WaylandClient {
            child: Some(child),
            out,
        }
    }
}

/// A Wayland client process; killed when dropped.
#[derive(Debug)]
pub struct WaylandClient {
    child: Option<Child>,
    /// Where its output goes.
    pub out: PathBuf,
}

impl WaylandClient {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Its exit status, if it ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().unwrap()
    }

    /// Waits for it to end (at most [`LIMIT`]) and returns its status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        poll_for(LIMIT, || self.exited())
            .unwrap_or_else(|| panic!("the client did not end; it printed:\n{}", self.output()))
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for WaylandClient {
    fn drop(&mut self) {
        self.kill();
    }
}
