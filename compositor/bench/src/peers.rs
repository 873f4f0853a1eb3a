//! `fusionfb-bench --peers` (`fusionfb bench --peers`): fusionfb and Weston side by side in
//! one run, each measured the same way from outside, as a compositor in a process of its own
//! with ordinary `wl_shm` clients (issue 14, item 6).
//!
//! For each compositor — `fusionfb run --no-restart --backend headless` (one process, like
//! Weston; the supervisor is left out) and, when installed, Debian's Weston 10 on its
//! headless backend with its pixman renderer (`weston --backend=headless-backend.so
//! --use-pixman`) — in turn:
//!
//! - **RSS idle**: its resident memory without shared memory (`RssAnon + RssFile` of
//!   `/proc/PID/status`) a second after it listens, before any client;
//! - **CPU per frame**: four `wl-animate` clients ([`crate::wl_client`]: 256x256 `wl_shm`
//!   buffers, full damage, paced by frame callbacks; their size fixed, whatever the shell
//!   configures) run for a warm-up second, then the compositor's CPU time (every thread's,
//!   from `/proc/PID/task/*/schedstat`, in ns) in each tenth of the window, divided by the
//!   frames the clients saw in it (their mean frame-callback rate times its length): the
//!   median and p99 over the ten slices of every round (below);
//! - **`wl_display_roundtrip`**: [`crate::wayland::placed_roundtrips`], with the client and
//!   the compositor on one core, then on two.
//!
//! The two run in turn three times (once with `--quick`; the round trips only in the
//! first round), so that a slow spell of a shared machine lands on both; each figure pools
//! the rounds. Each figure of fusionfb's carries its ratio to Weston's in the note. Without Weston the
//! run says so and prints fusionfb's figures alone.
//!
//! # What fusionfb's CPU per frame is made of (2 vCPUs, session 18)
//!
//! `perf` of the master with the four clients: composition about 22% (pixman's copy of the
//! four 256x256 buffers, 1 MiB a frame, as fast as a plain `memcpy` of the same rows);
//! flushing to the clients about 15–18% (four `sendto` a frame, each waking a client: the
//! wake-up is most of it); waiting in `epoll` and being switched back in about 17%;
//! smithay's request dispatch about 15%. The master wakes about 3.5 times a frame (the
//! vblank, then the clients' commits as they come); Weston wakes about 5.4 times a frame
//! (at its 39 frames a second) and spends about as much per wake.
//!
//! What is left is made of wake-ups, not of work: a build whose `polling` did none of its
//! per-wait system calls (no timerfd re-arm, no notifier read and re-arm: 27 system calls a
//! frame down to 20) measured the same CPU per frame within the machine's noise (five runs
//! each, interleaved: medians 386 and 390 µs), so that change, which would mean a patched
//! copy of `polling`, was not made.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::wayland::{self, Peer, Placement};
use crate::{figure, percentile, Clients, Figure};

/// The slices the CPU-per-frame window is cut into (median and p99 over them).
const SLICES: usize = 10;

/// Rounds of a full run: fusionfb, then Weston, this many times in turn, so that a slow
/// spell of the machine lands on both (the figures pool every round).
const ROUNDS: usize = 3;

/// What one compositor measured, over one round or several.
#[derive(Debug, Clone, Default)]
struct Measured {
    /// Each round's.
    rss_idle_kib: Vec<u64>,
    /// Each slice's CPU per frame (µs), every round's.
    cpu_per_frame_us: Vec<f64>,
    /// Each round's client frame rate.
    fps: Vec<f64>,
    /// Per placement: median and p99 (µs); the first round's.
    roundtrips: Vec<(Placement, f64, f64)>,
}

impl Measured {
    /// `self` with `other`'s round added.
    fn and(mut self, other: Measured) -> Measured {
        self.rss_idle_kib.extend(other.rss_idle_kib);
        self.cpu_per_frame_us.extend(other.cpu_per_frame_us);
        self.fps.extend(other.fps);
        if self.roundtrips.is_empty() {
            self.roundtrips = other.roundtrips;
        }
        self
    }
}

/// The median and p99 of `v`.
fn spread(v: &[f64]) -> (f64, f64) {
    let mut v = v.to_vec();
    (percentile(&mut v, 0.5), percentile(&mut v, 0.99))
}

/// The compositor's memory without shared memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    let pid = pid.to_string();
    crate::proc_status_kib(&pid, "RssAnon:") + crate::proc_status_kib(&pid, "RssFile:")
}

