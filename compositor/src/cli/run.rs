//! `fusionfb run` and `fusionfb screenshot`: the master on a backend chosen from the config
//! and the command line (with the config's `[[app]]` programs, supervised by
//! [`crate::apps`]), and a picture of what it shows.

use anyhow::Context as _;
use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use calloop::generic::Generic;
use calloop::{Interest, Mode, PostAction};
use gfx_drivers::backend::Backend;
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};
use tracing::{info, warn};

use crate::config::{self, Config};
use crate::server::Server;

/// What `fusionfb run` was asked for.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--backend B`, overriding the config.
    pub backend: Option<config::Backend>,
    /// `--world NAME`, overriding the config.
    pub world: Option<String>,
    /// `--no-restart`: run the master in this process, without the supervisor that starts it
    /// again when it dies ([`crate::supervisor`]).
    pub no_restart: bool,
}

/// Loads the config (or the defaults) — errors name the file, line and key.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

/// Opens the display backend the config and `choice` ask for, saying which and why in one
/// log line.
///
/// `auto` (the default) takes the first that works of: DRM/KMS if a usable card exists
/// (`gfx_drivers::drm::open::usable_card`), else fbdev if the framebuffer device exists and opens, else a
/// desktop window if a desktop session is present (`WAYLAND_DISPLAY` or `DISPLAY`), else
/// headless — so the master always comes up. A backend asked for by name must open, or it
/// is an error.
pub fn open_backend(
    cfg: &Config,
    choice: Option<config::Backend>,
) -> anyhow::Result<Box<dyn Backend>> {
    open_backend_and_seat(cfg, choice).map(|(b, _)| b)
}

/// The display's libseat session, when the backend opened its device through one.
pub type Seat = Option<gfx_drivers::drm::SeatSession>;

/// [`open_backend`], with the libseat session the DRM backend got its card through (if a
/// seat manager gave one), for the input devices.
pub fn open_backend_and_seat(
    cfg: &Config,
    choice: Option<config::Backend>,
) -> anyhow::Result<(Box<dyn Backend>, Seat)> {
    let wanted = choice.unwrap_or(cfg.display.backend);
    match wanted {
        config::Backend::Auto => open_auto(cfg),
        config::Backend::Drm => {
            let b = open_drm(cfg)?;
            info!("backend: drm (asked for): {}", drm_why(&b));
            let seat = b.session();
            Ok((Box::new(b), seat))
        }
        config::Backend::Headless => {
            info!("backend: headless (asked for)");
            open_headless(cfg).map(|b| (b, None))
        }
        config::Backend::Fbdev => {
            let device = fbdev_device(cfg);
            let b = open_fbdev(&device, cfg)?;
            info!("backend: fbdev on {} (asked for)", device.display());
            Ok((b, None))
        }
        config::Backend::Window => {
            let b = open_window(cfg)?;
            info!("backend: window (asked for)");
            Ok((b, None))
        }
    }
}

/// The DRM backend on the config's `display.device` (or the first usable card) in its
/// `display.mode`.
fn open_drm(cfg: &Config) -> anyhow::Result<gfx_drivers::DrmBackend> {
    let mode = match cfg.display.mode {
        config::Mode::Preferred => gfx_drivers::ModeChoice::Preferred,
        config::Mode::Current => gfx_drivers::ModeChoice::Current,
        config::Mode::Exact {
            width,
            height,
            refresh_mhz,
        } => gfx_drivers::ModeChoice::Exact {
            width,
            height,
            refresh_mhz,
        },
    };
    let drm = gfx_drivers::DrmConfig {
        device: cfg.display.device.clone(),
        mode,
        vt: vt_choice(cfg),
        allocator: match cfg.display.allocator {
            config::Allocator::Dumb => gfx_drivers::drm::Allocator::Dumb,
            config::Allocator::Gbm => gfx_drivers::drm::Allocator::Gbm,
        },
        output: cfg.display.output.clone(),
    };
    gfx_drivers::DrmBackend::open(&drm).context("drm backend")
}

