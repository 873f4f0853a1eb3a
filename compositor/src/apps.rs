//! The `[[app]]` supervisor: the programs `fusionfb run` starts once the display is up
//! (kiosk use), restarted by their `restart` policy, reported in `fusionfb status`, and
//! stopped with the master.
//!
//! [`Supervisor`] is a plain state machine with no loop and no thread of its own, so it plugs
//! into whatever loop the master runs: call [`Supervisor::poll`] whenever something may have
//! happened — periodically (the master's loop dispatches with a 200 ms cap) or when an
//! app's pidfd ([`Supervisor::pidfds`]) polls readable — and at
//! [`Supervisor::next_deadline`] at the latest (a pending restart). `poll` reaps exited
//! apps without blocking (`try_wait`), so none stays a zombie.
//!
//! What it does with each app:
//!
//! - **Start**: the program (a path, or a name looked up in `PATH`) with its `args`, its
//!   stdin on `/dev/null`, stdout and stderr shared with the master (its log), and in an
//!   environment of the master's plus `FUSIONFB_WORLD` (the world's name) and
//!   `FUSIONFB_RUNTIME_DIR` (the directory holding the world), so the app finds this master
//!   wherever the master's own runtime directory came from, and `FUSIONFB_ABI` (the world's
//!   application ABI, `[world] abi`), and `WAYLAND_DISPLAY` when the master runs its Wayland
//!   frontend ([`Supervisor::set_env`]); the app's `env` comes last and
//!   may override them. Each app gets a process group of its own, so a Ctrl+C on the
//!   master's terminal reaches the master alone and the master stops its apps in order. One
//!   log line per start: `app fusionfb-paint started (pid 1234)`.
//! - **Exit**: logged with its status. `restart = "never"` leaves it exited; `on-failure`
//!   starts it again when it failed (a non-zero status, a signal, or it could not be
//!   started); `always` starts it again whatever the status. Restarts back off: the first
//!   after [`FIRST_BACKOFF`], each next one twice as late, at most [`MAX_BACKOFF`]; a run of
//!   [`STABLE_AFTER`] or longer counts as healthy and resets the back-off and the failure
//!   count. After [`GIVE_UP_EXITS`] exits of unhealthy runs within [`GIVE_UP_WINDOW`] the
//!   supervisor gives up on the app and logs why.
//! - **Stop** ([`Supervisor::stop`], when the master shuts down, after it asked its slaves
//!   to leave): `SIGTERM` to every app still running (through its pidfd, never a recycled
//!   pid), a grace period, then `SIGKILL`; every app is reaped. Dropping the supervisor
//!   does the same, so an error path of the master leaves no app behind.
//!
//! A master that dies without stopping its apps (SIGKILL) leaves them running; they get
//! `MasterGone` from the world like any slave (DESIGN: master restart).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fusionfb_protocol::{AppExit, AppState, AppStatus};
use tracing::{info, warn};

use crate::config::{App, Restart};

/// The delay before the first restart after an unhealthy run.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest delay between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run at least this long is healthy: the back-off and the failure count start afresh.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How many unhealthy exits within [`GIVE_UP_WINDOW`] make the supervisor give up.
pub const GIVE_UP_EXITS: usize = 5;
/// See [`GIVE_UP_EXITS`].
pub const GIVE_UP_WINDOW: Duration = Duration::from_secs(60);

/// The master's `[[app]]` programs and their processes. See the module docs.
#[derive(Debug)]
pub struct Supervisor {
    apps: Vec<Supervised>,
    /// What every app gets on top of the master's environment.
    env: Vec<(String, OsString)>,
    /// No app starts while set (the master is being restarted): see [`Supervisor::hold`].
    held: bool,
}

/// One app and what became of it.
#[derive(Debug)]
struct Supervised {
    app: App,
    phase: Phase,
    restarts: u32,
    last_exit: Option<AppExit>,
    /// The delay before the next restart.
    backoff: Duration,
    /// When the unhealthy runs since the last healthy one ended (within the window).
    exits: VecDeque<Instant>,
}

#[derive(Debug)]
enum Phase {
    Waiting,
    Running(Running),
    Exited,
    Restarting { at: Instant },
    GaveUp { reason: String },
    Stopped,
}

#[derive(Debug)]
struct Running {
    child: Child,
    /// For signals that cannot reach a recycled pid, and for loops that wait on exits.
    pidfd: Option<OwnedFd>,
    since: Instant,
}

/// `app` with `FUSIONFB_OUTPUT` in its environment when its `output` names one (its own
/// `env` still wins).
fn with_output_env(app: &App) -> App {
    let mut app = app.clone();
    if let Some(out) = &app.output {
        app.env
            .entry("FUSIONFB_OUTPUT".into())
            .or_insert_with(|| out.clone());
    }
    app
}

