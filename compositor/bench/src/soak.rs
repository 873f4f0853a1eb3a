//! `fusionfb soak --minutes N`: a long churn against a real master, printing the master's
//! memory and descriptors as it goes — they must stay flat (a benchmark, not a CI test).
//!
//! `fusionfb soak` runs `fusionfb-bench soak` (this module), whose client side needs the
//! client library the master's crate does not carry. It starts `fusionfb run --backend
//! headless` (the `fusionfb` next to this program, supervised as always) in a world and
//! directory of its own, and for N minutes, in rounds: starts a `fusionfb-paint`
//! client process (found next to this program) and, from the round before, stops one with
//! SIGTERM (it leaves) or SIGKILL (it dies); creates and destroys a window of its own,
//! flips its surface, and taps. Each sample (a minute by default) prints one line with the
//! master's resident memory without shared memory, its shared memory, its open descriptors
//! and what was churned, read from `fusionfb status`'s health (no `/proc` of the master's
//! needed). At the end it compares the last sample with the first one after the warm-up
//! (the first sample): memory may grow by at most [`RSS_SLACK_KIB`] and 5 % (allocator and
//! page-cache noise), descriptors not at all; otherwise it says "growing" and fails.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fusionfb_client::display::Display;
use fusionfb_client::Format;
use fusionfb_protocol::{Injected, TouchPhase};

/// Growth of the master's own memory (KiB) a soak tolerates besides 5 %.
pub const RSS_SLACK_KIB: u64 = 1024;

/// What `fusionfb soak` was asked for.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long, in minutes.
    pub minutes: f64,
    /// Seconds between samples (60; tests use less).
    pub seconds_per_sample: f64,
}

/// One sample of the master's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Resident memory without shared memory, KiB.
    pub rss_kib: u64,
    /// Resident shared memory, KiB.
    pub shared_kib: u64,
    /// Open descriptors.
    pub fds: u32,
}

/// Whether `last` grew past `first` (see the module docs).
pub fn growing(first: Sample, last: Sample) -> bool {
    last.rss_kib > first.rss_kib + RSS_SLACK_KIB + first.rss_kib / 20 || last.fds > first.fds
}