fn vt_choice(cfg: &Config) -> gfx_drivers::vt::VtChoice {
    match cfg.display.vt {
        config::Vt::Auto => gfx_drivers::vt::VtChoice::Auto,
        config::Vt::Off => gfx_drivers::vt::VtChoice::Off,
    }
}

fn drm_why(b: &gfx_drivers::DrmBackend) -> String {
    format!("{}, {}", b.device_path().display(), b.how_opened())
}

fn open_auto(cfg: &Config) -> anyhow::Result<(Box<dyn Backend>, Seat)> {
    // Why each better backend was passed over, for the one log line.
    let mut passed = Vec::new();
    match gfx_drivers::drm::open::usable_card(cfg.display.device.as_deref()) {
        Ok(card) => match open_drm(cfg) {
            Ok(b) => {
                info!(
                    "backend: drm (auto: {} has a connected display): {}",
                    card.display(),
                    drm_why(&b)
                );
                let seat = b.session();
                return Ok((Box::new(b), seat));
            }
            Err(e) => passed.push(format!("drm: {}, but {e}", card.display())),
        },
        Err(why) => passed.push(format!("drm: no usable card ({why})")),
    }
    let device = fbdev_device(cfg);
    if device.exists() {
        match open_fbdev(&device, cfg) {
            Ok(b) => {
                info!(
                    "backend: fbdev on {} (auto: {})",
                    device.display(),
                    passed.join("; ")
                );
                return Ok((b, None));
            }
            Err(e) => passed.push(format!("fbdev: {e}")),
        }
    } else {
        passed.push(format!("fbdev: no {}", device.display()));
    }
    match gfx_drivers::window::desktop_session() {
        Some(session) => match open_window(cfg) {
            Ok(b) => {
                info!(
                    "backend: window (auto: desktop session {session}; {})",
                    passed.join("; ")
                );
                return Ok((b, None));
            }
            Err(e) => passed.push(format!("window: {e}")),
        },
        None => passed.push("window: no desktop session (DISPLAY, WAYLAND_DISPLAY)".into()),
    }
    info!("backend: headless (auto: {})", passed.join("; "));
    open_headless(cfg).map(|b| (b, None))
}

/// The headless backend: one output in `[display]`'s mode, or one per enabled `[[output]]`
/// table, named and sized as it says.
fn open_headless(cfg: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let (size, mhz) = cfg.display.headless_mode();
    let outs: Vec<HeadlessOutputConfig> = if cfg.outputs.is_empty() {
        vec![HeadlessOutputConfig::new().mode(size.width, size.height, mhz)]
    } else {
        cfg.outputs
            .iter()
            .filter(|o| o.enabled)
            .map(|o| {
                let (w, h, m) = match o.mode {
                    Some(config::Mode::Exact {
                        width,
                        height,
                        refresh_mhz,
                    }) => (width, height, refresh_mhz.unwrap_or(mhz)),
                    _ => (size.width, size.height, mhz),
                };
                HeadlessOutputConfig::new().name(&o.name).mode(w, h, m)
            })
            .collect()
    };
    Ok(Box::new(HeadlessBackend::new(outs)?))
}

/// Which outputs the master drives and how: the `[[output]]` tables over `[display]`.
pub fn output_rules(cfg: &Config) -> crate::server::OutputRules {
    use crate::server::{OutputRules, OutputSpec};
    OutputRules {
        named: cfg
            .outputs
            .iter()
            .map(|o| OutputSpec {
                name: o.name.clone(),
                transform: o.transform,
                background: o.background.map(|c| c.argb8888() & 0xff_ffff),
                position: o.position.map(|p| (p.x, p.y)),
                mode: match o.mode {
                    Some(config::Mode::Exact {
                        width,
                        height,
                        refresh_mhz,
                    }) => Some((width, height, refresh_mhz.unwrap_or(0))),
                    _ => None,
                },
                enabled: o.enabled,
            })
            .collect(),
        only: cfg.display.output.clone(),
        transform: cfg.display.transform,
    }
}

