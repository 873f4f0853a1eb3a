//! Issue 4's frame benchmarks, on the headless backend: what a frame copies, and how many
//! vblanks a flip takes to reach the glass.
//!
//! - **Bytes composed per frame** ([`Server::bytes_composed_total`] over the frames
//!   committed), for a client holding the primary layer exclusively (`--role exclusive`: its
//!   buffer goes to the plane as it is; goal 0) and for a 256x256 window that changes only
//!   a 32x32 square each frame (`--role damage`; goal: the damaged area, 4096 bytes).
//! - **Flip to present, in vblanks**: the client stamps `CLOCK_MONOTONIC` just before its
//!   flip, and the `FrameDone` carries the vblank that showed it; the latency is the number
//!   of vblank periods between the two, rounded up ([`vblanks_between`]): 1 when the flip
//!   came before that frame's compose deadline. Paced clients flip right after a
//!   `FrameDone` (the roles above); `--role flip-random` waits a random part of a frame
//!   first, so some flips land after the deadline (the master composes 4 ms before the
//!   vblank) and take 2.
//!
//! Headless vblanks are exact ticks of the monotonic clock (what DRM reports as well), so
//! the vblank count is not blurred by when the master got round to reading the event.

use std::process::{Command, Stdio};
use std::time::Duration;

use fusionfb_client::display::{ClientEvent, Display, Surface};
use fusionfb_protocol as proto;

use super::latency::{print_samples, Jitter};
use super::{read_samples, Clients};
use fusionfb::server::Server;

/// The damaged square of `--role damage`, in its 256x256 surface.
pub const DAMAGE: proto::Rect<proto::Buffer> = proto::Rect::new(16, 16, 32, 32);

/// What one frame-benchmark client showed.
#[derive(Debug, Clone, Default)]
pub struct FrameRun {
    /// Bytes composed, per frame committed while it ran.
    pub bytes_per_frame: Vec<f64>,
    /// Frames committed while measuring.
    pub frames: u64,
    /// Its flips' latencies in vblanks.
    pub vblanks: Vec<f64>,
}

/// Vblank periods from a flip at `flip_ns` to the vblank at `present_ns` that showed it,
/// rounded up (a flip exactly on a vblank is shown by the next one: 1).
pub fn vblanks_between(flip_ns: u64, present_ns: u64, period_ns: u64) -> u64 {
    let d = present_ns.saturating_sub(flip_ns);
    d.div_ceil(period_ns.max(1)).max(1)
}

/// Runs one client of `role` (`exclusive`, `damage`, `flip-random`) for `secs`, measuring the
/// master's composition per frame; the client reports its flips' vblank latencies.
pub fn run(
    server: &mut Server,
    exe: &std::path::Path,
    world: &str,
    role: &str,
    secs: f64,
) -> anyhow::Result<FrameRun> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let mut clients = Clients(vec![Command::new(exe)
        .args(["--world", world, "client", "--role", role])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| err(&e))?]);
    // Past its first frames (the first composes its whole window).
    let started = server
        .dispatch_until(Duration::from_secs(20), |s| {
            s.scene().surfaces.iter().any(|sf| sf.presented >= 3)
        })
        .map_err(|e| err(&e))?;
    if !started {
        return Err(anyhow::anyhow!("the {role} client showed no frames"));
    }
    let mut run = FrameRun::default();
    let f0 = server.frames();
    let (mut frames, mut bytes) = (server.frames(), server.bytes_composed_total());
    let end = std::time::Instant::now() + Duration::from_secs_f64(secs);
    while std::time::Instant::now() < end {
        server
            .dispatch(Some(Duration::from_millis(5)))
            .map_err(|e| err(&e))?;
        let (f, b) = (server.frames(), server.bytes_composed_total());
        if f > frames {
            run.bytes_per_frame
                .push((b - bytes) as f64 / (f - frames) as f64);
            (frames, bytes) = (f, b);
        }
    }
    run.frames = server.frames() - f0;
    server.master().kill(None, Duration::from_secs(2));
    server
        .dispatch_until(Duration::from_secs(4), |s| {
            s.master().fusionees().is_empty()
        })
        .map_err(|e| err(&e))?;
    run.vblanks = read_samples(&mut clients.0[0]);
    if run.vblanks.is_empty() {
        return Err(anyhow::anyhow!("the {role} client reported no flips"));
    }
    Ok(run)
}

/// The client of [`run`]: flips every frame until asked to leave, then prints each flip's
/// latency in vblanks.
pub fn client(world: &str, role: &str) -> anyhow::Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let cfg = fusion::WorldConfig::new(world).client_name("bench-frames");
    let mut d = Display::connect_to(cfg).map_err(|e| err(&e))?;
    let period_ns = 1_000_000_000_000 / u64::from(d.output().refresh_mhz.max(1));
    let (mut s, damage): (Surface, Vec<proto::Rect<proto::Buffer>>) = match role {
        "exclusive" => (d.acquire_layer(0).map_err(|e| err(&e))?, vec![]),
        "damage" | "flip-random" => {
            let s = d
                .create_surface(256, 256, gfx_drivers::Format::Xrgb8888, 2)
                .map_err(|e| err(&e))?;
            d.create_window(&s, 0, 100, 100).map_err(|e| err(&e))?;
            (s, vec![DAMAGE])
        }
        other => return Err(anyhow::anyhow!("no frame role {other:?}")),
    };
    // Both buffers whole once, then only the damage.
    for _ in 0..2 {
        s.back().fill(0xff40_4040).map_err(|e| err(&e))?;
        d.flip(&mut s, &[]).map_err(|e| err(&e))?;
        d.wait_frame(&s, Duration::from_secs(2))
            .map_err(|e| err(&e))?;
    }
    let mut jitter = Jitter::new(0xf11b);
    let mut vblanks = Vec::new();
    for frame in 0u32.. {
        if role == "flip-random" {
            std::thread::sleep(Duration::from_nanos(jitter.below(period_ns)));
        }
        let colour = 0xff00_0000 | frame.wrapping_mul(0x0010_2030);
        match damage.first() {
            Some(r) => s.back().fill_rect(*r, colour),
            None => s.back().fill(colour),
        }
        .map_err(|e| err(&e))?;
        let flip_ns = fusionfb_sys::now_ns();
        match d.flip(&mut s, &damage) {
            Ok(()) => {}
            Err(_) if d.slave().master_gone() => break,
            Err(e) => return Err(err(&e)),
        }
        match d.wait_frame(&s, Duration::from_secs(2)) {
            Ok(present_ns) => vblanks.push(vblanks_between(flip_ns, present_ns, period_ns)),
            Err(_) if d.slave().master_gone() => break,
            Err(e) => return Err(err(&e)),
        }
        let mut leave = false;
        while let Some(e) = d.next_event() {
            leave |= matches!(e, ClientEvent::LeaveRequested | ClientEvent::MasterGone);
        }
        if leave {
            break;
        }
    }
    print_samples(&vblanks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flip_before_the_next_vblank_is_one_frame_and_one_after_it_two() {
        let p = 16_666_667;
        // Flipped 5 ms before the vblank that showed it.
        assert_eq!(vblanks_between(10 * p - 5_000_000, 10 * p, p), 1);
        // Flipped just after a vblank, shown by the one after next.
        assert_eq!(vblanks_between(10 * p + 1, 12 * p, p), 2);
        // Exactly on a vblank: the next one shows it.
        assert_eq!(vblanks_between(10 * p, 11 * p, p), 1);
        // A presentation time before the flip (clock confusion) still counts one.
        assert_eq!(vblanks_between(10 * p, 9 * p, p), 1);
    }
}
