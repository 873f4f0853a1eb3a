//! # fusionfb-bench — what the display server costs, measured
//!
//! This crate's room in the house: the benchmarks of the master (`fusionfb`), apart from it so
//! that the production library does not carry them nor depend on the client library their
//! client processes use. The binary `fusionfb-bench [--json] [--quick]` runs them (release
//! builds), and `fusionfb bench` runs that binary. Figures are measured, never asserted:
//!
//! - composition ([`compose`]): 4 ARGB 640x480 windows over a 1280x800 XRGB background, full
//!   damage, side by side with bare pixman and a memcpy of the frame, and a 64x64 damage
//!   region;
//! - start-up: from creating the server to its first frame on the (headless) glass;
//! - slave join time: entering the world and reading its root, median and p99;
//! - memory: the master's resident set idle, and per connected client (client processes,
//!   pixel memory excluded: they create no surfaces);
//! - touch-to-app latency with 1 and 8 slaves, next to a bare cross-process wake-up
//!   ([`latency`]);
//! - bytes composed per frame for an exclusive layer and for a small damaged area, and
//!   flip-to-present latency in vblanks ([`frames`]);
//! - bytes composed per pointer motion with the hardware cursor plane and with the cursor
//!   composed ([`cursor`]);
//! - Wayland round trips (`wl_display.sync`) from a libwayland client to `fusionfb run` and
//!   to Weston, each in a process of its own, and a bare socket ping-pong, the floor under
//!   both, in the same run ([`wayland`]);
//! - master death to the picture back: `SIGKILL` to `fusionfb run`'s master until a client's
//!   window is presented again by the next one ([`restart`]).
//!
//! The measurements that need client processes start this same executable as
//! `fusionfb-bench --world W client --role ROLE` (a hidden subcommand; [`ClientRole`]); each
//! prints its samples as one line of numbers when the master asks it to leave.

#![deny(unsafe_code)]

pub mod compose;
pub mod cursor;
pub mod frames;
pub mod latency;
pub mod peers;
pub mod restart;
pub mod soak;
pub mod wayland;
pub mod wl_client;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde::Serialize;

use fusionfb::cli::run::open_backend;
use fusionfb::config::Config;
use fusionfb::server::Server;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// Median, or the single value.
    pub median: f64,
    /// 99th percentile (equal to the median for single values).
    pub p99: f64,
    /// Unit of both.
    pub unit: &'static str,
    /// What it is compared with, if anything.
    pub note: String,
}

fn figure(name: &str, median: f64, p99: f64, unit: &'static str, note: &str) -> Figure {
    Figure {
        name: name.into(),
        median,
        p99,
        unit,
        note: note.into(),
    }
}

/// The `p` quantile (0–1) of `v`, nearest rank; 0 for no samples. Sorts `v`.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(0.0)
}

/// The resident set of this process, in KiB.
fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A `/proc/self/status` field in KiB (`VmRSS:`, `RssShmem:`, …); 0 when absent.
fn status_kib(field: &str) -> u64 {
    proc_status_kib("self", field)
}

/// A field of `/proc/<pid>/status` in KiB (`pid` may be `self`); 0 when absent.
fn proc_status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What a bench client process (`fusionfb-bench client`) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientRole {
    /// Enter the world and wait (the per-client memory measurement).
    Idle,
    /// A window that records the latency of the touches it gets ([`latency`]).
    Touch,
    /// Read timestamps from a socket on stdin (the latency baseline, [`latency`]).
    Wake,
    /// Hold the primary layer exclusively and flip every frame ([`frames`]).
    Exclusive,
    /// A window changing a 32x32 square every frame ([`frames`]).
    Damage,
    /// Like `damage`, flipping at a random moment of each frame ([`frames`]).
    FlipRandom,
    /// A Wayland client redrawing a 256x256 toplevel every frame ([`wl_client`]).
    WlAnimate,
    /// A Wayland client recording when touches reach it ([`wl_client`]).
    WlTouch,
}

