//! Shared test harness: unique worlds in temporary directories, and child slave processes.
//!
//! Children are this same test executable, re-run on the ignored `child_main` test with
//! `FUSION_TEST_ROLE` naming what to do; they find the world through `FUSION_TEST_WORLD` and
//! `FUSION_TEST_DIR`, and report readiness through a [`Barrier`].
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("fusion-test-")
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
    pub child: Child,
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child to exit and returns whether it succeeded.
    pub fn wait_ok(&mut self) -> bool {
        for _ in 0..400 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.kill();
        false
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

/// Like [`spawn`], letting `setup` adjust the command first (uid, gid, ...).
pub fn spawn_with(
    role: &str,
    w: &WorldConfig,
    env: &[(&str, String)],
    setup: impl FnOnce(&mut Command),
) -> Proc {
    let (parent, child) = Barrier::pair().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
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
    let c = cmd.spawn().unwrap();
    drop(child);
    Proc {
        child: c,
        barrier: parent,
    }
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
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !h.is_finished() {
        assert!(
            std::time::Instant::now() < end,
            "a slave thread did not finish"
        );
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
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
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match rx.try_recv() {
            Ok(v) => return v,
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(e) => panic!("the slave thread went away: {e}"),
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for a slave thread"
        );
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
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
    for _ in 0..400 {
        if let Ok(Some(st)) = p.child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

/// A deterministic pseudo-random generator (splitmix64): reproducible runs from a seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
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