/// CPU time of every thread of `pid`, ns (the first field of each thread's `schedstat`).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn measure(peer: &Peer, exe: &Path, secs: f64, trips: usize) -> anyhow::Result<Measured> {
    let pid = peer.pid();
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle_kib = rss_kib(pid);
    let mut roundtrips = Vec::new();
    for at in Placement::all().into_iter().filter(|_| trips > 0) {
        let mut v = wayland::placed_roundtrips(peer, at, trips)?;
        roundtrips.push((at, percentile(&mut v, 0.5), percentile(&mut v, 0.99)));
    }
    wayland::pin(Some(pid), None)?;
    let mut clients = Clients(Vec::new());
    for i in 0..4 {
        clients.0.push(
            Command::new(exe)
                .args(["client", "--role", "wl-animate"])
                .args(["--x", &(i * 300).to_string(), "--y", "100"])
                .arg("--socket")
                .arg(peer.socket())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("starting a wl-animate client")?,
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    // The window in slices: the compositor's CPU time in each.
    let slice = secs / SLICES as f64;
    let mut cpu = Vec::with_capacity(SLICES);
    let mut last = cpu_ns(pid);
    for _ in 0..SLICES {
        std::thread::sleep(Duration::from_secs_f64(slice));
        let now = cpu_ns(pid);
        cpu.push(now.saturating_sub(last));
        last = now;
    }
    for c in clients.0.iter_mut() {
        drop(c.stdin.take());
    }
    let fps = crate::mean_rate(&mut clients);
    anyhow::ensure!(fps > 0.0, "the {} clients reported no frames", peer.name());
    // Each slice's CPU over the frames of a slice at the clients' mean rate (they are paced
    // by the display, so the rate is steady).
    Ok(Measured {
        rss_idle_kib: vec![rss_idle_kib],
        cpu_per_frame_us: cpu
            .iter()
            .map(|&ns| ns as f64 / 1e3 / (fps * slice))
            .collect(),
        fps: vec![fps],
        roundtrips,
    })
}

/// `a / b` as a note: "0.42x weston".
fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}x weston", a / b),
        _ => "weston not measured".into(),
    }
}

/// Runs both compositors in turn (see the module docs); `fusionfb` is the `fusionfb`
/// program, `exe` this benchmark program (its clients).
pub fn run(fusionfb: &Path, exe: &Path, quick: bool) -> anyhow::Result<Vec<Figure>> {
    let secs = if quick { 1.0 } else { 5.0 };
    let trips = if quick { 200 } else { 5000 };
    let rounds = if quick { 1 } else { ROUNDS };
    let mut ours = Measured::default();
    let mut weston = Some(Measured::default());
    for round in 0..rounds {
        let trips = if round == 0 { trips } else { 0 };
        let peer = Peer::fusionfb(fusionfb)?
            .with_context(|| format!("{} is not there", fusionfb.display()))?;
        ours = ours.and(measure(&peer, exe, secs, trips).context("fusionfb")?);
        drop(peer);
        let Some(so_far) = weston.take() else {
            continue;
        };
        weston = match Peer::weston()? {
            Some(peer) => Some(so_far.and(measure(&peer, exe, secs, trips).context("weston")?)),
            None => {
                eprintln!(
                    "fusionfb-bench: weston is not installed (Debian: apt-get install weston): \
                     fusionfb's figures alone"
                );
                None
            }
        };
    }
    let mut out = Vec::new();
    let mut both = |name: &str, unit: &'static str, get: &dyn Fn(&Measured) -> (f64, f64)| {
        let (m, p) = get(&ours);
        let theirs = weston.as_ref().map(|w| get(w).0);
        out.push(figure(
            &format!("fusionfb: {name}"),
            m,
            p,
            unit,
            &ratio(m, theirs),
        ));
        if let Some(w) = &weston {
            let (m, p) = get(w);
            out.push(figure(&format!("weston: {name}"), m, p, unit, "baseline"));
        }
    };
    both("RSS idle excl. shared memory", "KiB", &|m| {
        let rss: Vec<f64> = m.rss_idle_kib.iter().map(|&k| k as f64).collect();
        spread(&rss)
    });
    both("CPU per frame, 4 wl_shm clients 256x256", "us", &|m| {
        spread(&m.cpu_per_frame_us)
    });
    both("client frame rate, 4 wl_shm clients", "fps", &|m| {
        spread(&m.fps)
    });
    for at in Placement::all() {
        both(
            &format!("wl_display_roundtrip, {}", at.label()),
            "us",
            &|m| {
                m.roundtrips
                    .iter()
                    .find(|r| r.0 == at)
                    .map_or((0.0, 0.0), |r| (r.1, r.2))
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_measured_from_outside() {
        let me = std::process::id();
        assert!(rss_kib(me) > 0, "no resident memory read for ourselves");
        let before = cpu_ns(me);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(
            cpu_ns(me) >= before + 10_000_000,
            "20 ms of work not counted"
        );
        assert_eq!(rss_kib(u32::MAX), 0);
        assert_eq!(ratio(1.0, Some(4.0)), "0.25x weston");
        assert_eq!(ratio(1.0, None), "weston not measured");
    }
}