impl Supervisor {
    /// A supervisor for `apps` (the config's `[[app]]` tables) of the master of `world`;
    /// nothing starts before the first [`poll`](Supervisor::poll).
    pub fn new(apps: &[App], world: &fusion::WorldConfig) -> Supervisor {
        Supervisor {
            apps: apps
                .iter()
                .map(|app| Supervised {
                    app: with_output_env(app),
                    phase: Phase::Waiting,
                    restarts: 0,
                    last_exit: None,
                    backoff: FIRST_BACKOFF,
                    exits: VecDeque::new(),
                })
                .collect(),
            env: vec![
                ("FUSIONFB_WORLD".into(), world.name.clone().into()),
                ("FUSIONFB_RUNTIME_DIR".into(), world.base_dir().into()),
                ("FUSIONFB_ABI".into(), world.abi.to_string().into()),
            ],
            held: false,
        }
    }

    /// Sets a variable in every app's environment (before the app's own `env`), for the apps
    /// started from now on: `WAYLAND_DISPLAY` once the Wayland socket listens.
    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        let value = value.into();
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.env.push((key.to_string(), value)),
        }
    }

    /// Holds back starts and restarts (`on`) while there is no master to join (it died and
    /// is being started again), or lets them go ahead; exits are still reaped and decided.
    pub fn hold(&mut self, on: bool) {
        self.held = on;
    }

    /// Whether there are no apps to supervise.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// Does what is due at `now`: starts apps not started yet and restarts whose time has
    /// come, reaps apps that exited (without blocking) and decides what follows.
    pub fn poll(&mut self, now: Instant) {
        for i in 0..self.apps.len() {
            let env = &self.env;
            let s = &mut self.apps[i];
            match &mut s.phase {
                Phase::Waiting | Phase::Restarting { .. } if self.held => {}
                Phase::Waiting => s.spawn(env, now),
                Phase::Restarting { at } if *at <= now => {
                    s.restarts += 1;
                    s.spawn(env, now);
                }
                Phase::Running(r) => match r.child.try_wait() {
                    Ok(Some(status)) => {
                        let (pid, ran) = (r.child.id(), now.saturating_duration_since(r.since));
                        s.exited(Some(pid), exit_of(status), ran, now);
                    }
                    Ok(None) => {}
                    Err(e) => warn!("app {}: cannot ask whether it exited: {e}", s.app.command),
                },
                _ => {}
            }
        }
    }

    /// The next time [`poll`](Supervisor::poll) has something to do besides noticing
    /// exits (a pending restart); `None` when nothing is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.held {
            return None;
        }
        self.apps
            .iter()
            .filter_map(|s| match s.phase {
                Phase::Restarting { at } => Some(at),
                Phase::Waiting => Some(Instant::now()),
                _ => None,
            })
            .min()
    }

    /// The pids and pidfds of the running apps: each pidfd polls readable when its app
    /// exits (for a loop that waits on them instead of polling periodically).
    pub fn pidfds(&self) -> impl Iterator<Item = (u32, BorrowedFd<'_>)> {
        self.apps.iter().filter_map(|s| match &s.phase {
            Phase::Running(r) => r.pidfd.as_ref().map(|fd| (r.child.id(), fd.as_fd())),
            _ => None,
        })
    }

    /// Whether every running app has a pidfd (else exits are only noticed by polling).
    pub fn all_have_pidfds(&self) -> bool {
        self.apps.iter().all(|s| match &s.phase {
            Phase::Running(r) => r.pidfd.is_some(),
            _ => true,
        })
    }

    /// Every app's state at `now`, in config order, as `fusionfb status` shows it.
    pub fn report(&self, now: Instant) -> Vec<AppStatus> {
        self.apps
            .iter()
            .map(|s| AppStatus {
                command: s.app.command.clone(),
                args: s.app.args.clone(),
                restart: s.app.restart.to_string(),
                pid: match &s.phase {
                    Phase::Running(r) => Some(r.child.id()),
                    _ => None,
                },
                state: match &s.phase {
                    Phase::Waiting => AppState::Waiting,
                    Phase::Running(_) => AppState::Running,
                    Phase::Exited => AppState::Exited,
                    Phase::Restarting { at } => AppState::Restarting {
                        in_ms: at.saturating_duration_since(now).as_millis() as u64,
                    },
                    Phase::GaveUp { reason } => AppState::GaveUp {
                        reason: reason.clone(),
                    },
                    Phase::Stopped => AppState::Stopped,
                },
                restarts: s.restarts,
                last_exit: s.last_exit.clone(),
            })
            .collect()
    }

    /// Stops every app: `SIGTERM` to those still running, up to `grace` for them to exit,
    /// then `SIGKILL`; all are reaped, and none is started again.
    pub fn stop(&mut self, grace: Duration) {
        for s in &mut self.apps {
            if let Phase::Running(r) = &mut s.phase {
                match &r.pidfd {
                    Some(fd) => {
                        if let Err(e) = fusionfb_sys::pidfd_term(fd.as_fd()) {
                            warn!("app {}: cannot send SIGTERM: {e}", s.app.command);
                        }
                    }
                    // No pidfd (an old kernel): std can only send SIGKILL.
                    None => {
                        let _ = r.child.kill();
                    }
                }
            }
        }
        let end = Instant::now() + grace;
        loop {
            let mut running = false;
            for s in &mut self.apps {
                if let Phase::Running(r) = &mut s.phase {
                    match r.child.try_wait() {
                        Ok(Some(status)) => {
                            let pid = r.child.id();
                            s.stopped(pid, exit_of(status));
                        }
                        _ => running = true,
                    }
                }
            }
            if !running || Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for s in &mut self.apps {
            match &mut s.phase {
                Phase::Running(r) => {
                    let pid = r.child.id();
                    warn!(
                        "app {} (pid {pid}) did not exit within {:.1} s of SIGTERM: killing it",
                        s.app.command,
                        grace.as_secs_f64()
                    );
                    let _ = r.child.kill();
                    match r.child.wait() {
                        Ok(status) => s.stopped(pid, exit_of(status)),
                        Err(e) => {
                            warn!("app {} (pid {pid}): cannot reap: {e}", s.app.command);
                            s.phase = Phase::Stopped;
                        }
                    }
                }
                Phase::Waiting | Phase::Restarting { .. } => s.phase = Phase::Stopped,
                _ => {}
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self
            .apps
            .iter()
            .any(|s| matches!(s.phase, Phase::Running(_)))
        {
            self.stop(Duration::from_millis(500));
        }
    }
}

impl Supervised {
    /// Starts the app; a failure to start counts as a failed run.
    fn spawn(&mut self, env: &[(String, OsString)], now: Instant) {
        let app = &self.app;
        let mut cmd = Command::new(&app.command);
        cmd.args(&app.args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .envs(&app.env)
            .stdin(Stdio::null())
            .process_group(0);
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id();
                info!("app {} started (pid {pid})", app.command);
                // The child is not reaped yet, so its pid cannot have been recycled.
                let pidfd = fusionfb_sys::pidfd_open(pid)
                    .map_err(|e| warn!("app {} (pid {pid}): no pidfd: {e}", app.command))
                    .ok();
                self.phase = Phase::Running(Running {
                    child,
                    pidfd,
                    since: now,
                });
            }
            Err(e) => {
                let exit = AppExit::NotStarted(e.to_string());
                self.exited(None, exit, Duration::ZERO, now);
            }
        }
    }

    /// Logs how a run ended and decides what follows, by the app's policy.
    fn exited(&mut self, pid: Option<u32>, exit: AppExit, ran: Duration, now: Instant) {
        let name = &self.app.command;
        let who = match pid {
            Some(pid) => format!("app {name} (pid {pid})"),
            None => format!("app {name}"),
        };
        if exit.success() {
            info!("{who} exited: {exit}");
        } else {
            warn!("{who} exited: {exit}");
        }
        let restart = match self.app.restart {
            Restart::Never => false,
            Restart::OnFailure => !exit.success(),
            Restart::Always => true,
        };
        self.last_exit = Some(exit.clone());
        if !restart {
            self.phase = Phase::Exited;
            return;
        }
        if ran >= STABLE_AFTER {
            self.backoff = FIRST_BACKOFF;
            self.exits.clear();
        }
        self.exits.push_back(now);
        while self
            .exits
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) > GIVE_UP_WINDOW)
        {
            self.exits.pop_front();
        }
        if self.exits.len() >= GIVE_UP_EXITS {
            let reason = format!(
                "it exited {} times within {} s, each time after less than {} s (last: {exit})",
                self.exits.len(),
                GIVE_UP_WINDOW.as_secs(),
                STABLE_AFTER.as_secs()
            );
            warn!("app {name}: gave up restarting it: {reason}");
            self.phase = Phase::GaveUp { reason };
            return;
        }
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        info!(
            "app {name}: restarting in {:.1} s (restart = \"{}\")",
            delay.as_secs_f64(),
            self.app.restart
        );
        self.phase = Phase::Restarting { at: now + delay };
    }

    /// Logs how a run the master stopped ended.
    fn stopped(&mut self, pid: u32, exit: AppExit) {
        info!("app {} (pid {pid}) stopped: {exit}", self.app.command);
        self.last_exit = Some(exit);
        self.phase = Phase::Stopped;
    }
}