/// The framebuffer device: the config's `device` when it names one (`/dev/fb*`), else
/// `/dev/fb0`.
fn fbdev_device(cfg: &Config) -> PathBuf {
    cfg.display
        .device
        .clone()
        .filter(|d| {
            cfg.display.backend == config::Backend::Fbdev
                || d.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("fb"))
        })
        .unwrap_or_else(|| PathBuf::from(gfx_drivers::fbdev::DEFAULT_DEVICE))
}

fn open_fbdev(device: &Path, cfg: &Config) -> anyhow::Result<Box<dyn Backend>> {
    Ok(Box::new(gfx_drivers::FbdevBackend::open_with(
        device,
        vt_choice(cfg),
    )?))
}

/// The desktop window: the config's mode size, else the headless default size.
fn open_window(cfg: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let (size, _) = cfg.display.headless_mode();
    let title = format!(
        "fusionfb — {}",
        cfg.world.name.as_deref().unwrap_or("default")
    );
    Ok(Box::new(
        gfx_drivers::WindowBackend::open(&title, size.width, size.height)
            .context("window backend")?,
    ))
}

/// The server's layers for the config's `[[layer]]` tables, bottom to top.
pub fn layer_specs(cfg: &Config) -> Vec<crate::server::LayerSpec> {
    use gfx_drivers::backend::PlaneKind;
    cfg.layers_bottom_to_top()
        .into_iter()
        .map(|l| crate::server::LayerSpec {
            id: l.id,
            kind: match l.kind {
                config::LayerKind::Primary => PlaneKind::Primary,
                config::LayerKind::Overlay => PlaneKind::Overlay,
                config::LayerKind::Cursor => PlaneKind::Cursor,
            },
            allow_exclusive: l.allow_exclusive,
            size: l.size.map(|s| (s.width, s.height)),
            position: (l.position.x, l.position.y),
            output: l.output.clone(),
        })
        .collect()
}

/// `fusionfb run`: the supervisor ([`crate::supervisor`]), which starts the master as a
/// child process and again when it dies; the master itself when this process is that child;
/// or, with `--no-restart`, the master with its apps in this process.
pub fn run(opts: &RunOptions, stop: &AtomicUsize) -> anyhow::Result<()> {
    match crate::supervisor::link::Link::from_env() {
        Some(link) => run_master(opts, stop, Some(link)),
        None if opts.no_restart => run_master(opts, stop, None),
        None => crate::supervisor::supervise(opts, stop),
    }
}

