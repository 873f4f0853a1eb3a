//! Touch-to-app latency (issue 5's benchmark), next to the bare kernel wake it stands on.
//!
//! - **Touch to app**: on a timer in the master (every 1–3 ms, irregular so it does not lock
//!   to the display's frames), one synthetic touch event is stamped with `CLOCK_MONOTONIC`
//!   as it is created (what the kernel does for a real one) and fed through the master's
//!   real input path ([`Server::inject`]: the input source, the hit test, the implicit grab,
//!   the window's reactor). Events alternate down and up on one slot, at the centre of a
//!   window owned by a slave process (`fusionfb-bench client --role touch`), which takes its
//!   events from the client library's blocking iterator ([`Display::events`]) as an
//!   application would and records `now - time_ns` for each touch the moment it gets it.
//!   Not included: the kernel-to-master read of a real device (libinput's own dispatch).
//! - With **8 slaves**: the touched one, and 7 others animating 256x256 windows
//!   continuously (they flip every frame), so the master composes while it routes and the
//!   slaves compete for the CPU.
//! - **Baseline**: the same timer and the same 8-byte timestamp, written into a Unix stream
//!   socket whose other end is a blocked `read` in another process (`--role wake`): the
//!   cheapest cross-process wake-up the kernel offers, what the figure above cannot beat.
//!
//! The first [`WARMUP`] samples of each run are dropped (page faults, first wake-ups).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fusionfb_client::display::{ClientEvent, Display};
use fusionfb_protocol::{Injected, TouchPhase};

use super::{read_samples, Clients};
use fusionfb::server::Server;

/// Samples dropped at the start of each run.
pub const WARMUP: usize = 5;
/// The touched window: its size and place (clear of the animating windows at y = 100).
pub(crate) const TOUCH_RECT: (i32, i32, u32) = (600, 500, 64);

/// A small deterministic generator of irregular intervals (1–3 ms).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Jitter(seed | 1)
    }

    /// The next interval, between 1 and 3 ms.
    pub fn next_interval(&mut self) -> Duration {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_micros(1000 + self.0 % 2000)
    }

    /// A number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_interval();
        self.0 % n.max(1)
    }
}

/// What [`touch_to_app`] measured, in µs.
#[derive(Debug, Clone, Default)]
pub struct TouchRun {
    /// From the event's timestamp to the slave's handler.
    pub app: Vec<f64>,
    /// The master's share: from the timestamp until [`Server::inject`] returned (input
    /// source, hit test, encoding, the reactor write and the slave's wake-up call).
    pub route: Vec<f64>,
    /// Of that, from the timestamp until the touch event was in the window's reactor ring
    /// (before the wake-up call): the routing proper.
    pub to_ring: Vec<f64>,
}

/// Touch-to-app latencies with the touched slave and `animating` others running.
pub fn touch_to_app(
    server: &mut Server,
    exe: &std::path::Path,
    world: &str,
    animating: usize,
    events: usize,
) -> anyhow::Result<TouchRun> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let mut clients = Clients(Vec::new());
    let mut route = Vec::with_capacity(events);
    let mut to_ring = Vec::with_capacity(events);
    let (x, y, _) = TOUCH_RECT;
    clients.0.push(
        Command::new(exe)
            .args(["--world", world, "client", "--role", "touch"])
            .args(["--x", &x.to_string(), "--y", &y.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| err(&e))?,
    );
    for i in 0..animating {
        clients.0.push(
            Command::new(exe)
                .args(["--world", world, "client", "--animate"])
                .arg((i as i32 * 170).to_string())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| err(&e))?,
        );
    }
    let shown = server
        .dispatch_until(Duration::from_secs(20), |s| s.windows_shown() > animating)
        .map_err(|e| err(&e))?;
    if !shown {
        return Err(anyhow::anyhow!(
            "the bench clients' windows did not show up"
        ));
    }
    // Let the touched client reach its event loop.
    server
        .dispatch_until(Duration::from_millis(100), |_| false)
        .map_err(|e| err(&e))?;
    server.master().stamp_publishes(true);
    for (stamp, written, done) in taps(server, TOUCH_RECT, events, 0x5eed + animating as u64)? {
        route.push(done.saturating_sub(stamp) as f64 / 1e3);
        to_ring.push(written.saturating_sub(stamp) as f64 / 1e3);
    }
    server.master().stamp_publishes(false);
    // Let the last events arrive, then ask everyone to leave.
    server
        .dispatch_until(Duration::from_millis(50), |_| false)
        .map_err(|e| err(&e))?;
    server.master().kill(None, Duration::from_secs(2));
    server
        .dispatch_until(Duration::from_secs(4), |s| {
            s.master().fusionees().is_empty()
        })
        .map_err(|e| err(&e))?;
    let samples = read_samples(&mut clients.0[0]);
    if samples.len() <= WARMUP {
        return Err(anyhow::anyhow!(
            "the touched client got {} of {events} touches",
            samples.len()
        ));
    }
    Ok(TouchRun {
        app: samples[WARMUP..].iter().map(|ns| ns / 1e3).collect(),
        route: route.split_off(WARMUP.min(route.len())),
        to_ring: to_ring.split_off(WARMUP.min(to_ring.len())),
    })
}

