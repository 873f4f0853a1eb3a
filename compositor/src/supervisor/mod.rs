//! `fusionfb run`'s supervisor: the small parent that keeps the world's lock and listening
//! socket, starts the master as a child process, and starts it again when it dies, so that
//! the glass comes back and the apps rejoin (DESIGN: master restart).
//!
//! What it holds, and why here:
//!
//! - **The world** ([`fusion::handover`]): its lock and listening socket are taken once, here,
//!   and handed to each master, and so is the Wayland socket
//!   ([`crate::wayland::socket::WaylandListener`]). The socket never stops listening, so an app that rejoins (or
//!   starts) while no master runs waits in its backlog instead of finding no world; the lock
//!   never lapses, so no other master takes the world in between. Under systemd the socket
//!   also goes to the service's fd store ([`systemd`]), so it outlives the supervisor too.
//! - **The `[[app]]` programs** ([`crate::apps::Supervisor`]): they are this process's
//!   children, not the master's, so a master's death does not orphan them and a new master
//!   does not start them twice. Their starts wait until a master's display is up (and are
//!   held while a dead one is replaced); the master shows their state in `fusionfb status`
//!   from what the [`link`] tells it.
//!
//! The master is this same program (`fusionfb` with the same arguments), told through its
//! environment that it is supervised ([`link::ENV`], [`fusion::handover::ENV`]). It dies with
//! the supervisor (`PR_SET_PDEATHSIG`, `SIGTERM`). What the supervisor does when it exits:
//!
//! - it crashed (a signal or a non-zero status) after its display was up: a new master is
//!   started at once, unless masters crash faster than [`CRASH_LOOP`] (more than that many
//!   within a second: something kills each new one, say a request it cannot take), when
//!   the next one waits [`CRASH_LOOP_DELAY`]. The count is in `fusionfb status` and in the
//!   log.
//! - it could not come up: the first master's failure is `fusionfb run`'s (its error is on
//!   stderr already); a later one is retried after a delay growing from 100 ms to
//!   [`MAX_DELAY`], and given up after [`MAX_FAILED_STARTS`] in a row.
//! - it exited with status 0 (it was told to stop, or its window was closed): the apps are
//!   stopped and `fusionfb run` ends.
//!
//! A master whose loop stops turning is killed and replaced: it says it is alive every
//! [`link::ALIVE_EVERY`], and one silent for [`HANG_AFTER`] gets `SIGKILL`. Its heartbeat is
//! also the systemd watchdog's. `SIGTERM` and `SIGINT` stop the master (forwarded), then the
//! apps; `SIGHUP` is forwarded to the master.
//!
//! `fusionfb run --no-restart` runs the master in this process instead, apps and all, as
//! before supervision existed.

pub mod link;
pub mod systemd;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fusion::handover::Handover;
use tracing::{info, warn};

use crate::apps;
use crate::cli::run::RunOptions;
use link::{Link, ToMaster, ToSupervisor};

/// More crashes than this within a second are a crash loop: the next start waits.
pub const CRASH_LOOP: usize = 10;
/// How long the next start waits in a crash loop.
pub const CRASH_LOOP_DELAY: Duration = Duration::from_millis(500);
/// The longest wait before starting again a master that could not come up.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Restarted masters that fail to come up, in a row, before the supervisor gives up.
pub const MAX_FAILED_STARTS: u32 = 10;
/// A master silent this long (no [`ToSupervisor::Alive`]) is taken for hung and killed.
pub const HANG_AFTER: Duration = Duration::from_secs(20);
/// How long a master has to exit after `SIGTERM` before it gets `SIGKILL`.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One master process.
struct MasterChild {
    child: Child,
    pidfd: Option<OwnedFd>,
    link: Link,
    started: Instant,
    /// When its display came up.
    up: Option<Instant>,
    last_alive: Instant,
    /// `SIGTERM` sent (we are stopping), and when.
    terminated: Option<Instant>,
}

impl MasterChild {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&mut self, kill: bool) {
        let sent = match &self.pidfd {
            Some(fd) if kill => fusionfb_sys::pidfd_kill(fd.as_fd()),
            Some(fd) => fusionfb_sys::pidfd_term(fd.as_fd()),
            None => self.child.kill(),
        };
        if let Err(e) = sent {
            warn!("master pid {}: cannot signal it: {e}", self.pid());
        }
    }
}

