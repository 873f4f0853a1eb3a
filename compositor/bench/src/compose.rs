//! A benchmark of composition (`fusionfb::compose`), for `fusionfb bench` and for judging
//! changes.
//!
//! The scene: four 640×480 `Argb8888` windows (translucent gradients, overlapping) over a
//! 1280×800 `Xrgb8888` background. Measured, each as median and 99th percentile of
//! [`BenchOptions::iterations`] runs:
//!
//! - `compose full`: [`compose`] with the whole output damaged;
//! - `pixman bare`: the same pixels drawn with pixman directly ([`compose_bare`]: one fill,
//!   four OVER composites), the floor that `compose` adds its region work to;
//! - `memcpy frame`: copying a 1280×800×4 frame, the memory-bandwidth yardstick;
//! - `compose 64x64`: [`compose`] with one 64×64 damage rectangle over the overlapping windows;
//! - `compose full 90°`: the full frame onto a panel rotated 90° (800×1280 physical), the cost of
//!   sampling through a transform;
//! - `scratch + rotate 90°`: the same through [`compose_via_scratch`]:
//!   upright into a scratch frame, then one rotated SRC copy;
//! - `opaque 90°` and `opaque 90° scratch`: both ways for one opaque full-screen window.
//!
//! Run it optimised: `cargo run --release -p fusionfb-bench --example compose_bench`.

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use fusionfb::compose::{
    compose, compose_bare, compose_via_scratch, Damage, Element, Format, PixelBuffer, Rect, Scene,
    Transform,
};

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Timed runs per case (after a few untimed warm-up runs).
    pub iterations: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { iterations: 200 }
    }
}

/// The timing of one case.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Short name of the case.
    pub name: &'static str,
    /// Pixels of the output the case repaints (or copies) per run.
    pub pixels: u64,
    /// Median duration of a run.
    pub median: Duration,
    /// 99th percentile duration of a run.
    pub p99: Duration,
    /// Number of timed runs.
    pub runs: usize,
}

impl Timing {
    /// Output pixels per second at the median, in millions.
    pub fn megapixels_per_second(&self) -> f64 {
        self.pixels as f64 / self.median.as_secs_f64() / 1e6
    }
}

/// All timings of a run of [`run`].
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Output size of the scene, physical pixels.
    pub output: (u32, u32),
    /// One entry per case, in the order of the module docs.
    pub timings: Vec<Timing>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "composition, {}x{} XRGB8888 output, 4 ARGB8888 640x480 windows:",
            self.output.0, self.output.1
        )?;
        writeln!(
            f,
            "  {:<18} {:>10} {:>10} {:>10} {:>8}",
            "case", "pixels", "median", "p99", "Mpix/s"
        )?;
        for t in &self.timings {
            writeln!(
                f,
                "  {:<18} {:>10} {:>10.3?} {:>10.3?} {:>8.0}",
                t.name,
                t.pixels,
                t.median,
                t.p99,
                t.megapixels_per_second()
            )?;
        }
        Ok(())
    }
}

const OUT_W: u32 = 1280;
const OUT_H: u32 = 800;
const WIN_W: u32 = 640;
const WIN_H: u32 = 480;
const PLACES: [(i32, i32); 4] = [(40, 40), (360, 120), (600, 200), (200, 300)];

fn window(seed: u32) -> PixelBuffer {
    let mut b = PixelBuffer::new(WIN_W, WIN_H, Format::Argb8888);
    for y in 0..WIN_H {
        for x in 0..WIN_W {
            let a = 0x60 + (x * 0x9f / WIN_W);
            let c = |v: u32| (v & 0xff) * a / 255;
            let (r, g, bl) = (c(x + seed * 60), c(y + seed * 30), c(x ^ y));
            b.set_pixel(x, y, (a << 24) | (r << 16) | (g << 8) | bl);
        }
    }
    b
}