/// Runs the soak; an error when the master's memory or descriptors grew.
pub fn run(opts: &SoakOptions) -> anyhow::Result<()> {
    let exe = crate::fusionfb_program();
    let paint = exe.with_file_name("fusionfb-paint");
    anyhow::ensure!(
        paint.is_file(),
        "{} is missing: build the workspace's binaries",
        paint.display()
    );
    let name = format!("soak-{}", std::process::id());
    let run = crate::Supervised::start(&exe, &name)?;
    let dir = run.dir().to_path_buf();
    let mut clients = crate::Clients(Vec::new());
    let mut d = run.join()?;
    d.set_rejoin(None);
    let sample = |d: &mut Display| -> anyhow::Result<Sample> {
        let h = d
            .describe()?
            .health
            .context("the master reports no health")?;
        Ok(Sample {
            rss_kib: h.rss_kib,
            shared_kib: h.shared_kib,
            fds: h.fds,
        })
    };
    println!(
        "soak: {:.1} min against `fusionfb run --backend headless` (world {name}), a sample \
         every {:.0} s",
        opts.minutes, opts.seconds_per_sample
    );
    println!("sample   rss KiB  shared KiB  fds  joins  leaves  kills  windows  flips  taps");
    let started = Instant::now();
    let total = Duration::from_secs_f64(opts.minutes * 60.0);
    let every = Duration::from_secs_f64(opts.seconds_per_sample.max(0.1));
    let mut next = started + every;
    let (mut joins, mut leaves, mut kills, mut windows, mut flips, mut taps) = (0, 0, 0, 0, 0, 0);
    let mut samples = vec![sample(&mut d)?];
    let print = |i: usize, s: Sample, c: [u64; 6]| {
        println!(
            "{i:>6}  {:>8}  {:>10}  {:>3}  {:>5}  {:>6}  {:>5}  {:>7}  {:>5}  {:>4}",
            s.rss_kib, s.shared_kib, s.fds, c[0], c[1], c[2], c[3], c[4], c[5]
        );
    };
    print(0, samples[0], [0; 6]);
    let mut round = 0u64;
    while started.elapsed() < total {
        round += 1;
        // A client joins; an older one leaves or dies.
        clients.0.push(
            Command::new(&paint)
                .args(["--world", &name, "--width", "200", "--height", "150"])
                .args(["--x", &((round % 5) * 200).to_string()])
                .env("FUSIONFB_RUNTIME_DIR", &dir)
                .env("FUSIONFB_REJOIN", "0")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        joins += 1;
        if clients.0.len() > 3 {
            let mut c = clients.0.remove(0);
            if round % 2 == 0 {
                if let Ok(fd) = fusionfb_sys::pidfd_open(c.id()) {
                    let _ = fusionfb_sys::pidfd_term(std::os::fd::AsFd::as_fd(&fd));
                }
                leaves += 1;
            } else {
                let _ = c.kill();
                kills += 1;
            }
            let _ = c.wait();
        }
        // A window of our own comes and goes, flipped a few times; taps on the clients.
        let mut s = d.create_surface(128, 96, Format::Xrgb8888, 2)?;
        let w = d.create_window(&s, 0, 600, (round % 4) as i32 * 100)?;
        windows += 1;
        for k in 0..3u32 {
            s.back()
                .fill(0xff00_0000 | (round as u32 * 77 + k * 5000) & 0xff_ffff)?;
            d.flip(&mut s, &[])?;
            let _ = d.wait_frame(&s, Duration::from_secs(1));
            flips += 1;
        }
        let x = ((round * 37) % 1000) as f32 + 10.0;
        let touch = |phase| Injected::Touch {
            phase,
            slot: 0,
            x,
            y: 60.0,
        };
        d.inject(&[
            touch(TouchPhase::Down),
            touch(TouchPhase::Frame),
            touch(TouchPhase::Up),
            touch(TouchPhase::Frame),
        ])?;
        taps += 1;
        d.destroy_window(w)?;
        d.destroy_surface(s)?;
        d.dispatch(Some(Duration::ZERO))?;
        while d.next_event().is_some() {}
        if Instant::now() >= next {
            next += every;
            let s = sample(&mut d)?;
            samples.push(s);
            print(
                samples.len() - 1,
                s,
                [joins, leaves, kills, windows, flips, taps],
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = sample(&mut d)?;
    print(
        samples.len(),
        last,
        [joins, leaves, kills, windows, flips, taps],
    );
    // The first sample after the warm-up: the end of the first period, when the first
    // clients came and went (pools and buffers at their working size).
    let first = samples.get(1).copied().unwrap_or(samples[0]);
    let grew = growing(first, last);
    println!(
        "soak: {} — master own memory {} -> {} KiB, shared {} -> {} KiB, fds {} -> {} \
         (from sample 1 to the end; at most +{RSS_SLACK_KIB} KiB and 5 % allowed, no fd)",
        if grew { "GROWING" } else { "flat" },
        first.rss_kib,
        last.rss_kib,
        first.shared_kib,
        last.shared_kib,
        first.fds,
        last.fds
    );
    drop(d);
    drop(clients);
    drop(run);
    anyhow::ensure!(!grew, "the master's memory or descriptors grew");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_judged_with_slack_for_memory_and_none_for_fds() {
        let a = Sample {
            rss_kib: 10_000,
            shared_kib: 5_000,
            fds: 40,
        };
        assert!(!growing(a, a));
        assert!(!growing(
            a,
            Sample {
                rss_kib: 11_000,
                ..a
            }
        ));
        assert!(growing(
            a,
            Sample {
                rss_kib: 12_000,
                ..a
            }
        ));
        assert!(growing(a, Sample { fds: 41, ..a }));
        assert!(!growing(a, Sample { fds: 39, ..a }));
    }
}
