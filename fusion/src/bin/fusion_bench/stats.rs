//! Per-sample timings → summary statistics ([`Stats`]), one result line ([`Row`]), the
//! sample budget ([`Budget`]) and the timing loops that produce samples.

use std::io;
use std::time::Duration;

use fusionfb_sys as sys;
use serde::Serialize;

/// Summary of one measurement, in nanoseconds per operation.
///
/// For batched measurements each sample is the mean of one batch, so `p99` is the 99th
/// percentile of batch means (it hides single slow operations inside a batch).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stats {
    /// Median.
    pub median_ns: f64,
    /// 99th percentile (nearest rank).
    pub p99_ns: f64,
    /// Arithmetic mean.
    pub mean_ns: f64,
    /// Fastest sample.
    pub min_ns: f64,
    /// Number of samples (warm-up excluded).
    pub samples: usize,
}

impl Stats {
    /// Statistics of per-sample nanoseconds (one operation per sample).
    pub fn from_samples(ns: Vec<u64>) -> Self {
        Self::per_op(ns, 1)
    }

    /// Statistics of per-sample totals, each covering `ops` operations, reported per op.
    /// (Sorting totals and dividing afterwards keeps sub-nanosecond resolution.)
    pub fn per_op(mut totals: Vec<u64>, ops: u64) -> Self {
        if totals.is_empty() {
            return Self::default();
        }
        totals.sort_unstable();
        let n = totals.len();
        let per = ops.max(1) as f64;
        let median = if n % 2 == 1 {
            totals[n / 2] as f64
        } else {
            (totals[n / 2 - 1] as f64 + totals[n / 2] as f64) / 2.0
        };
        let rank = (n * 99).div_ceil(100).max(1);
        let mean = totals.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        Self {
            median_ns: median / per,
            p99_ns: totals[rank - 1] as f64 / per,
            mean_ns: mean / per,
            min_ns: totals[0] as f64 / per,
            samples: n,
        }
    }
}

/// One line of the report: a variant (implementation) measured in a case.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is measured, e.g. `lock` or `fanout N=4`; rows with the same case compare.
    pub case: String,
    /// Which implementation: a baseline name, or `fusion` (see `report::is_fusion`).
    pub variant: String,
    /// The numbers.
    pub stats: Stats,
    /// Operations timed together per sample (1 unless batched).
    pub ops_per_sample: u64,
}

impl Row {
    /// A row.
    pub fn new(
        case: impl Into<String>,
        variant: impl Into<String>,
        stats: Stats,
        ops: u64,
    ) -> Self {
        Self {
            case: case.into(),
            variant: variant.into(),
            stats,
            ops_per_sample: ops,
        }
    }
}

/// How much to measure: full runs for numbers, `--quick` for a smoke test.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// `--quick`: small sample counts.
    pub quick: bool,
}

impl Budget {
    /// `full` normally, `quick` under `--quick`.
    pub fn pick(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// Warm-up iterations to run (and discard) before `samples` measured ones.
    pub fn warmup(&self, samples: usize) -> usize {
        (samples / 10).max(10)
    }

    /// How long to wait for a partner process before declaring it stuck.
    pub fn partner_timeout(&self) -> Duration {
        Duration::from_secs(if self.quick { 20 } else { 60 })
    }
}

/// Times `samples` batches of `batch` calls of `op` (after a tenth as many warm-up
/// batches) and reports per call. For operations too short to time one by one.
pub fn time_batches(
    budget: &Budget,
    samples: usize,
    batch: usize,
    mut op: impl FnMut() -> io::Result<()>,
) -> io::Result<Stats> {
    let warm = budget.warmup(samples);
    let mut totals = Vec::with_capacity(samples);
    for i in 0..warm + samples {
        let t0 = sys::now_ns();
        for _ in 0..batch {
            op()?;
        }
        let dt = sys::now_ns() - t0;
        if i >= warm {
            totals.push(dt);
        }
    }
    Ok(Stats::per_op(totals, batch as u64))
}

/// Times `samples` single calls of `op(i)` after warm-up calls; `i` counts all calls from
/// zero (warm-up included) so that `op` can tag its messages.
pub fn time_each(
    budget: &Budget,
    samples: usize,
    mut op: impl FnMut(u64) -> io::Result<()>,
) -> io::Result<Stats> {
    let warm = budget.warmup(samples);
    let mut ns = Vec::with_capacity(samples);
    for i in 0..warm + samples {
        let t0 = sys::now_ns();
        op(i as u64)?;
        let dt = sys::now_ns() - t0;
        if i >= warm {
            ns.push(dt);
        }
    }
    Ok(Stats::from_samples(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_samples() {
        let s = Stats::from_samples((1..=100).collect());
        assert_eq!(s.median_ns, 50.5);
        assert_eq!(s.p99_ns, 99.0);
        assert_eq!(s.mean_ns, 50.5);
        assert_eq!(s.min_ns, 1.0);
        assert_eq!(s.samples, 100);
        let b = Stats::per_op(vec![30, 10, 20], 10);
        assert_eq!(b.median_ns, 2.0);
        assert_eq!(b.min_ns, 1.0);
        assert_eq!(Stats::from_samples(Vec::new()).samples, 0);
    }
}