/// Injects `events` touches, down and up in turn, at the centre of `rect` (`x, y, side`), on
/// the irregular timer (seeded with `seed`) while the master serves; each one's stamp (taken
/// as it is made, like the kernel stamps a real event) and the time `inject` returned, ns.
fn taps(
    server: &mut Server,
    (x, y, side): (i32, i32, u32),
    events: usize,
    seed: u64,
) -> anyhow::Result<Vec<(u64, u64, u64)>> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let (cx, cy) = (x as f32 + side as f32 / 2.0, y as f32 + side as f32 / 2.0);
    let mut jitter = Jitter::new(seed);
    let mut next = Instant::now();
    let mut out = Vec::with_capacity(events);
    for i in 0..events {
        next += jitter.next_interval();
        while Instant::now() < next {
            let left = next.saturating_duration_since(Instant::now());
            server.dispatch(Some(left)).map_err(|e| err(&e))?;
        }
        let phase = if i % 2 == 0 {
            TouchPhase::Down
        } else {
            TouchPhase::Up
        };
        let touch = Injected::Touch {
            phase,
            slot: 0,
            x: cx,
            y: cy,
        };
        let stamp = fusionfb_sys::now_ns();
        server.inject(vec![touch], stamp).map_err(|e| err(&e))?;
        let done = fusionfb_sys::now_ns();
        // The last reactor message the routing wrote (the touch, or a focus change).
        out.push((stamp, server.master().last_publish_ns(), done));
    }
    Ok(out)
}

/// Touch-to-app latencies (µs) for a Wayland client (`--role wl-touch`): the same timer and
/// injection as [`touch_to_app`], to a 64x64 toplevel the bench's rule puts at the same
/// place; the client records when each `wl_touch.down`/`up` reached its handler, and the
/// n-th arrival is paired with the n-th stamp (a lost event is an error, not a figure).
pub fn touch_to_wayland(
    server: &mut Server,
    exe: &std::path::Path,
    world: &str,
    events: usize,
) -> anyhow::Result<Vec<f64>> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let (x, y, _) = TOUCH_RECT;
    let before = server.windows_shown();
    let mut clients = Clients(vec![Command::new(exe)
        .args(["--world", world, "client", "--role", "wl-touch"])
        .args(["--x", &x.to_string(), "--y", &y.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| err(&e))?]);
    let shown = server
        .dispatch_until(Duration::from_secs(20), |s| s.windows_shown() > before)
        .map_err(|e| err(&e))?;
    anyhow::ensure!(shown, "the Wayland touch client's window did not show up");
    server
        .dispatch_until(Duration::from_millis(100), |_| false)
        .map_err(|e| err(&e))?;
    let stamps: Vec<u64> = taps(server, TOUCH_RECT, events, 0x5eed)?
        .into_iter()
        .map(|(stamp, _, _)| stamp)
        .collect();
    server
        .dispatch_until(Duration::from_millis(50), |_| false)
        .map_err(|e| err(&e))?;
    drop(clients.0[0].stdin.take());
    let arrivals = read_samples(&mut clients.0[0]);
    anyhow::ensure!(
        arrivals.len() == stamps.len(),
        "the Wayland client got {} of {events} touches",
        arrivals.len()
    );
    server
        .dispatch_until(Duration::from_millis(100), |_| false)
        .map_err(|e| err(&e))?;
    Ok(arrivals
        .iter()
        .zip(&stamps)
        .skip(WARMUP)
        .map(|(&at, &stamp)| (at - stamp as f64) / 1e3)
        .collect())
}

