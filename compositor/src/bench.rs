//! `fusionfb bench`: what the display server costs, measured (release builds), never asserted.
//!
//! - composition ([`crate::compose::bench`]): 4 ARGB 640x480 windows over a 1280x800 XRGB
//!   background, full damage, side by side with bare pixman and a memcpy of the frame, and a
//!   64x64 damage region;
//! - start-up: from creating the server to its first frame on the (headless) glass;
//! - slave join time: entering the world and reading its root, median and p99;
//! - memory: the master's resident set idle, and per connected client (client processes,
//!   pixel memory excluded: they create no surfaces).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::compose::bench as compose_bench;
use crate::config::Config;
use crate::serve::open_backend;
use crate::server::Server;

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

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(0.0)
}

/// The resident set of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

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
pub fn run(quick: bool) -> Result<Vec<Figure>, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
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
    let idle = rss_kib();
    out.push(figure(
        "master RSS idle",
        idle as f64 / 1024.0,
        idle as f64 / 1024.0,
        "MiB",
        "goal: under 8 MiB (includes the two 1280x800 scan-out buffers, 8 MiB)",
    ));

    // Join time, from another thread while the master serves.
    let joins = if quick { 20 } else { 200 };
    let w2 = world.clone();
    let h = std::thread::spawn(move || -> Result<Vec<f64>, String> {
        let mut v = Vec::new();
        for _ in 0..joins {
            let t = Instant::now();
            let mut s = fusion::Slave::enter(w2.clone()).map_err(|e| e.to_string())?;
            s.root().map_err(|e| e.to_string())?;
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(v)
    });
    while !h.is_finished() {
        server
            .dispatch(Some(Duration::from_millis(1)))
            .map_err(|e| err(&e))?;
    }
    let mut v = h.join().map_err(|_| "join thread panicked")??;
    let (med, p99) = (percentile(&mut v, 0.5), percentile(&mut v, 0.99));
    out.push(figure("slave join (enter + root)", med, p99, "us", ""));

    // Per-client overhead: client processes that connect and wait.
    let n = if quick { 2 } else { 8 };
    let exe = std::env::current_exe().map_err(|e| err(&e))?;
    let before = rss_kib();
    let mut clients = Clients(Vec::new());
    for _ in 0..n {
        clients.0.push(
            Command::new(&exe)
                .args(["--world", &name, "bench-client"])
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
    drop(server);

    // Composition.
    let report = compose_bench::run(compose_bench::BenchOptions {
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
    Ok(out)
}

/// A client for the per-client measurement: enters and waits to be killed or asked to go.
pub fn client(world: &str) -> Result<(), String> {
    let mut s = fusion::Slave::enter(fusion::WorldConfig::new(world).client_name("bench-client"))
        .map_err(|e| e.to_string())?;
    loop {
        s.dispatch(Some(Duration::from_millis(500)))
            .map_err(|e| e.to_string())?;
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