/// Runs the master until `stop` holds a signal number (or the display is closed). Without a
/// `supervisor` (its link, and how many masters died before this one) it starts the config's
/// `[[app]]` programs once the display is up and restarts them by their policy, and at the
/// end asks the slaves to leave, then stops the apps still running (SIGTERM, then SIGKILL);
/// with one, the supervisor does that and the master tells it when the display is up and
/// that its loop turns. The log says why it stopped.
fn run_master(
    opts: &RunOptions,
    stop: &AtomicUsize,
    supervisor: Option<(crate::supervisor::link::Link, u32)>,
) -> anyhow::Result<()> {
    let cfg = load_config(opts.config.as_deref())?;
    crate::cli::input::check_keymap(&cfg, opts.config.as_deref())?;
    let world = cfg
        .world
        .fusion_config(opts.world.as_deref())
        .context("world group")?;
    let (backend, seat) = open_backend_and_seat(&cfg, opts.backend)?;
    let name = world.name.clone();
    let server_world = world.clone();
    // The config's input source goes into the constructor, which then makes no default one.
    let input = crate::cli::input::open_input(&cfg, seat.as_ref());
    let mut server =
        Server::with_outputs(world, backend, output_rules(&cfg), layer_specs(&cfg), input)
            .with_context(|| format!("world {name:?}"))?;
    server.set_background(cfg.display.background.argb8888());
    server.set_blank_after(cfg.display.blank_after.0);
    server.set_config_source(crate::server::ConfigSource {
        path: opts.config.clone(),
        running: cfg.clone(),
    });
    server.set_cursor_visible(cfg.input.cursor_visible);
    #[cfg(feature = "wayland")]
    if cfg.wayland.enabled {
        let wl = crate::wayland::WaylandConfig {
            socket: cfg.wayland.socket.clone(),
            world: name.clone(),
            fallback_dir: server_world.dir(),
            keyboard: cfg.input.keyboard.clone(),
            rules: cfg.wayland.rules.clone(),
        };
        server.start_wayland(&wl).context("wayland frontend")?;
    }
    let (w, h) = server.size();
    eprintln!(
        "fusionfb: master of world {name:?} (pid {}), {w}x{h}, socket {}",
        server.master().pid(),
        server.master().world().socket_path().display()
    );
    // The display is up and the world's socket listens: start the config's apps, or tell
    // the supervisor, which starts them. (Dropped on an error return, the apps' supervisor
    // still stops and reaps them.)
    let supervised = supervisor.is_some();
    let local_apps: &[crate::config::App] = if supervised { &[] } else { &cfg.apps };
    let mut apps = crate::apps::Supervisor::new(local_apps, &server_world);
    let wakes = LoopWakes::new(&mut server);
    let mut watched = HashSet::new();
    #[allow(unused_mut)]
    let mut wayland_display = None;
    #[cfg(feature = "wayland")]
    if let Some(place) = server.wayland_socket() {
        eprintln!(
            "fusionfb: wayland socket {} (WAYLAND_DISPLAY={})",
            place.path.display(),
            place.display
        );
        wayland_display = Some(place.display.clone());
        apps.set_env("WAYLAND_DISPLAY", place.display);
    }
    if let Some((link, restarts)) = supervisor {
        server.set_restarts(restarts);
        link.send(&crate::supervisor::link::ToSupervisor::Up { wayland_display });
        watch_supervisor(&mut server, link)?;
    } else {
        apps.poll(Instant::now());
        server.set_apps(apps.report(Instant::now()));
    }
    // Start-up is over (config, devices, keymaps, the Wayland globals): the heap pages it
    // freed would otherwise stay resident for the master's whole life.
    fusionfb_sys::release_free_heap();
    let why = loop {
        let sig = stop.load(Ordering::Relaxed);
        if sig != 0 {
            break signal_name(sig as i32);
        }
        if wakes.hup.swap(false, Ordering::Relaxed) {
            // The outcome is logged; a refused file leaves the running config as it is.
            let _ = server.reload();
        }
        // The loop wakes for a stop signal and an app's exit (their fds are sources on it),
        // and for the next pending restart; an app without a pidfd (an old kernel) is
        // noticed within 200 ms.
        watch_exits(&mut server, &apps, &mut watched);
        let mut timeout = apps
            .next_deadline()
            .map(|at| at.saturating_duration_since(Instant::now()));
        if !wakes.signals || !apps.all_have_pidfds() {
            let cap = Duration::from_millis(200);
            timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
        }
        if let Err(e) = server.dispatch(timeout) {
            info!("master stopping: {e}");
            return Err(e.into());
        }
        if !supervised && !apps.is_empty() {
            let now = Instant::now();
            apps.poll(now);
            server.set_apps(apps.report(now));
        }
        if server.display_closed() {
            break "the display was closed".to_string();
        }
    };
    let m = server.master();
    info!(
        slaves = m.fusionees().len(),
        "master stopping: {why}; asking the slaves to leave"
    );
    m.kill(None, Duration::from_secs(2));
    let _ = m.dispatch_until(Duration::from_secs(3), |m| m.fusionees().is_empty());
    // Slaves were asked to leave; apps that did not (or are no slaves) get SIGTERM, then
    // SIGKILL.
    apps.stop(Duration::from_secs(2));
    Ok(())
}