/// How a reaped process ended.
fn exit_of(status: ExitStatus) -> AppExit {
    match (status.code(), status.signal()) {
        (Some(code), _) => AppExit::Code(code),
        (None, Some(sig)) => AppExit::Signal(sig),
        (None, None) => AppExit::NotStarted(format!("unknown status {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(command: &str, args: &[&str], restart: Restart) -> App {
        App {
            command: command.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Default::default(),
            output: None,
            restart,
        }
    }

    fn world() -> fusion::WorldConfig {
        fusion::WorldConfig::new("apps-unit").runtime_dir("/nonexistent/fusionfb-apps-unit")
    }

    /// Polls until `done` holds for the report, jumping the clock to each pending restart
    /// (the supervisor only compares instants; nothing here waits for a back-off).
    fn poll_until(
        s: &mut Supervisor,
        mut done: impl FnMut(&[AppStatus]) -> bool,
    ) -> Vec<AppStatus> {
        let mut now = Instant::now();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            s.poll(now);
            let report = s.report(now);
            if done(&report) {
                return report;
            }
            assert!(Instant::now() < end, "timed out: {report:?}");
            match s.next_deadline() {
                Some(at) if at > now => now = at,
                _ => {
                    std::thread::sleep(Duration::from_millis(5));
                    now = now.max(Instant::now());
                }
            }
        }
    }

    #[test]
    fn an_app_that_keeps_failing_is_given_up_with_backoff_and_a_reason() {
        let mut s = Supervisor::new(&[app("false", &[], Restart::OnFailure)], &world());
        // The delay announced before each restart.
        let mut delays = Vec::new();
        let report = poll_until(&mut s, |r| {
            if let AppState::Restarting { in_ms } = r[0].state {
                if delays.len() == r[0].restarts as usize {
                    delays.push(in_ms);
                }
            }
            matches!(r[0].state, AppState::GaveUp { .. })
        });
        assert_eq!(delays, [500, 1000, 2000, 4000]);
        assert_eq!(report[0].restarts, GIVE_UP_EXITS as u32 - 1, "{report:?}");
        assert_eq!(report[0].last_exit, Some(AppExit::Code(1)));
        assert_eq!(report[0].pid, None);
        let AppState::GaveUp { reason } = &report[0].state else {
            unreachable!()
        };
        assert!(reason.contains("5 times within 60 s"), "{reason}");
        assert!(reason.contains("exit status 1"), "{reason}");
    }

    #[test]
    fn never_and_on_failure_leave_a_clean_exit_alone() {
        let mut s = Supervisor::new(
            &[
                app("true", &[], Restart::OnFailure),
                app("false", &[], Restart::Never),
            ],
            &world(),
        );
        let report = poll_until(&mut s, |r| r.iter().all(|a| a.state == AppState::Exited));
        assert_eq!(report[0].last_exit, Some(AppExit::Code(0)));
        assert_eq!(report[1].last_exit, Some(AppExit::Code(1)));
        assert!(report.iter().all(|a| a.restarts == 0));
    }

    #[test]
    fn always_restarts_a_clean_exit_and_a_missing_program_is_a_failure() {
        let mut s = Supervisor::new(
            &[
                app("true", &[], Restart::Always),
                app("/nonexistent/fusionfb-app", &[], Restart::Never),
            ],
            &world(),
        );
        let report = poll_until(&mut s, |r| {
            r[0].restarts >= 2 && r[1].state != AppState::Waiting
        });
        assert_eq!(report[1].state, AppState::Exited);
        assert!(
            matches!(report[1].last_exit, Some(AppExit::NotStarted(_))),
            "{report:?}"
        );
    }

    #[test]
    fn apps_see_the_world_and_their_env_and_stop_ends_them() {
        let dir = std::env::temp_dir().join(format!("fusionfb-apps-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("env");
        let mut a = app(
            "sh",
            &[
                "-c",
                "echo \"$FUSIONFB_WORLD $FUSIONFB_RUNTIME_DIR $FUSIONFB_ABI $EXTRA\" > \"$OUT.tmp\" && \
                 mv \"$OUT.tmp\" \"$OUT\" && exec sleep 60",
            ],
            Restart::Always,
        );
        a.env.insert("EXTRA".into(), "x".into());
        a.env.insert("OUT".into(), out.display().to_string());
        let w = fusion::WorldConfig::new("apps-env")
            .runtime_dir(&dir)
            .abi(3);
        let mut s = Supervisor::new(&[a], &w);
        let report = poll_until(&mut s, |_| out.exists());
        let pid = report[0].pid.expect("running");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            format!("apps-env {} 3 x", dir.display())
        );
        assert_eq!(s.pidfds().count(), 1);
        s.stop(Duration::from_secs(10));
        let report = s.report(Instant::now());
        assert_eq!(report[0].state, AppState::Stopped);
        assert_eq!(report[0].last_exit, Some(AppExit::Signal(libc::SIGTERM)));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