/// Runs a bench client of `role` in `world`; `at` places a touch window.
pub fn run_client(
    world: &str,
    role: ClientRole,
    at: (i32, i32),
    socket: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    match role {
        ClientRole::Idle => client(world),
        ClientRole::Touch => latency::touch_client(world, at.0, at.1),
        ClientRole::Wake => latency::wake_client(),
        ClientRole::Exclusive => frames::client(world, "exclusive"),
        ClientRole::Damage => frames::client(world, "damage"),
        ClientRole::FlipRandom => frames::client(world, "flip-random"),
        ClientRole::WlAnimate => wl_client::run(world, false, at, socket),
        ClientRole::WlTouch => wl_client::run(world, true, at, socket),
    }
}

/// Reads the line of numbers a bench client prints as it leaves, and waits for it.
fn read_samples(c: &mut Child) -> Vec<f64> {
    let mut s = String::new();
    if let Some(mut out) = c.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut s);
    }
    let _ = c.wait();
    parse_samples(&s)
}

/// The numbers in a bench client's report (anything else is skipped).
fn parse_samples(s: &str) -> Vec<f64> {
    s.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Kills and reaps its processes when dropped.
struct Clients(Vec<Child>);

impl Drop for Clients {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs every measurement; `quick` shrinks the sample counts.
pub fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let mut out = Vec::new();

    // Start-up and idle memory.
    let name = format!("bench-{}", std::process::id());
    let world = fusion::WorldConfig::new(&name);
    let t0 = Instant::now();
    let backend = open_backend(&Config::default(), None)?;
    let mut server = Server::new(world.clone(), backend).map_err(|e| err(&e))?;
    let created = t0.elapsed();
    server
        .dispatch_until(Duration::from_secs(10), |s| s.presented() > 0)
        .map_err(|e| err(&e))?;
    let first = t0.elapsed();
    out.push(figure(
        "start to first frame",
        first.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        "ms",
        &format!(
            "server created in {:.2} ms; headless 60 Hz",
            created.as_secs_f64() * 1e3
        ),
    ));
    // What `fusionfb run` does once it is set up, before its loop.
    fusionfb_sys::release_free_heap();
    let idle = rss_kib();
    out.push(figure(
        "master RSS idle",
        idle as f64 / 1024.0,
        idle as f64 / 1024.0,
        "MiB",
        "a master in this process (includes the two 1280x800 scan-out buffers, 8 MiB)",
    ));
    // The same without shared memory (memfd pixel buffers, the Fusion pools): the master's
    // own heap, stacks and code — this program's code, not the `fusionfb` binary's (see
    // `master_process_rss` for that).
    let own = status_kib("RssAnon:") + status_kib("RssFile:");
    out.push(figure(
        "master RSS idle excl. shared memory",
        own as f64 / 1024.0,
        own as f64 / 1024.0,
        "MiB",
        &format!(
            "a master in this process; RssAnon + RssFile: {} KiB heap, stacks and data + {} \
             KiB mapped code and read-only data (this program's and its libraries'); shared \
             (pixels, pools) {:.1} MiB",
            status_kib("RssAnon:"),
            status_kib("RssFile:"),
            status_kib("RssShmem:") as f64 / 1024.0
        ),
    ));

    // Join time, from another thread while the master serves.
    let joins = if quick { 20 } else { 200 };
    let w2 = world.clone();
    let h = std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
        let mut v = Vec::new();
        for _ in 0..joins {
            let t = Instant::now();
            let mut s = fusion::Slave::enter(w2.clone())?;
            s.root()?;
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(v)
    });
    while !h.is_finished() {
        server
            .dispatch(Some(Duration::from_millis(1)))
            .map_err(|e| err(&e))?;
    }
    let mut v = h
        .join()
        .map_err(|_| anyhow::anyhow!("join thread panicked"))??;
    let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
    out.push(figure("slave join (enter + root)", med, p99, "us", ""));

    // The Wayland frontend on: what it adds to the master's memory.
    let socket = wl_client::socket_of(&name);
    std::fs::create_dir_all(world.base_dir())?;
    server
        .start_wayland(&fusionfb::wayland::WaylandConfig {
            socket: Some(socket.to_string_lossy().into_owned()),
            world: name.clone(),
            fallback_dir: world.base_dir(),
            keyboard: Default::default(),
            rules: wayland_rules(),
        })
        .map_err(|e| err(&e))?;
    let with_wayland = status_kib("RssAnon:") + status_kib("RssFile:");
    out.push(figure(
        "master RSS idle excl. shared memory, Wayland on",
        with_wayland as f64 / 1024.0,
        with_wayland as f64 / 1024.0,
        "MiB",
        &format!(
            "the same, with the Wayland frontend listening: +{} KiB",
            with_wayland.saturating_sub(own)
        ),
    ));
    // The master as it is deployed: `fusionfb run`, its own binary.
    out.extend(master_process_rss()?);
    // The round trip is measured at the end, against `fusionfb run` in a process of its own,
    // the way Weston is.

    // Per-client overhead: client processes that connect and wait.
    let n = if quick { 2 } else { 8 };
    let exe = std::env::current_exe().map_err(|e| err(&e))?;
    let before = rss_kib();
    let mut clients = Clients(Vec::new());
    for _ in 0..n {
        clients.0.push(
            Command::new(&exe)
                .args(["--world", &name, "client"])
                .spawn()
                .map_err(|e| err(&e))?,
        );
    }
    server
        .dispatch_until(Duration::from_secs(20), |s| {
            s.master().fusionees().len() >= n
        })
        .map_err(|e| err(&e))?;
    server
        .dispatch_until(Duration::from_millis(200), |_| false)
        .map_err(|e| err(&e))?;
    let per = (rss_kib().saturating_sub(before)) as f64 / n as f64;
    out.push(figure(
        "master RSS per client",
        per,
        per,
        "KiB",
        &format!("{n} client processes, no surfaces"),
    ));
    drop(clients);

    // Four clients redrawing 256x256 surfaces as fast as the display lets them.
    let secs = if quick { 1.0 } else { 3.0 };
    let (cpu_per_frame, fps) = animate(&mut server, &exe, &name, secs)?;
    out.push(figure(
        "master CPU per frame, 4 animating",
        cpu_per_frame,
        cpu_per_frame,
        "us",
        "4 clients flipping 256x256 surfaces continuously; user+sys of the master",
    ));
    out.push(figure(
        "client frame rate, 4 animating",
        fps,
        fps,
        "fps",
        "each client's frames presented per second (display: 60 Hz)",
    ));

    // The same four animations from Wayland clients (wl_shm, full damage, frame callbacks).
    let (cpu_per_frame, fps) = wayland_animate(&mut server, &exe, &name, secs)?;
    out.push(figure(
        "master CPU per frame, 4 Wayland animating",
        cpu_per_frame,
        cpu_per_frame,
        "us",
        "4 wl_shm clients committing 256x256 buffers, full damage, every frame callback; \
         beside the native figure above",
    ));
    out.push(figure(
        "client frame rate, 4 Wayland animating",
        fps,
        fps,
        "fps",
        "each Wayland client's frame callbacks per second (display: 60 Hz)",
    ));

    // Touch to app, 1 and 8 slaves, and the bare wake-up it stands on.
    let touches = if quick { 40 } else { 2000 };
    for animating in [0, 7] {
        let mut run = latency::touch_to_app(&mut server, &exe, &name, animating, touches)?;
        let v = &mut run.app;
        let n = v.len();
        let (med, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        let (label, note) = if animating == 0 {
            ("touch to app, 1 slave", "goal: median under 20 us")
        } else {
            (
                "touch to app, 8 slaves",
                "touches to 1 slave, 7 others animating; goal: median under 50 us",
            )
        };
        out.push(figure(
            label,
            med,
            p99,
            "us",
            &format!("{n} touch events, master inject to slave handler; {note}"),
        ));
        let r = &mut run.route;
        let (med, p99) = (percentile(r, 0.5), percentile(r, 0.99));
        out.push(figure(
            &format!(
                "  of which master routing, {}",
                label.trim_start_matches("touch to app, ")
            ),
            med,
            p99,
            "us",
            "timestamp to inject returned: input source, hit test, reactor write, wake",
        ));
        let r = &mut run.to_ring;
        let (med, p99) = (percentile(r, 0.5), percentile(r, 0.99));
        out.push(figure(
            &format!(
                "  of which routing to the ring, {}",
                label.trim_start_matches("touch to app, ")
            ),
            med,
            p99,
            "us",
            "timestamp to the last reactor write of the routing (before the wake-up call); \
             goal: at most 5 us",
        ));
    }
    let mut v = latency::touch_to_wayland(&mut server, &exe, &name, touches)?;
    let n = v.len();
    let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
    out.push(figure(
        "touch to Wayland client",
        med,
        p99,
        "us",
        &format!("{n} touch events, master inject to the client's wl_touch handler"),
    ));
    let mut v = latency::socket_wake(&exe, touches)?;
    let n = v.len();
    let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
    out.push(figure(
        "baseline: unix socket wake",
        med,
        p99,
        "us",
        &format!("{n} timestamps through a socket to a blocked read in another process"),
    ));

    // Bytes composed per frame, and flip to present.
    let secs = if quick { 0.3 } else { 2.0 };
    let mut flips = Vec::new();
    for (role, label, note) in [
        (
            "exclusive",
            "composed per frame, exclusive",
            "client holds the primary layer; goal: 0".to_string(),
        ),
        (
            "damage",
            "composed per frame, 32x32 damage",
            format!(
                "256x256 window, damage {} B per frame; goal: the damage",
                frames::DAMAGE.w * frames::DAMAGE.h * 4
            ),
        ),
        ("flip-random", "", String::new()),
    ] {
        let mut run = frames::run(&mut server, &exe, &name, role, secs)?;
        if !label.is_empty() {
            let b = &mut run.bytes_per_frame;
            let (med, p99) = (percentile(b, 0.5), percentile(b, 0.99));
            out.push(figure(
                label,
                med,
                p99,
                "B",
                &format!("{note}; {} frames", run.frames),
            ));
        }
        flips.push((role, run.vblanks));
    }
    for (role, mut v) in flips {
        let n = v.len();
        let max = v.iter().copied().fold(0.0, f64::max);
        let late = v.iter().filter(|&&x| x > 1.0).count();
        let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
        let how = match role {
            "flip-random" => "flips at a random moment of the frame",
            "exclusive" => "exclusive layer, flips right after FrameDone",
            _ => "window, flips right after FrameDone",
        };
        out.push(figure(
            &format!("flip to present, {role}"),
            med,
            p99,
            "vblk",
            &format!("{how}; {n} flips, max {max}, {late} took more than 1; headless 60 Hz"),
        ));
    }
    drop(server);

    // Bytes composed per pointer motion.
    for (plane, label, note) in [
        (
            true,
            "composed per pointer motion, cursor plane",
            "the plane moves; goal: 0",
        ),
        (
            false,
            "composed per pointer motion, no plane",
            "the 12x12 arrow composed",
        ),
    ] {
        let (mut b, hardware) = cursor::run(&format!("{name}-cursor-{plane}"), plane)?;
        let (med, p99) = (percentile(&mut b, 0.5), percentile(&mut b, 0.99));
        out.push(figure(
            label,
            med,
            p99,
            "B",
            &format!(
                "{note}; {} motions, hardware cursor {hardware}; headless",
                cursor::MOTIONS
            ),
        ));
    }

    // Composition.
    let report = compose::run(compose::BenchOptions {
        iterations: if quick { 10 } else { 200 },
    });
    for t in &report.timings {
        out.push(figure(
            &format!("compose: {}", t.name),
            t.median.as_secs_f64() * 1e6,
            t.p99.as_secs_f64() * 1e6,
            "us",
            &format!("{} px, {:.0} Mpix/s", t.pixels, t.megapixels_per_second()),
        ));
    }

    // Wayland round trips: fusionfb and the baseline compositor, each in a process of its
    // own, and the floor under both, in the same run.
    let trips = if quick { 200 } else { 5000 };
    let fusionfb = fusionfb_program();
    for peer in [wayland::Peer::fusionfb(&fusionfb), wayland::Peer::weston()] {
        let peer = match peer {
            Ok(Some(peer)) => peer,
            Ok(None) => {
                eprintln!("fusionfb-bench: a compositor is not installed: no figure");
                continue;
            }
            Err(e) => {
                eprintln!("fusionfb-bench: no Wayland round trip: {e:#}");
                continue;
            }
        };
        for at in wayland::Placement::all() {
            let mut v = wayland::placed_roundtrips(&peer, at, trips)?;
            let (median, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
            let note = if peer.name() == "weston" {
                format!("baseline: Weston 10, headless backend; {trips} wl_display.sync")
            } else {
                format!(
                    "`fusionfb run --backend headless`; {trips} wl_display.sync; \
                     goal: at most 0.3x Weston's"
                )
            };
            out.push(figure(
                &format!("wayland round trip: {}, {}", peer.name(), at.label()),
                median,
                p99,
                "us",
                &note,
            ));
        }
    }
    // Master death to the picture back on the glass.
    let kills = if quick { 3 } else { 30 };
    match restart::master_restarts(&fusionfb, kills) {
        Ok(mut v) => {
            let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
            out.push(figure(
                "master death to first frame shown again",
                med,
                p99,
                "ms",
                &format!(
                    "{kills} SIGKILLs of `fusionfb run`'s master, headless; until a rejoined \
                     client's last frame is presented by the next master; goal: at most 200 ms"
                ),
            ));
        }
        Err(e) => eprintln!("fusionfb-bench: no master restart figure: {e:#}"),
    }
    for at in wayland::Placement::all() {
        let mut v = wayland::socket_roundtrips(trips, at)?;
        let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
        out.push(figure(
            &format!("baseline: unix socket round trip, {}", at.label()),
            med,
            p99,
            "us",
            &format!(
                "{trips} one-byte ping-pongs between two threads: the floor under any round trip"
            ),
        ));
    }
    Ok(out)
}

/// A supervised `fusionfb run --backend headless` in a world and directory of its own
/// (the restart figure, the soak), stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Supervised {
    child: Child,
    /// Its world.
    pub world: fusion::WorldConfig,
    dir: std::path::PathBuf,
}

impl Supervised {
    /// Starts `fusionfb run --backend headless` (the program `fusionfb`) in world `name`.
    pub fn start(fusionfb: &std::path::Path, name: &str) -> anyhow::Result<Supervised> {
        use anyhow::Context as _;
        let dir = std::env::temp_dir().join(format!("fusionfb-{name}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let child = Command::new(fusionfb)
            .args(["--world", name, "run", "--backend", "headless"])
            .env("FUSIONFB_RUNTIME_DIR", &dir)
            .env("XDG_RUNTIME_DIR", &dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", fusionfb.display()))?;
        Ok(Supervised {
            child,
            world: fusion::WorldConfig::new(name).runtime_dir(&dir),
            dir,
        })
    }

    /// Its runtime directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// A client connection, once the master admits it (within 20 s).
    pub fn join(&self) -> anyhow::Result<fusionfb_client::display::Display> {
        use anyhow::Context as _;
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            match fusionfb_client::display::Display::connect_to(self.world.clone()) {
                Ok(d) => return Ok(d),
                Err(e) if Instant::now() > end => return Err(e).context("joining fusionfb run"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Ok(fd) = fusionfb_sys::pidfd_open(self.child.id()) {
            let _ = fusionfb_sys::pidfd_term(std::os::fd::AsFd::as_fd(&fd));
        }
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `fusionfb` program: next to this one, else on `PATH`.
pub fn fusionfb_program() -> std::path::PathBuf {
    std::env::current_exe()
        .map(|e| e.with_file_name("fusionfb"))
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| "fusionfb".into())
}

/// The idle memory of `fusionfb run --no-restart --backend headless` (the Wayland frontend
/// listening, as it runs by default) without shared memory, a second after it listens (a
/// probe connected and left): the master in its own binary, whose code is laid out for it
/// (`compositor/build.rs`); then the same of `fusionfb run` as boards run it, its master and
/// its supervisor. None, said on stderr, when no `fusionfb` program is found.
fn master_process_rss() -> anyhow::Result<Vec<Figure>> {
    let program = fusionfb_program();
    let Some(peer) = wayland::Peer::fusionfb(&program)? else {
        eprintln!(
            "fusionfb-bench: no {} to run: the master process's memory is not measured",
            program.display()
        );
        return Ok(Vec::new());
    };
    std::thread::sleep(Duration::from_secs(1));
    let own = |pid: &str| {
        let (anon, file) = (
            proc_status_kib(pid, "RssAnon:"),
            proc_status_kib(pid, "RssFile:"),
        );
        ((anon + file) as f64 / 1024.0, anon, file)
    };
    let (alone, anon, file) = own(&peer.pid().to_string());
    drop(peer);
    let mut out = vec![figure(
        "master RSS idle excl. shared memory, fusionfb run",
        alone,
        alone,
        "MiB",
        &format!(
            "`fusionfb run --no-restart` (headless, Wayland on) a second after it listens: \
             RssAnon {anon} KiB + RssFile {file} KiB; goal: under 8 MiB"
        ),
    )];
    // As boards run it: the supervisor and, in a process of its own, the master.
    let Some(peer) = wayland::Peer::fusionfb_supervised(&program)? else {
        return Ok(out);
    };
    std::thread::sleep(Duration::from_secs(1));
    let Some(master) = peer.child_pid() else {
        eprintln!("fusionfb-bench: the supervisor's master was not found");
        return Ok(out);
    };
    let (supervised, anon, file) = own(&master.to_string());
    let (supervisor, s_anon, s_file) = own(&peer.pid().to_string());
    out.push(figure(
        "master RSS idle excl. shared memory, supervised",
        supervised,
        supervised,
        "MiB",
        &format!(
            "`fusionfb run` (headless, Wayland on; its master) a second after it listens: \
             RssAnon {anon} KiB + RssFile {file} KiB; goal: under 8 MiB"
        ),
    ));
    out.push(figure(
        "supervisor RSS idle excl. shared memory",
        supervisor,
        supervisor,
        "MiB",
        &format!(
            "`fusionfb run`'s supervisor, beside that master: RssAnon {s_anon} KiB + RssFile \
             {s_file} KiB"
        ),
    ));
    Ok(out)
}

/// CPU time (user + system) this process has used, in microseconds
/// (`CLOCK_PROCESS_CPUTIME_ID`).
fn cpu_us() -> f64 {
    fusionfb_sys::cpu_time_ns() as f64 / 1e3
}

/// The bench's placement rules: the Wayland clients' toplevels where the native clients'
/// windows go (four 256x256 animations along y = 100, the 64x64 touch target).
fn wayland_rules() -> Vec<fusionfb::config::WaylandRule> {
    let (tx, ty, side) = latency::TOUCH_RECT;
    (0..4)
        .map(|i| (i * 300, 100, 256))
        .chain(std::iter::once((tx, ty, side)))
        .map(|(x, y, side)| fusionfb::config::WaylandRule {
            app_id: wl_client::app_id(x, y),
            position: Some([x, y]),
            size: Some([side, side]),
            layer: None,
            fullscreen: false,
            output: None,
        })
        .collect()
}

/// Runs 4 animating Wayland clients for `secs`; returns the master's CPU per frame (us)
/// and the clients' mean frame rate.
fn wayland_animate(
    server: &mut Server,
    exe: &std::path::Path,
    world: &str,
    secs: f64,
) -> anyhow::Result<(f64, f64)> {
    let mut clients = Clients(Vec::new());
    let before = server.windows_shown();
    for i in 0..4 {
        clients.0.push(
            Command::new(exe)
                .args(["--world", world, "client", "--role", "wl-animate"])
                .args(["--x", &(i * 300).to_string(), "--y", "100"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()?,
        );
    }
    let shown =
        server.dispatch_until(Duration::from_secs(20), |s| s.windows_shown() >= before + 4)?;
    anyhow::ensure!(shown, "the Wayland bench clients' windows did not show up");
    let (f0, c0) = (server.presented(), cpu_us());
    server.dispatch_until(Duration::from_secs_f64(secs), |_| false)?;
    let (frames, cpu) = (server.presented() - f0, cpu_us() - c0);
    // Closing stdin asks each to report and leave.
    for c in clients.0.iter_mut() {
        drop(c.stdin.take());
    }
    let fps = mean_rate(&mut clients);
    server.dispatch_until(Duration::from_millis(100), |_| false)?;
    Ok((cpu / frames.max(1) as f64, fps))
}

/// Runs 4 animating clients for `secs`; returns the master's CPU per frame (us) and the
/// clients' mean frame rate.
fn animate(
    server: &mut Server,
    exe: &std::path::Path,
    world: &str,
    secs: f64,
) -> anyhow::Result<(f64, f64)> {
    let mut clients = Clients(Vec::new());
    for i in 0..4 {
        clients.0.push(
            Command::new(exe)
                .args(["--world", world, "client", "--animate"])
                .arg((i * 300).to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()?,
        );
    }
    server.dispatch_until(Duration::from_secs(20), |s| s.windows_shown() >= 4)?;
    let (f0, c0) = (server.presented(), cpu_us());
    server.dispatch_until(Duration::from_secs_f64(secs), |_| false)?;
    let (frames, cpu) = (server.presented() - f0, cpu_us() - c0);
    // Each client prints how many frames it got when it is asked to leave.
    server.master().kill(None, Duration::from_secs(2));
    server.dispatch_until(Duration::from_secs(4), |s| {
        s.master().fusionees().is_empty()
    })?;
    Ok((cpu / frames.max(1) as f64, mean_rate(&mut clients)))
}

/// The animating clients' mean frame rate, from the reports they print as they leave.
fn mean_rate(clients: &mut Clients) -> f64 {
    let rates: Vec<f64> = clients
        .0
        .iter_mut()
        .filter_map(read_report)
        .map(|(n, secs)| n / secs)
        .collect();
    if rates.is_empty() {
        0.0
    } else {
        rates.iter().sum::<f64>() / rates.len() as f64
    }
}

/// Reads the `frames seconds` line an animating client prints as it leaves.
fn read_report(c: &mut Child) -> Option<(f64, f64)> {
    use std::io::Read;
    let mut s = String::new();
    c.stdout.take()?.read_to_string(&mut s).ok()?;
    let _ = c.wait();
    let mut it = s.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// An animating client: a 256x256 surface at `(x, 100)`, refilled and flipped every frame,
/// paced by FrameDone. Prints `frames seconds` when asked to leave.
pub fn animating_client(world: &str, x: i32) -> anyhow::Result<()> {
    use fusion::reactor::Reaction;
    use fusionfb_protocol::{Event, Reply, Request, Root};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = anyhow::Error::new::<fusion::Error>;
    let mut s = fusion::Slave::enter(fusion::WorldConfig::new(world).client_name("bench-animate"))
        .map_err(e)?;
    let root: Root = fusion::call::decode(&s.root().map_err(e)?).map_err(e)?;
    let req = |r: &Request| fusion::call::encode(r).map_err(e);
    let (bytes, fds) = s
        .call_execute_fds(
            root.call,
            0,
            &req(&Request::SurfaceCreate {
                width: 256,
                height: 256,
                format: fusionfb_protocol::FORMAT_XRGB8888,
                buffers: 2,
            })?,
            &[],
        )
        .map_err(e)?;
    let Reply::Surface(info) = fusion::call::decode(&bytes).map_err(e)? else {
        return Err(anyhow::anyhow!("no surface"));
    };
    let desc = gfx_drivers::BufferDesc {
        width: 256,
        height: 256,
        format: gfx_drivers::Format::Xrgb8888,
        pitch: info.pitch as usize,
        size: info.size as usize,
    };
    let bufs: Vec<gfx_drivers::Buffer> = fds
        .into_iter()
        .map(|fd| gfx_drivers::Buffer::import(fd, desc, true))
        .collect::<Result<_, _>>()?;
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    s.attach(info.reactor, 0, move |m| {
        if let Ok(Event::FrameDone { .. }) = fusion::call::decode::<Event>(m.payload) {
            d2.store(true, Ordering::Release);
        }
        Reaction::Keep
    })
    .map_err(e)?;
    s.call_execute(
        root.call,
        0,
        &req(&Request::WindowCreate {
            surface: info.id,
            layer: 0,
            x,
            y: 100,
            opacity: 255,
            visible: true,
        })?,
    )
    .map_err(e)?;
    let start = Instant::now();
    let mut frames = 0u64;
    let mut back = 0usize;
    loop {
        bufs[back].fill(0xff00_0000 | (frames as u32).wrapping_mul(0x10_2030))?;
        let flip = req(&Request::SurfaceFlip {
            surface: info.id,
            buffer: back as u8,
            damage: vec![],
        })?;
        match s.call_execute(root.call, 0, &flip) {
            Ok(_) | Err(fusion::Error::Busy) => {}
            Err(fusion::Error::MasterGone) => break,
            Err(other) => return Err(other.into()),
        }
        back ^= 1;
        done.store(false, Ordering::Release);
        loop {
            s.dispatch(Some(Duration::from_millis(100))).map_err(e)?;
            let mut leave = s.master_gone();
            while let Some(ev) = s.next_event() {
                leave |= matches!(ev, fusion::SlaveEvent::LeaveRequested(_));
            }
            if leave {
                println!("{frames} {}", start.elapsed().as_secs_f64());
                return Ok(());
            }
            if done.load(Ordering::Acquire) {
                frames += 1;
                break;
            }
        }
    }
    println!("{frames} {}", start.elapsed().as_secs_f64());
    Ok(())
}

/// A client for the per-client measurement: enters and waits to be killed or asked to go.
pub fn client(world: &str) -> anyhow::Result<()> {
    let mut s = fusion::Slave::enter(fusion::WorldConfig::new(world).client_name("bench-client"))?;
    loop {
        s.dispatch(Some(Duration::from_millis(500)))?;
        if s.master_gone() {
            return Ok(());
        }
        while let Some(e) = s.next_event() {
            if matches!(e, fusion::SlaveEvent::LeaveRequested(_)) {
                return Ok(());
            }
        }
    }
}

/// Prints the figures as a table.
pub fn print_table(figures: &[Figure]) {
    println!(
        "{:<34} {:>12} {:>12}  {:<4} note",
        "measure", "median", "p99", "unit"
    );
    for f in figures {
        println!(
            "{:<34} {:>12.2} {:>12.2}  {:<4} {}",
            f.name, f.median, f.p99, f.unit, f.note
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), 51.0);
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut v, 1.0), 100.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn a_client_report_is_its_numbers() {
        assert_eq!(parse_samples("12 7 x 3\n"), vec![12.0, 7.0, 3.0]);
        assert!(parse_samples("").is_empty());
    }
}