fn measure(name: &'static str, pixels: u64, iterations: usize, mut f: impl FnMut()) -> Timing {
    for _ in 0..iterations.clamp(1, 5) {
        f();
    }
    let mut samples: Vec<Duration> = (0..iterations.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let n = samples.len();
    Timing {
        name,
        pixels,
        median: samples[n / 2],
        p99: samples[(n * 99).div_ceil(100) - 1],
        runs: n,
    }
}

/// Runs every case and returns the timings.
pub fn run(options: BenchOptions) -> BenchReport {
    let n = options.iterations;
    let windows: Vec<PixelBuffer> = (0..4).map(window).collect();
    let elements: Vec<Element<'_>> = windows
        .iter()
        .zip(PLACES)
        .enumerate()
        .map(|(i, (w, (x, y)))| Element::new(i as u64, w.view(), Rect::new(x, y, WIN_W, WIN_H)))
        .collect();
    let scene = Scene {
        elements: &elements,
        background: 0x20_30_40,
        transform: Transform::Normal,
    };
    let full = Damage::full(OUT_W, OUT_H);
    let frame_pixels = (OUT_W * OUT_H) as u64;
    let mut target = PixelBuffer::new(OUT_W, OUT_H, Format::Xrgb8888);
    let mut timings = Vec::new();

    timings.push(measure("compose full", frame_pixels, n, || {
        black_box(compose(&mut target.view_mut(), &scene, &full).expect("compose"));
    }));

    timings.push(measure("pixman bare", frame_pixels, n, || {
        let mut view = target.view_mut();
        compose_bare(&mut view, scene.background, &elements).expect("bare pixman");
        black_box(&view);
    }));

    let source = PixelBuffer::filled(OUT_W, OUT_H, Format::Xrgb8888, 0x123456);
    timings.push(measure("memcpy frame", frame_pixels, n, || {
        target
            .bytes_mut()
            .copy_from_slice(black_box(source.bytes()));
        black_box(target.bytes());
    }));

    let small = Damage::from_rects(OUT_W, OUT_H, [Rect::new(620, 330, 64, 64)]);
    timings.push(measure("compose 64x64", 64 * 64, n, || {
        black_box(compose(&mut target.view_mut(), &scene, &small).expect("compose"));
    }));

    let mut rotated = PixelBuffer::new(OUT_H, OUT_W, Format::Xrgb8888);
    let scene90 = Scene {
        transform: Transform::Rotate90,
        ..scene
    };
    timings.push(measure("compose full 90°", frame_pixels, n, || {
        black_box(compose(&mut rotated.view_mut(), &scene90, &full).expect("compose"));
    }));

    let mut scratch = PixelBuffer::new(OUT_W, OUT_H, Format::Xrgb8888);
    timings.push(measure("scratch + rotate 90°", frame_pixels, n, || {
        let (mut target, mut scratch) = (rotated.view_mut(), scratch.view_mut());
        black_box(
            compose_via_scratch(&mut target, &mut scratch, &scene90, &full).expect("compose"),
        );
    }));

    // One opaque full-screen window (a video, a kiosk app) on the rotated panel.
    let app = PixelBuffer::filled(OUT_W, OUT_H, Format::Xrgb8888, 0x405060);
    let opaque = [Element::new(9, app.view(), Rect::from_size(OUT_W, OUT_H))];
    let opaque90 = Scene {
        elements: &opaque,
        ..scene90
    };
    timings.push(measure("opaque 90°", frame_pixels, n, || {
        black_box(compose(&mut rotated.view_mut(), &opaque90, &full).expect("compose"));
    }));
    timings.push(measure("opaque 90° scratch", frame_pixels, n, || {
        let (mut target, mut scratch) = (rotated.view_mut(), scratch.view_mut());
        black_box(
            compose_via_scratch(&mut target, &mut scratch, &opaque90, &full).expect("compose"),
        );
    }));

    BenchReport {
        output: (OUT_W, OUT_H),
        timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_reports_every_case() {
        let report = run(BenchOptions { iterations: 1 });
        assert_eq!(report.timings.len(), 8);
        let text = report.to_string();
        assert!(
            text.contains("compose 64x64") && text.contains("memcpy frame"),
            "{text}"
        );
    }

    /// `compose` and bare pixman produce the same frame: the benchmark compares like with like.
    #[test]
    fn compose_equals_bare_pixman() {
        let windows: Vec<PixelBuffer> = (0..4).map(window).collect();
        let elements: Vec<Element<'_>> = windows
            .iter()
            .zip(PLACES)
            .enumerate()
            .map(|(i, (w, (x, y)))| Element::new(i as u64, w.view(), Rect::new(x, y, WIN_W, WIN_H)))
            .collect();
        let scene = Scene {
            elements: &elements,
            background: 0x20_30_40,
            transform: Transform::Normal,
        };
        let mut a = PixelBuffer::new(OUT_W, OUT_H, Format::Xrgb8888);
        compose(&mut a.view_mut(), &scene, &Damage::full(OUT_W, OUT_H)).unwrap();
        let mut b = PixelBuffer::filled(OUT_W, OUT_H, Format::Xrgb8888, 0x20_30_40);
        compose_bare(&mut b.view_mut(), scene.background, &elements).unwrap();
        for y in 0..OUT_H {
            for x in 0..OUT_W {
                assert_eq!(a.pixel(x, y), b.pixel(x, y), "({x}, {y})");
            }
        }
    }
}
