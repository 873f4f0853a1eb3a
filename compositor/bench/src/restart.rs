//! Master death to the picture back on the glass: `fusionfb run` (supervised, headless) with
//! one native client showing a window; the master gets `SIGKILL`, and the time runs until the
//! new master presents the client's last frame again — the supervisor noticing the death,
//! starting a new master, the client rejoining and handing its buffers back. The client is
//! this process (the library's rejoin, as any application gets it).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fusionfb_client::display::ClientEvent;
use fusionfb_client::Format;

use crate::Supervised;

/// Kills the master `kills` times; returns each time from the `SIGKILL` to the presentation
/// of the client's frame by the new master, in ms.
pub fn master_restarts(fusionfb: &Path, kills: usize) -> anyhow::Result<Vec<f64>> {
    let run = Supervised::start(fusionfb, &format!("bench-restart-{}", std::process::id()))?;
    let mut d = run.join()?;
    d.set_rejoin(Some(Duration::from_secs(20)));
    let mut s = d.create_surface(256, 256, Format::Xrgb8888, 2)?;
    let _w = d.create_window(&s, 0, 100, 100)?;
    s.back().fill(0xff20_60a0)?;
    d.flip(&mut s, &[])?;
    d.wait_frame(&s, Duration::from_secs(10))?;
    let mut out = Vec::with_capacity(kills);
    for _ in 0..kills {
        let pid = d
            .describe()?
            .health
            .map(|h| h.pid)
            .context("the master reports no pid")?;
        let pidfd = fusionfb_sys::pidfd_open(pid)?;
        let t0 = fusionfb_sys::now_ns();
        fusionfb_sys::pidfd_kill(std::os::fd::AsFd::as_fd(&pidfd))?;
        let end = Instant::now() + Duration::from_secs(20);
        'rejoin: loop {
            anyhow::ensure!(Instant::now() < end, "no rejoin within 20 s");
            d.dispatch(Some(Duration::from_millis(50)))?;
            while let Some(e) = d.next_event() {
                match e {
                    ClientEvent::Rejoined { .. } => break 'rejoin,
                    ClientEvent::MasterGone => anyhow::bail!("the master did not come back"),
                    _ => {}
                }
            }
        }
        // The window's last frame, shown by the new master.
        let shown = d.wait_frame(&s, Duration::from_secs(10))?;
        out.push(shown.saturating_sub(t0) as f64 / 1e6);
        // Not a crash loop (the supervisor slows those down): a master that served a while.
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(out)
}