/// The baseline: latencies (µs) of a timestamp written into a Unix stream socket and read by
/// a blocked process, on the same irregular timer.
pub fn socket_wake(exe: &std::path::Path, events: usize) -> anyhow::Result<Vec<f64>> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let (mut ours, theirs) = UnixStream::pair().map_err(|e| err(&e))?;
    let mut clients = Clients(vec![Command::new(exe)
        .args(["client", "--role", "wake"])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| err(&e))?]);
    // The reader is blocked in `read` once it answers the first message.
    ours.write_all(&0u64.to_le_bytes()).map_err(|e| err(&e))?;
    let mut ack = [0u8; 1];
    ours.read_exact(&mut ack).map_err(|e| err(&e))?;
    let mut jitter = Jitter::new(0x5eed);
    for _ in 0..events {
        std::thread::sleep(jitter.next_interval());
        ours.write_all(&fusionfb_sys::now_ns().to_le_bytes())
            .map_err(|e| err(&e))?;
    }
    drop(ours);
    let samples = read_samples(&mut clients.0[0]);
    if samples.len() <= WARMUP {
        return Err(anyhow::anyhow!(
            "the reader got {} of {events} wakes",
            samples.len()
        ));
    }
    Ok(samples[WARMUP..].iter().map(|ns| ns / 1e3).collect())
}

/// The touched slave (`--role touch`): a 64x64 window at `(x, y)`; prints the latency (ns) of
/// every touch it got when asked to leave.
pub fn touch_client(world: &str, x: i32, y: i32) -> anyhow::Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let cfg = fusion::WorldConfig::new(world).client_name("bench-touch");
    let mut d = Display::connect_to(cfg).map_err(|e| err(&e))?;
    let side = TOUCH_RECT.2;
    let mut s = d
        .create_surface(side, side, gfx_drivers::Format::Xrgb8888, 2)
        .map_err(|e| err(&e))?;
    let _window = d.create_window(&s, 0, x, y).map_err(|e| err(&e))?;
    s.back().fill(0xff30_60a0).map_err(|e| err(&e))?;
    d.flip(&mut s, &[]).map_err(|e| err(&e))?;
    let mut latencies = Vec::new();
    for event in d.events() {
        match event {
            ClientEvent::Touch { touch, .. } => {
                let now = fusionfb_sys::now_ns();
                if touch.phase != TouchPhase::Frame {
                    latencies.push(now.saturating_sub(touch.time_ns));
                }
            }
            ClientEvent::LeaveRequested | ClientEvent::MasterGone => break,
            _ => {}
        }
    }
    print_samples(&latencies);
    Ok(())
}

/// The baseline's reader (`--role wake`): reads 8-byte timestamps from stdin (a Unix
/// socket), answers the first one, and prints the latency (ns) of the others at the end.
pub fn wake_client() -> anyhow::Result<()> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned();
    let mut sock = UnixStream::from(fd?);
    let mut buf = [0u8; 8];
    sock.read_exact(&mut buf)?;
    sock.write_all(&[1])?;
    let mut latencies = Vec::new();
    while sock.read_exact(&mut buf).is_ok() {
        let now = fusionfb_sys::now_ns();
        latencies.push(now.saturating_sub(u64::from_le_bytes(buf)));
    }
    print_samples(&latencies);
    Ok(())
}

/// Prints samples as one line of numbers (what [`read_samples`] reads).
pub(super) fn print_samples(v: &[u64]) {
    let line: Vec<String> = v.iter().map(u64::to_string).collect();
    println!("{}", line.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_one_and_three_ms_and_varies() {
        let mut j = Jitter::new(7);
        let v: Vec<Duration> = (0..1000).map(|_| j.next_interval()).collect();
        assert!(v
            .iter()
            .all(|d| *d >= Duration::from_millis(1) && *d < Duration::from_millis(3)));
        let distinct: std::collections::BTreeSet<_> = v.iter().collect();
        assert!(
            distinct.len() > 500,
            "{} distinct intervals",
            distinct.len()
        );
        assert!((0..100).all(|_| j.below(10) < 10));
    }
}
