//! Bytes composed per pointer motion (issue 15, item 3), on the headless backend: the same
//! 40 pointer motions with the cursor on the cursor plane (a motion moves the plane; goal 0)
//! and composed (an output without a cursor plane, as bochs), each motion shown before the
//! next. The figure is the growth of [`Server::bytes_composed_total`] per motion; nothing
//! else changes on the screen meanwhile.

use std::time::Duration;

use fusionfb::compose::Transform;
use fusionfb::server::{LayerSpec, Server};
use fusionfb_protocol::Injected;
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};

/// Pointer motions measured per case.
pub const MOTIONS: usize = 40;

/// Bytes composed by each of [`MOTIONS`] motions, and whether the hardware cursor was used,
/// on a 1280x800 headless output with (`plane`) or without a cursor plane.
pub fn run(world: &str, plane: bool) -> anyhow::Result<(Vec<f64>, bool)> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let out = HeadlessOutputConfig::new().cursor_plane(plane);
    let backend = HeadlessBackend::new(vec![out]).map_err(|e| err(&e))?;
    let mut s = Server::with_layers(
        fusion::WorldConfig::new(world),
        Box::new(backend),
        Transform::Normal,
        vec![LayerSpec::primary()],
    )
    .map_err(|e| err(&e))?;
    s.set_cursor_visible(Some(true));
    let settle = |s: &mut Server| -> anyhow::Result<()> {
        // Shown: every frame made is presented and no other follows within 40 ms.
        let mut last = (u64::MAX, u64::MAX);
        s.dispatch_until(Duration::from_secs(10), |s| {
            let now = (s.frames(), s.presented());
            let done = now == last && now.0 == now.1;
            last = now;
            done
        })
        .map_err(|e| err(&e))?;
        Ok(())
    };
    s.inject(vec![Injected::PointerTo { x: 100.0, y: 100.0 }], 1)
        .map_err(|e| err(&e))?;
    settle(&mut s)?;
    let mut bytes = Vec::with_capacity(MOTIONS);
    for i in 0..MOTIONS {
        let before = s.bytes_composed_total();
        s.inject(
            vec![Injected::PointerMotion { dx: 5.0, dy: 3.0 }],
            2 + i as u64,
        )
        .map_err(|e| err(&e))?;
        settle(&mut s)?;
        bytes.push((s.bytes_composed_total() - before) as f64);
    }
    Ok((bytes, s.hardware_cursor()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figure on both sides: 0 bytes per motion with the plane, bytes without.
    #[test]
    fn the_plane_composes_nothing_per_motion_and_composition_does() {
        let tag = std::process::id();
        let (plane, hardware) = run(&format!("bench-cursor-test-{tag}-1"), true).unwrap();
        assert!(hardware);
        assert_eq!(plane.len(), MOTIONS);
        assert!(plane.iter().all(|&b| b == 0.0), "{plane:?}");
        let (composed, hardware) = run(&format!("bench-cursor-test-{tag}-0"), false).unwrap();
        assert!(!hardware);
        assert!(composed.iter().all(|&b| b > 0.0), "{composed:?}");
        eprintln!("bytes per motion, composed: {composed:?}");
    }
}
