//! `fusionfb demo`: the display server end to end, as a newcomer first sees it.
//!
//! It starts the master on the best available backend (headless where no display exists),
//! launches the demo applications — `fusionfb-paint` on the left half, `fusionfb-clock` and
//! `fusionfb-gallery` on the right — as separate processes, plays a scripted touch sequence
//! through the master's input-injection call (two fingers tapping on the paint canvas at
//! once, a drag, a swipe through the gallery), writes a screenshot of the glass, says what it
//! did and checked, and asks the applications to leave.

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fusionfb_protocol::{InjectedTouch, Request, Root, TouchPhase};

use crate::cli::run::open_backend;
use crate::config::{self, Config};
use crate::server::Server;

/// What `fusionfb demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// `--backend B` (default: the best available).
    pub backend: Option<config::Backend>,
    /// `--screenshot FILE`.
    pub screenshot: PathBuf,
    /// `--world NAME` (default: a fresh `demo-<pid>`).
    pub world: Option<String>,
}

/// The applications and where they go on a 1280x800 output (scaled to other sizes).
const APPS: [(&str, [f32; 4]); 3] = [
    ("fusionfb-paint", [0.0, 0.0, 0.5, 1.0]),
    ("fusionfb-clock", [0.5, 0.0, 0.5, 0.325]),
    ("fusionfb-gallery", [0.5, 0.325, 0.5, 0.675]),
];

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Where the demo applications are: next to this binary (as cargo and installs lay them out).
fn app_path(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().map_err(err)?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no directory for the fusionfb binary"))?;
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(anyhow::anyhow!(
            "{} is missing: build the demo applications too (cargo build --release --bins)",
            p.display()
        ))
    }
}

struct Apps(Vec<Child>);

