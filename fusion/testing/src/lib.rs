//! # fusion-testing — the test harness of the whole workspace
//!
//! This crate's room in the house: what every multi-process test needs, in one place — Fusion's
//! own tests (`fusion/tests/`) and the whole-system ones (`tests/`) use the same helpers:
//!
//! - **Worlds**: [`world`] gives a world name and runtime directory no other test (or test
//!   run) uses; directories of earlier runs whose process is gone are swept.
//! - **Children**: [`spawn`] starts this same test executable again, on its ignored
//!   `child_main` test, with `FUSION_TEST_ROLE` naming what to do; the child finds the world
//!   through [`child_world`] and lines up with the parent through a [`Barrier`]
//!   ([`child_barrier`]). [`spawn_as`] runs one under another uid (from a copy of the
//!   executable other users can reach).
//! - **Waiting**: [`wait_for`] and [`wait_until`] poll for something observable with a limit,
//!   and fail naming what never happened; the `pump`/`join` family does the same while
//!   serving a [`Master`]. No test sleeps to force an order or asserts on wall-clock time.
//! - **Skips**: [`skipped`] and [`note`] write past the harness's output capture, so
//!   `scripts/test.sh` lists `SKIPPED: <test>: <reason>` lines.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fusion::barrier::Barrier;
use fusion::{Master, WorldConfig};

/// A world name and directory no other test (or test run) uses.
pub fn world(tag: &str) -> WorldConfig {
    static N: AtomicU32 = AtomicU32::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(sweep_dead_runs);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    let dir: PathBuf = std::env::temp_dir().join(format!("fusion-test-{pid}"));
    WorldConfig::new(&format!("{tag}-{n}")).runtime_dir(dir)
}

/// Removes the world directories of earlier test runs whose process is gone.
fn sweep_dead_runs() {
    let mut dirs = vec![std::env::temp_dir(), PathBuf::from("/tmp")];
    dirs.dedup();
    for e in dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("fusion-test-exe-")
            .or_else(|| name.strip_prefix("fusion-test-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The world a child was told to enter.
pub fn child_world() -> WorldConfig {
    WorldConfig::new(&std::env::var("FUSION_TEST_WORLD").expect("FUSION_TEST_WORLD"))
        .runtime_dir(std::env::var("FUSION_TEST_DIR").expect("FUSION_TEST_DIR"))
        .client_name(&std::env::var("FUSION_TEST_ROLE").unwrap_or_default())
}

/// A running child process, killed and reaped when dropped.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// The parent's end of its barrier.
    pub barrier: Barrier,
}

impl Proc {
    /// Waits for the child's next barrier mark.
    pub fn ready(&mut self) {
        self.barrier
            .sync(Some(Duration::from_secs(20)))
            .expect("child did not reach its barrier");
    }

    /// Places a mark the child waits for.
    pub fn go(&mut self) {
        self.barrier.place().expect("child gone");
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child to exit and returns whether it succeeded.
    pub fn wait_ok(&mut self) -> bool {
        let child = &mut self.child;
        let status = poll_for(Duration::from_secs(10), || child.try_wait().ok().flatten());
        match status {
            Some(st) => st.success(),
            None => {
                self.kill();
                false
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a child in `role` for world `w`, with extra environment.
pub fn spawn(role: &str, w: &WorldConfig, env: &[(&str, String)]) -> Proc {
    spawn_with(role, w, env, |_| {})
}

/// Like [`spawn`], letting `setup` adjust the command first (environment, limits, ...).
pub fn spawn_with(
    role: &str,
    w: &WorldConfig,
    env: &[(&str, String)],
    setup: impl FnOnce(&mut Command),
) -> Proc {
    spawn_exe(std::env::current_exe().unwrap(), role, w, env, setup)
}

/// Starts a child in `role` for world `w` running as `uid`/`gid` (the caller is root).
///
/// The test executable usually lives where another uid cannot reach it (a checkout under
/// `/root` or a 0700 directory), so the child runs a copy in a directory every uid can
/// traverse. `Err` says why that cannot be done here: the world's directory itself is out of
/// that uid's reach, and the test should be skipped with that reason.
pub fn spawn_as(
    role: &str,
    w: &WorldConfig,
    env: &[(&str, String)],
    uid: u32,
    gid: u32,
) -> Result<Proc, String> {
    use std::os::unix::process::CommandExt;
    if let Some(why) = other_users_cannot_reach(w) {
        return Err(why);
    }
    let exe = reachable_exe()?;
    Ok(spawn_exe(exe, role, w, env, |cmd| {
        cmd.uid(uid).gid(gid);
    }))
}

/// Why a child under another uid could not reach world `w` or the test executable's copy
/// here (a private `TMPDIR`), if it could not: the reason for a `SKIPPED:` line.
pub fn other_users_cannot_reach(w: &WorldConfig) -> Option<String> {
    if let Some(blocked) = untraversable_ancestor(&w.base_dir()) {
        return Some(format!(
            "{} is not reachable by other users, so a child under another uid cannot reach \
             the world",
            blocked.display()
        ));
    }
    reachable_exe().err()
}

/// The first ancestor of `path` (itself excluded) that others may not traverse.
fn untraversable_ancestor(path: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().skip(1).find_map(|a| {
        let mode = std::fs::metadata(a).ok()?.permissions().mode();
        (mode & 0o001 == 0).then(|| a.to_path_buf())
    })
}

/// A copy of the test executable in `/tmp/fusion-test-exe-<pid>/` (made once), readable and
/// executable by every uid.
fn reachable_exe() -> Result<PathBuf, String> {
    static COPY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let dir = PathBuf::from(format!("/tmp/fusion-test-exe-{}", std::process::id()));
        if let Some(blocked) = untraversable_ancestor(&dir.join("x")) {
            return Err(format!(
                "{} is not reachable by other users",
                blocked.display()
            ));
        }
        let copy = dir.join(exe.file_name().unwrap_or_default());
        let io =
            |e: std::io::Error| format!("copying the test executable to {}: {e}", dir.display());
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        std::fs::copy(&exe, &copy).map_err(io)?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        Ok(copy)
    })
    .clone()
}

fn spawn_exe(
    exe: PathBuf,
    role: &str,
    w: &WorldConfig,
    env: &[(&str, String)],
    setup: impl FnOnce(&mut Command),
) -> Proc {
    let (parent, child) = Barrier::pair().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child_main",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FUSION_TEST_ROLE", role)
    .env("FUSION_TEST_WORLD", &w.name)
    .env("FUSION_TEST_DIR", w.base_dir())
    .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    child.pass_to(&mut cmd).unwrap();
    setup(&mut cmd);
    let c = spawn_retrying(&mut cmd);
    drop(child);
    Proc {
        child: c,
        barrier: parent,
    }
}

/// Spawns `cmd`, trying again while the executable is busy: a copy just written may still be
/// open for writing in a child another thread forked before it exec'd (ETXTBSY).
fn spawn_retrying(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(c) => return c,
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error())
                    && tries < 50 =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot start a child: {e}"),
        }
    }
}

/// Writes a line past the test harness's output capture (so `scripts/test.sh` lists skips).
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Says `SKIPPED: <test>: <why>` past the capture; `<test>` is the running test's name.
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .rsplit("::")
        .next()
        .unwrap_or("test")
        .to_string();
    note(&format!("SKIPPED: {test}: {why}"));
}