/// Puts the supervisor's link on the server's loop: the apps' state it sends goes to the
/// status, and a timer says the loop turns every [`crate::supervisor::link::ALIVE_EVERY`].
fn watch_supervisor(
    server: &mut Server,
    link: crate::supervisor::link::Link,
) -> anyhow::Result<()> {
    use crate::supervisor::link::{ToMaster, ToSupervisor, ALIVE_EVERY};
    use calloop::timer::{TimeoutAction, Timer};
    let link = std::rc::Rc::new(link);
    let heartbeat = link.clone();
    server
        .loop_handle()
        .insert_source(Timer::from_duration(ALIVE_EVERY), move |_, _, _| {
            heartbeat.send(&ToSupervisor::Alive);
            TimeoutAction::ToDuration(ALIVE_EVERY)
        })
        .map_err(|e| anyhow::anyhow!("the supervisor's heartbeat: {}", e.error))?;
    let fd = link
        .as_fd()
        .try_clone_to_owned()
        .context("the supervisor's link")?;
    let source = Generic::new(fd, Interest::READ, Mode::Level);
    server
        .loop_handle()
        .insert_source(source, move |_, _, server: &mut Server| {
            while let Some(ToMaster::Apps(apps)) = link.recv::<ToMaster>() {
                server.set_apps(apps);
            }
            Ok(PostAction::Continue)
        })
        .map_err(|e| anyhow::anyhow!("the supervisor's link: {}", e.error))?;
    Ok(())
}

/// What wakes `fusionfb run`'s loop besides the server's own sources.
struct LoopWakes {
    /// SIGTERM, SIGINT and SIGHUP write to a socket on the loop (else the loop polls the
    /// flags).
    signals: bool,
    /// SIGHUP came: reload the config.
    hup: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LoopWakes {
    /// Puts a socket that SIGTERM and SIGINT write to on the server's loop (signal-hook's
    /// self-pipe; `main` stores which signal it was in the stop flag).
    fn new(server: &mut Server) -> LoopWakes {
        let signals = match watch_signals(server) {
            Ok(()) => true,
            Err(e) => {
                warn!("stop signals are polled, not watched: {e}");
                false
            }
        };
        let hup = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(libc::SIGHUP, hup.clone()) {
            warn!("SIGHUP (reload) not caught: {e}");
        }
        LoopWakes { signals, hup }
    }
}

fn watch_signals(server: &mut Server) -> anyhow::Result<()> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    let write = OwnedFd::from(write);
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
    }
    let source = Generic::new(read, Interest::READ, Mode::Level);
    server
        .loop_handle()
        .insert_source(source, |_, read, _| {
            let mut buf = [0u8; 16];
            while matches!(std::io::Read::read(&mut &**read, &mut buf), Ok(n) if n > 0) {}
            Ok(PostAction::Continue)
        })
        .map_err(|e| anyhow::anyhow!("{}", e.error))?;
    Ok(())
}

/// Puts the pidfd of each app started since the last call on the server's loop, so that
/// its exit wakes the loop (the supervisor reaps it after the turn).
fn watch_exits(server: &mut Server, apps: &crate::apps::Supervisor, watched: &mut HashSet<u32>) {
    let running: HashSet<u32> = apps.pidfds().map(|(pid, _)| pid).collect();
    watched.retain(|pid| running.contains(pid));
    for (pid, fd) in apps.pidfds() {
        if watched.contains(&pid) {
            continue;
        }
        let Ok(fd) = fd.try_clone_to_owned() else {
            continue;
        };
        // An exit is for good: the source goes once it fired.
        let source = Generic::new(fd, Interest::READ, Mode::Level);
        match server
            .loop_handle()
            .insert_source(source, |_, _, _| Ok(PostAction::Remove))
        {
            Ok(_) => {
                watched.insert(pid);
            }
            Err(e) => warn!(
                "app pid {pid}: its exit is polled, not watched: {}",
                e.error
            ),
        }
    }
}

/// `SIGTERM` for 15, and so on.
pub(crate) fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}
