//! # fusionfb-tests — tests across the whole house
//!
//! This crate's room: integration tests that need several crates at once — a master from
//! `fusionfb` on a real backend, applications from `fusionfb-client` in real processes, and
//! the pixels that reach the (headless) glass — and the emulated-board tests, which boot a real
//! kernel with a real DRM driver under QEMU ([`board`]). The library part holds the shared
//! test harnesses.

#![deny(unsafe_code)]

pub mod board;
pub mod link_order;
pub mod wayland;

use std::path::PathBuf;

// The harness every multi-process test shares (worlds, child processes, bounded waits, skip
// lines), from `fusion-testing`.
pub use fusion_testing::{
    child_world, note, poll_for, skipped, spawn, wait_for, wait_until, world, Proc,
};

/// The path of one of the workspace's binaries (the demo applications of `fusionfb-client`,
/// `fusionfb`): next to the test executable's `deps/` folder, where `cargo test --workspace`
/// (or `cargo build --workspace`) puts them. Panics with what to do when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`, or run \
         `cargo test --workspace`, which builds the client crate's binaries too)",
        path.display()
    );
    path
}

/// A workspace binary running as a child process in world `w` (`--world` and
/// `FUSIONFB_RUNTIME_DIR` point it there); killed when dropped, so a failing test leaves
/// no process behind.
#[derive(Debug)]
pub struct Process {
    child: Option<std::process::Child>,
    name: String,
}

impl Process {
    /// Starts binary `name` with `args` after `--world <w.name>`.
    pub fn spawn(name: &str, w: &fusion::WorldConfig, args: &[&str]) -> Process {
        Process::spawn_env(name, w, args, &[])
    }

    /// [`spawn`](Process::spawn) with environment variables set for the child (`DISPLAY`, …).
    pub fn spawn_env(
        name: &str,
        w: &fusion::WorldConfig,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Process {
        Process::spawn_logged(name, w, args, env, None)
    }

    /// [`spawn_env`](Process::spawn_env) with the child's stderr (its log) written to the
    /// file `log` instead of the test's.
    pub fn spawn_logged(
        name: &str,
        w: &fusion::WorldConfig,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Process {
        Process::spawn_in(name, w, args, env, log, None)
    }

    /// [`spawn_logged`](Process::spawn_logged) in the working directory `dir` (the test's
    /// own when `None`): what the process and the programs it starts write there.
    pub fn spawn_in(
        name: &str,
        w: &fusion::WorldConfig,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
        dir: Option<&std::path::Path>,
    ) -> Process {
        let mut cmd = std::process::Command::new(binary(name));
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        cmd.envs(env.iter().copied())
            .arg("--world")
            .arg(&w.name)
            .args(args)
            .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
            .env_remove("FUSIONFB_WORLD")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        if let Some(log) = log {
            let file = std::fs::File::create(log)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
            cmd.stderr(file);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child: Some(child),
            name: name.to_string(),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Its exit status if it has ended (panics if it cannot be asked).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("try_wait")
    }

    /// Panics if it ended (with its status): for waits that would otherwise run out.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!("{} ended early: {status}", self.name);
        }
    }
}

impl Process {
    /// Asks the process to end (SIGTERM) and waits up to `limit` for it to; it is killed
    /// when dropped if it has not. A master ends this way stopping the apps it started.
    pub fn terminate(&mut self, limit: std::time::Duration) {
        let Some(c) = self.child.as_mut() else {
            return;
        };
        if !matches!(c.try_wait(), Ok(None)) {
            return;
        }
        if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        poll_for(limit, || (!matches!(c.try_wait(), Ok(None))).then_some(()));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// Writes `text` as the config file `name` in `w`'s base directory (made if missing) and
/// returns its path, for `fusionfb run --config`.
pub fn write_config(w: &fusion::WorldConfig, name: &str, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(w.base_dir()).unwrap();
    let file = w.base_dir().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// `fusionfb --world W ARGS` against the master of `w`, run to its end.
pub fn fusionfb_command(w: &fusion::WorldConfig, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary("fusionfb"))
        .arg("--world")
        .arg(&w.name)
        .args(args)
        .env("FUSIONFB_RUNTIME_DIR", w.base_dir())
        .env_remove("FUSIONFB_WORLD")
        .output()
        .unwrap()
}

/// [`fusionfb_command`]'s stdout when it succeeded.
pub fn fusionfb_output(w: &fusion::WorldConfig, args: &[&str]) -> Option<String> {
    let out = fusionfb_command(w, args);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `PATH` with the workspace's binaries first (for `[[app]]` commands given by name).
pub fn path_with_binaries() -> String {
    let dir = binary("fusionfb-paint").parent().unwrap().to_path_buf();
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", dir.display()),
        _ => format!("{}:/usr/bin:/bin", dir.display()),
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// The pixel at `(x, y)` (RGB) of what the master of `w` shows now, read by a fresh client
/// (which does not rejoin), retried until one answers within `limit`.
pub fn glass_pixel(w: &fusion::WorldConfig, x: u32, y: u32, limit: std::time::Duration) -> u32 {
    poll_for(limit, || {
        let mut d = fusionfb_client::display::Display::connect_to(w.clone()).ok()?;
        d.set_rejoin(None);
        d.screenshot().ok()
    })
    .expect("a screenshot")
    .pixel(x, y)
        & 0xff_ffff
}

/// The surface holding layer `layer` exclusively, from `fusionfb status --json`'s
/// `display` part (`None` when the layer is shared, or not listed).
pub fn layer_holder(display: &serde_json::Value, layer: u64) -> Option<u64> {
    display["layers"]
        .as_array()?
        .iter()
        .find(|l| l["id"] == layer)?["exclusive_surface"]
        .as_u64()
}

/// What a test client (`fusionfb-layer-client`, `fusionfb-stack-client`) does once its
/// picture is up: dispatches until the master ends the session, calling `rejoined` with how
/// many surfaces were lost each time the display rejoined a new master.
pub fn stay(
    display: &mut fusionfb_client::display::Display,
    mut rejoined: impl FnMut(usize),
) -> Result<(), String> {
    use fusionfb_client::display::ClientEvent;
    loop {
        display
            .dispatch(Some(std::time::Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        while let Some(e) = display.next_event() {
            match e {
                ClientEvent::MasterGone => return Ok(()),
                ClientEvent::Rejoined { lost } => rejoined(lost.len()),
                _ => {}
            }
        }
    }
}