/// Runs `fusionfb run` as the supervisor described in the module docs, until `stop` holds a
/// signal number and the master and the apps have stopped, or the master ends by itself.
pub fn supervise(opts: &RunOptions, stop: &AtomicUsize) -> anyhow::Result<()> {
    let cfg = crate::cli::run::load_config(opts.config.as_deref())?;
    let mut socket = None;
    let result = supervise_loop(opts, &cfg, stop, &mut socket);
    // The world ends with the supervisor: its socket goes, unless systemd keeps it in the
    // fd store for the service's next start (where the path must still lead to it).
    if let Some(path) = socket {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

fn supervise_loop(
    opts: &RunOptions,
    cfg: &crate::config::Config,
    stop: &AtomicUsize,
    socket: &mut Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    crate::cli::input::check_keymap(cfg, opts.config.as_deref())?;
    let world = cfg
        .world
        .fusion_config(opts.world.as_deref())
        .context("world group")?;
    let name = world.name.clone();
    let handover = Handover::take_with(&world, systemd::stored_listener())
        .with_context(|| format!("world {name:?}"))?;
    *socket = Some(world.socket_path());
    systemd::store_listener(&handover.listener);
    let wake = Wake::new()?;
    let mut apps = apps::Supervisor::new(&cfg.apps, &world);
    apps.hold(true);
    let exe = std::env::current_exe().context("finding this program to start the master")?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut restarts = 0u32;
    let mut crashes: std::collections::VecDeque<Instant> = Default::default();
    let mut failed_starts = 0u32;
    let mut ever_up = false;
    // What the master was told of the apps last.
    let mut last_report: Option<Vec<fusionfb_protocol::AppStatus>> = None;
    #[cfg_attr(not(feature = "wayland"), allow(unused_variables))]
    let wayland = wayland_socket(cfg, &world);
    let held = Held {
        world: &handover,
        #[cfg(feature = "wayland")]
        wayland: wayland.as_ref(),
    };
    let mut master = start(&exe, &args, &held, restarts)?;
    info!(
        world = %name,
        pid = master.pid(),
        "supervisor: master started; it is started again if it dies"
    );
    loop {
        // What woke us: the master's exit, its messages, an app's exit, a signal, a timer.
        // Idle, it sleeps until one of those: no period, but for what has a time (a pending
        // app restart, the hang check, the stop grace) and for exits only polling sees (no
        // pidfd on an old kernel).
        let now = Instant::now();
        let mut deadlines: Vec<Instant> = apps.next_deadline().into_iter().collect();
        if master.up.is_some() {
            deadlines.push(master.last_alive + HANG_AFTER);
        }
        if let Some(at) = master.terminated {
            deadlines.push(at + STOP_GRACE);
        }
        if master.pidfd.is_none() || !apps.all_have_pidfds() {
            deadlines.push(now + Duration::from_millis(200));
        }
        let timeout = deadlines
            .into_iter()
            .min()
            .map(|at| at.saturating_duration_since(now));
        {
            let mut fds: Vec<BorrowedFd<'_>> = vec![wake.read.as_fd(), master.link.as_fd()];
            if let Some(p) = &master.pidfd {
                fds.push(p.as_fd());
            }
            fds.extend(apps.pidfds().map(|(_, fd)| fd));
            let _ = fusionfb_sys::poll_readable(&fds, timeout);
        }
        wake.drain();
        let now = Instant::now();
        let sig = stop.load(Ordering::Relaxed);
        if sig != 0 && master.terminated.is_none() {
            info!(
                "supervisor: {}: stopping the master (pid {})",
                crate::cli::run::signal_name(sig as i32),
                master.pid()
            );
            systemd::stopping();
            master.terminated = Some(now);
            apps.hold(true);
            master.signal(false);
        }
        if wake.hup.swap(false, Ordering::Relaxed) {
            info!(
                "supervisor: SIGHUP: passed to the master (pid {})",
                master.pid()
            );
            if let Some(fd) = &master.pidfd {
                let _ = fusionfb_sys::pidfd_hup(fd.as_fd());
            }
        }
        while let Some(msg) = master.link.recv::<ToSupervisor>() {
            match msg {
                ToSupervisor::Up { wayland_display } => {
                    master.up = Some(now);
                    master.last_alive = now;
                    failed_starts = 0;
                    if let Some(d) = wayland_display {
                        apps.set_env("WAYLAND_DISPLAY", d);
                    }
                    apps.hold(false);
                    let text = format!(
                        "master pid {} up ({} restarts), world {name:?}",
                        master.pid(),
                        restarts
                    );
                    if ever_up {
                        info!(
                            "supervisor: the new master (pid {}) is up after {:.0} ms",
                            master.pid(),
                            now.duration_since(master.started).as_secs_f64() * 1000.0
                        );
                        systemd::status(&text);
                    } else {
                        systemd::ready(&text);
                    }
                    ever_up = true;
                }
                ToSupervisor::Alive => {
                    master.last_alive = now;
                    systemd::watchdog();
                }
            }
        }
        if master.up.is_some()
            && master.terminated.is_none()
            && now.duration_since(master.last_alive) > HANG_AFTER
        {
            warn!(
                "supervisor: the master (pid {}) said nothing for {} s: it hangs; killing it",
                master.pid(),
                HANG_AFTER.as_secs()
            );
            master.signal(true);
            master.last_alive = now;
        }
        if let Some(at) = master.terminated {
            if now.duration_since(at) > STOP_GRACE {
                warn!(
                    "supervisor: the master (pid {}) did not exit within {} s of SIGTERM: \
                     killing it",
                    master.pid(),
                    STOP_GRACE.as_secs()
                );
                master.signal(true);
                master.terminated = Some(now + Duration::from_secs(3600));
            }
        }
        // Stopping, the apps are left to `stop` (which reaps and reports them), not
        // restarted when they leave.
        if master.terminated.is_none() {
            apps.poll(now);
        }
        if master.up.is_some() {
            let report = apps.report(now);
            if last_report.as_ref() != Some(&report) {
                master.link.send(&ToMaster::Apps(report.clone()));
                last_report = Some(report);
            }
        }
        let Some(status) = master.child.try_wait().context("waiting for the master")? else {
            continue;
        };
        // The master exited.
        if master.terminated.is_some() || status.success() {
            let why = if master.terminated.is_some() {
                "it was told to stop"
            } else {
                "it ended by itself"
            };
            info!("supervisor: the master exited ({status}): {why}; stopping the apps");
            apps.stop(Duration::from_secs(2));
            return if status.success() || master.terminated.is_some() {
                Ok(())
            } else {
                Err(anyhow::anyhow!("the master failed: {status}"))
            };
        }
        let lived = now.duration_since(master.started);
        if master.up.is_none() {
            if !ever_up {
                apps.stop(Duration::from_secs(2));
                anyhow::bail!("the master could not start ({status})");
            }
            failed_starts += 1;
            if failed_starts >= MAX_FAILED_STARTS {
                apps.stop(Duration::from_secs(2));
                anyhow::bail!(
                    "the master could not start again {failed_starts} times in a row \
                     ({status}); giving up"
                );
            }
        }
        crashes.push_back(now);
        while crashes
            .front()
            .is_some_and(|&t| now.duration_since(t) > Duration::from_secs(1))
        {
            crashes.pop_front();
        }
        restarts += 1;
        apps.hold(true);
        let delay = if master.up.is_none() {
            (Duration::from_millis(100) * 2u32.saturating_pow(failed_starts - 1)).min(MAX_DELAY)
        } else if crashes.len() > CRASH_LOOP {
            CRASH_LOOP_DELAY
        } else {
            Duration::ZERO
        };
        warn!(
            "supervisor: the master (pid {}) died ({status}) after {:.1} s; starting master \
             #{} {}",
            master.pid(),
            lived.as_secs_f64(),
            restarts + 1,
            if delay.is_zero() {
                "now".to_string()
            } else {
                format!("in {} ms", delay.as_millis())
            }
        );
        if !delay.is_zero() {
            // Still stoppable while waiting.
            let end = Instant::now() + delay;
            while Instant::now() < end && stop.load(Ordering::Relaxed) == 0 {
                apps.poll(Instant::now());
                let _ = fusionfb_sys::poll_readable(
                    &[wake.read.as_fd()],
                    Some(end.saturating_duration_since(Instant::now())),
                );
                wake.drain();
            }
            if stop.load(Ordering::Relaxed) != 0 {
                apps.stop(Duration::from_secs(2));
                return Ok(());
            }
        }
        master = start(&exe, &args, &held, restarts)?;
        last_report = None;
    }
}

/// Starts a master: this program with `args`, the world's lock and socket, and its end of a
/// new link.
/// What the supervisor holds for each master: the world's lock and socket, and the Wayland
/// socket.
struct Held<'a> {
    world: &'a Handover,
    #[cfg(feature = "wayland")]
    wayland: Option<&'a crate::wayland::socket::WaylandListener>,
}

/// The Wayland socket the config's `[wayland]` asks for, bound here so that it outlives the
/// masters; `None` without one, or when it cannot be bound here (each master then binds it,
/// and reports why not).
#[cfg(feature = "wayland")]
fn wayland_socket(
    cfg: &crate::config::Config,
    world: &fusion::WorldConfig,
) -> Option<crate::wayland::socket::WaylandListener> {
    if !cfg.wayland.enabled {
        return None;
    }
    let wl = crate::wayland::WaylandConfig {
        socket: cfg.wayland.socket.clone(),
        world: world.name.clone(),
        fallback_dir: world.dir(),
        keyboard: cfg.input.keyboard.clone(),
        rules: Vec::new(),
    };
    crate::wayland::socket::SocketPlace::choose(&wl)
        .bind()
        .map_err(|e| warn!("supervisor: each master binds the Wayland socket itself: {e}"))
        .ok()
}

#[cfg(not(feature = "wayland"))]
fn wayland_socket(_: &crate::config::Config, _: &fusion::WorldConfig) -> Option<()> {
    None
}

fn start(
    exe: &std::path::Path,
    args: &[std::ffi::OsString],
    held: &Held<'_>,
    restarts: u32,
) -> anyhow::Result<MasterChild> {
    let handover = held.world;
    let (link, master_end) = Link::pair().context("the supervisor's link")?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env(fusion::handover::ENV, handover.env_value())
        .env(link::ENV, master_end.as_raw_fd().to_string())
        .env(link::RESTARTS_ENV, restarts.to_string());
    let mut keep: Vec<i32> = handover
        .inheritable()
        .iter()
        .map(|fd| fd.as_raw_fd())
        .collect();
    keep.push(master_end.as_raw_fd());
    #[cfg(feature = "wayland")]
    if let Some(w) = held.wayland {
        cmd.env(crate::wayland::socket::HANDOVER_ENV, w.env_value());
        keep.extend(w.inheritable().iter().map(|fd| fd.as_raw_fd()));
    }
    fusionfb_sys::inherit_and_die_with_parent(&mut cmd, keep);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting the master ({})", exe.display()))?;
    drop(master_end);
    let pidfd = fusionfb_sys::pidfd_open(child.id())
        .map_err(|e| {
            warn!(
                "master pid {}: no pidfd, its exit is polled: {e}",
                child.id()
            )
        })
        .ok();
    Ok(MasterChild {
        child,
        pidfd,
        link,
        started,
        up: None,
        last_alive: started,
        terminated: None,
    })
}

/// What wakes the supervisor's wait besides its fds: `SIGTERM`, `SIGINT` and `SIGHUP` write to
/// a socket it polls (signal-hook's self-pipe); `SIGHUP` also sets [`Wake::hup`].
struct Wake {
    read: std::os::unix::net::UnixStream,
    hup: Arc<AtomicBool>,
}

impl Wake {
    fn new() -> anyhow::Result<Wake> {
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let write = OwnedFd::from(write);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
        }
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(libc::SIGHUP, hup.clone())?;
        Ok(Wake { read, hup })
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut &self.read, &mut buf), Ok(n) if n > 0) {}
    }
}