impl Drop for Apps {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs the demo.
pub fn run(opts: &DemoOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let cfg = Config::default();
    let name = opts
        .world
        .clone()
        .unwrap_or_else(|| format!("demo-{}", std::process::id()));
    let world = fusion::WorldConfig::new(&name);
    let backend = open_backend(&cfg, opts.backend)?;
    let backend_name = backend.name().to_string();
    let mut server = Server::new(world.clone(), backend).map_err(err)?;
    let (w, h) = server.size();
    println!("fusionfb demo: master of world {name:?} on the {backend_name} backend, {w}x{h}");

    let mut apps = Apps(Vec::new());
    for (app, [x, y, fw, fh]) in APPS {
        let path = app_path(app)?;
        let geom = [x * w as f32, y * h as f32, fw * w as f32, fh * h as f32].map(|v| v as u32);
        let child = Command::new(&path)
            .args(["--world", &name])
            .args(["--x", &geom[0].to_string(), "--y", &geom[1].to_string()])
            .args([
                "--width",
                &geom[2].to_string(),
                "--height",
                &geom[3].to_string(),
            ])
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        apps.0.push(child);
        println!(
            "  started {app} at {}x{}+{}+{} (pid {})",
            geom[2],
            geom[3],
            geom[0],
            geom[1],
            apps.0.last().map_or(0, |c| c.id())
        );
    }
    let shown = server
        .dispatch_until(Duration::from_secs(30), |s| s.windows_shown() >= APPS.len())
        .map_err(err)?;
    if !shown {
        return Err(anyhow::anyhow!(
            "the demo applications did not show their windows in 30 s"
        ));
    }
    settle(&mut server, Duration::from_millis(300))?;
    let before = server.screenshot().map_err(err)?;

    // The touch script, in output coordinates.
    let px = |fx: f32, fy: f32| (fx * w as f32, fy * h as f32);
    let t = |phase, slot, (x, y): (f32, f32)| InjectedTouch { phase, slot, x, y };
    let taps = [px(0.12, 0.40), px(0.30, 0.40)];
    let mut steps: Vec<Vec<InjectedTouch>> = vec![
        // Two fingers at once on the canvas.
        vec![
            t(TouchPhase::Down, 0, taps[0]),
            t(TouchPhase::Down, 1, taps[1]),
            t(TouchPhase::Frame, 0, (0.0, 0.0)),
        ],
        vec![
            t(TouchPhase::Up, 0, taps[0]),
            t(TouchPhase::Up, 1, taps[1]),
            t(TouchPhase::Frame, 0, (0.0, 0.0)),
        ],
    ];
    // A drag with a third finger, and a leftward swipe through the gallery.
    let (a, b) = (px(0.06, 0.70), px(0.42, 0.85));
    steps.extend(stroke(2, a, b, 16));
    steps.extend(stroke(0, px(0.92, 0.65), px(0.62, 0.66), 8));
    let events: usize = steps.iter().map(|s| s.len()).sum();

    // The script goes through the master's injection call, from another thread (as a slave).
    let injector = std::thread::spawn({
        let world = world.clone().client_name("fusionfb demo");
        move || -> anyhow::Result<()> {
            let mut slave = fusion::Slave::enter(world).map_err(err)?;
            let root: Root = fusion::call::decode(&slave.root().map_err(err)?).map_err(err)?;
            for step in steps {
                let req = fusion::call::encode(&Request::InjectTouch(step)).map_err(err)?;
                slave.call_execute(root.call, 0, &req).map_err(err)?;
                std::thread::sleep(Duration::from_millis(16));
            }
            Ok(())
        }
    });
    while !injector.is_finished() {
        server
            .dispatch(Some(Duration::from_millis(5)))
            .map_err(err)?;
    }
    injector
        .join()
        .map_err(|_| anyhow::anyhow!("the touch injector panicked"))??;
    println!("  played {events} touch events through the injection call: a two-finger tap, a drag, a swipe");
    settle(&mut server, Duration::from_millis(500))?;
    let after = server.screenshot().map_err(err)?;

    // Checks: the taps and the drag left paint on the canvas; the swipe changed the gallery.
    let mut ok = true;
    let mut check = |what: &str, good: bool| {
        ok &= good;
        println!("  {} {what}", if good { "ok  " } else { "FAIL" });
    };
    for (i, &(x, y)) in taps.iter().enumerate() {
        check(
            &format!("finger {i}'s tap painted at ({x:.0}, {y:.0})"),
            before.pixel(x as u32, y as u32) != after.pixel(x as u32, y as u32),
        );
    }
    let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    check(
        &format!(
            "the drag painted a line through ({:.0}, {:.0})",
            mid.0, mid.1
        ),
        before.pixel(mid.0 as u32, mid.1 as u32) != after.pixel(mid.0 as u32, mid.1 as u32),
    );
    let gallery = region_differs(&before, &after, (w / 2 + 40, h * 35 / 100, w - 40, h - 40));
    check("the swipe turned the gallery to another picture", gallery);

    write_png(&after, &opts.screenshot)?;
    println!("  wrote {} ({w}x{h})", opts.screenshot.display());

    let m = server.master();
    m.kill(None, Duration::from_secs(2));
    let _ = server.dispatch_until(Duration::from_secs(4), |s| {
        s.master().fusionees().is_empty()
    });
    drop(apps);
    super::finish("fusionfb demo", started, 1, ok)
}

/// A finger going down at `from`, moving to `to` in `moves` steps and lifting: one
/// multi-touch frame per step.
pub(crate) fn stroke(
    slot: u32,
    from: (f32, f32),
    to: (f32, f32),
    moves: u32,
) -> Vec<Vec<InjectedTouch>> {
    let frame = InjectedTouch {
        phase: TouchPhase::Frame,
        slot: 0,
        x: 0.0,
        y: 0.0,
    };
    let at = |phase, (x, y): (f32, f32)| vec![InjectedTouch { phase, slot, x, y }, frame];
    let mut steps = vec![at(TouchPhase::Down, from)];
    for i in 1..=moves {
        let f = i as f32 / moves as f32;
        steps.push(at(
            TouchPhase::Motion,
            (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f),
        ));
    }
    steps.push(at(TouchPhase::Up, to));
    steps
}

fn settle(server: &mut Server, d: Duration) -> anyhow::Result<()> {
    server.dispatch_until(d, |_| false).map(drop).map_err(err)
}

fn region_differs(
    a: &gfx_drivers::Image,
    b: &gfx_drivers::Image,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
) -> bool {
    (y0..y1)
        .step_by(7)
        .any(|y| (x0..x1).step_by(7).any(|x| a.pixel(x, y) != b.pixel(x, y)))
}

fn write_png(img: &gfx_drivers::Image, path: &Path) -> anyhow::Result<()> {
    crate::compose::png::write(path, &img.view())
        .with_context(|| format!("writing {}", path.display()))
}