/// Calls `poll` until it gives `Some`, for at most `limit`; `None` when the limit passed.
/// Between calls that come back at once it sleeps a few milliseconds (a `poll` that waits
/// itself, such as a dispatch with a time-out, is called again straight away).
pub fn poll_for<T>(limit: Duration, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        let called = Instant::now();
        if let Some(v) = poll() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        if called.elapsed() < Duration::from_millis(1) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Calls `poll` until it gives `Some` and returns that; panics naming `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, poll: impl FnMut() -> Option<T>) -> T {
    poll_for(limit, poll).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// Calls `cond` until it holds; panics naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, limit, || cond().then_some(()))
}

/// Runs the master until `done` or 20 s pass (then panics).
pub fn pump(m: &mut Master, what: &str, done: impl FnMut(&mut Master) -> bool) {
    assert!(
        m.dispatch_until(Duration::from_secs(20), done).unwrap(),
        "timed out waiting for: {what}"
    );
}

/// Runs the master on a thread-free loop while `f` runs in a thread; returns `f`'s result.
pub fn with_master<T: Send + 'static>(m: &mut Master, f: impl FnOnce() -> T + Send + 'static) -> T {
    let h = std::thread::spawn(f);
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    h.join().unwrap()
}

/// A child's barrier, from the environment.
pub fn child_barrier() -> Barrier {
    Barrier::from_env().expect("no barrier passed")
}

/// Runs the master until the thread `h` finishes (at most 30 s, then panics), and returns
/// what it returned (re-raising its panic).
pub fn join<T>(m: &mut Master, h: std::thread::JoinHandle<T>) -> T {
    wait_until("a slave thread to finish", Duration::from_secs(30), || {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
        h.is_finished()
    });
    match h.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// Runs the master until every child placed its next barrier mark.
pub fn ready_all(m: &mut Master, procs: Vec<Proc>) -> Vec<Proc> {
    join(
        m,
        std::thread::spawn(move || {
            let mut procs = procs;
            for p in &mut procs {
                p.ready();
            }
            procs
        }),
    )
}

/// Runs the master until `rx` delivers a value (at most 20 s, then panics).
pub fn pump_recv<T>(m: &mut Master, rx: &std::sync::mpsc::Receiver<T>) -> T {
    wait_for("a slave thread's answer", Duration::from_secs(20), || {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(e) => panic!("the slave thread went away: {e}"),
        }
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
        None
    })
}

/// Runs the master for `d` whatever happens (lets in-flight work land; never asserts time).
pub fn settle(m: &mut Master, d: Duration) {
    let _ = m.dispatch_until(d, |_| false).unwrap();
}

/// Enters `w` as a slave while the master runs.
pub fn enter(m: &mut Master, w: &WorldConfig) -> fusion::Slave {
    let w = w.clone();
    join(
        m,
        std::thread::spawn(move || fusion::Slave::enter(w).unwrap()),
    )
}

/// A number from the child's environment.
pub fn env_u32(key: &str) -> u32 {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} not set"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number"))
}

/// Waits (without a master) until the child exits; `Some(success)` or `None` if it did
/// not exit within 10 s.
pub fn exited(p: &mut Proc) -> Option<std::process::ExitStatus> {
    poll_for(Duration::from_secs(10), || {
        p.child.try_wait().ok().flatten()
    })
}

/// A deterministic pseudo-random generator (splitmix64): reproducible runs from a seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)] // an endless generator, not an iterator
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
