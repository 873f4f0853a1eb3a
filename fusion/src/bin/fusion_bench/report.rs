//! Output: the aligned table or the JSON document, the `fusion/baseline` ratios, and
//! the machine description.

use std::fmt::Write as _;

use serde::Serialize;

use crate::fusion_bench::stats::{Row, Stats};

/// Whether a variant is Fusion's (`fusion`, or `fusion-…` for several Fusion flavours).
pub fn is_fusion(variant: &str) -> bool {
    variant == "fusion" || variant.starts_with("fusion-")
}

/// A Fusion row's median over a baseline's median, in the same case.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The baseline variant.
    pub baseline: String,
    /// `fusion median / baseline median` (below 1: Fusion is faster).
    pub median_ratio: f64,
}

/// For each row, its ratios against every baseline row of the same case (empty for
/// baseline rows, and for Fusion rows with no baseline beside them).
pub fn ratios(rows: &[Row]) -> Vec<Vec<Ratio>> {
    rows.iter()
        .map(|r| {
            if !is_fusion(&r.variant) {
                return Vec::new();
            }
            rows.iter()
                .filter(|b| b.case == r.case && !is_fusion(&b.variant))
                .filter(|b| b.stats.median_ns > 0.0)
                .map(|b| Ratio {
                    baseline: b.variant.clone(),
                    median_ratio: r.stats.median_ns / b.stats.median_ns,
                })
                .collect()
        })
        .collect()
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs available to this process.
    pub nproc: usize,
    /// `uname -srm`.
    pub kernel: String,
    /// Where the processes ran (`--pin`).
    pub pin: &'static str,
}

impl Machine {
    /// Describes this machine.
    pub fn here() -> Self {
        // Online CPUs (not the affinity mask: `--pin` narrows that to one).
        let nproc = fusionfb_sys::online_cpus();
        // SAFETY: uname fills a zeroed struct of NUL-terminated strings.
        let kernel = unsafe {
            let mut u: libc::utsname = std::mem::zeroed();
            if libc::uname(&mut u) == 0 {
                let f = |s: &[libc::c_char]| {
                    std::ffi::CStr::from_ptr(s.as_ptr())
                        .to_string_lossy()
                        .into_owned()
                };
                format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
            } else {
                "unknown".to_string()
            }
        };
        Self {
            nproc,
            kernel,
            pin: crate::fusion_bench::pin::current().name(),
        }
    }
}

/// A case that failed to produce rows.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The case name.
    pub case: String,
    /// What went wrong.
    pub error: String,
}

/// Formats nanoseconds: one decimal, which matters for the batched few-ns cases.
fn ns(v: f64) -> String {
    format!("{v:.1}")
}

/// The human-readable report.
pub fn table(machine: &Machine, quick: bool, rows: &[Row], legend: &[&str]) -> String {
    let ratios = ratios(rows);
    let head = [
        "case",
        "variant",
        "median",
        "p99",
        "mean",
        "min",
        "samples",
        "fusion/baseline",
    ];
    let body: Vec<[String; 8]> = rows
        .iter()
        .zip(&ratios)
        .map(|(r, rs)| {
            let goal = if rs.is_empty() {
                "-".to_string()
            } else {
                rs.iter()
                    .map(|x| format!("{:.2}x {}", x.median_ratio, x.baseline))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            [
                r.case.clone(),
                r.variant.clone(),
                ns(r.stats.median_ns),
                ns(r.stats.p99_ns),
                ns(r.stats.mean_ns),
                ns(r.stats.min_ns),
                r.stats.samples.to_string(),
                goal,
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for line in &body {
        for (w, cell) in width.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fusion-bench ({}) on {} CPUs, {}, {}; times in ns per op",
        if quick { "quick" } else { "full" },
        machine.nproc,
        machine.kernel,
        machine.pin
    );
    let line = |out: &mut String, cells: &[&str]| {
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            let sep = if i == 0 { "" } else { "  " };
            // Text columns left-aligned, numbers right-aligned, the last unpadded.
            match i {
                0 | 1 => {
                    let _ = write!(out, "{sep}{cell:<w$}");
                }
                7 => {
                    let _ = write!(out, "{sep}{cell}");
                }
                _ => {
                    let _ = write!(out, "{sep}{cell:>w$}");
                }
            }
        }
        out.push('\n');
    };
    line(&mut out, &head);
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    line(
        &mut out,
        &rule.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for b in &body {
        line(&mut out, &b.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if !legend.is_empty() {
        out.push('\n');
        for l in legend {
            let _ = writeln!(out, "  {l}");
        }
    }
    out
}

#[derive(Serialize)]
struct JsonRow<'a> {
    case: &'a str,
    variant: &'a str,
    #[serde(flatten)]
    stats: &'a Stats,
    ops_per_sample: u64,
    ratios: &'a [Ratio],
}

#[derive(Serialize)]
struct JsonReport<'a> {
    machine: &'a Machine,
    quick: bool,
    unit: &'static str,
    rows: Vec<JsonRow<'a>>,
    failures: &'a [Failure],
}

/// The machine-readable report: one JSON document.
pub fn json(machine: &Machine, quick: bool, rows: &[Row], failures: &[Failure]) -> String {
    let ratios = ratios(rows);
    let doc = JsonReport {
        machine,
        quick,
        unit: "ns per op",
        rows: rows
            .iter()
            .zip(&ratios)
            .map(|(r, rs)| JsonRow {
                case: &r.case,
                variant: &r.variant,
                stats: &r.stats,
                ops_per_sample: r.ops_per_sample,
                ratios: rs,
            })
            .collect(),
        failures,
    };
    serde_json::to_string_pretty(&doc).expect("the report serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: &str, variant: &str, median: f64) -> Row {
        let stats = Stats {
            median_ns: median,
            samples: 1,
            ..Stats::default()
        };
        Row::new(case, variant, stats, 1)
    }

    #[test]
    fn fusion_rows_get_ratios_against_each_baseline_of_their_case() {
        let rows = vec![
            row("lock", "futex", 10.0),
            row("lock", "pthread-robust", 20.0),
            row("lock", "fusion", 15.0),
            row("alloc", "glibc-malloc", 50.0),
        ];
        let r = ratios(&rows);
        assert!(r[0].is_empty() && r[1].is_empty() && r[3].is_empty());
        assert_eq!(r[2].len(), 2);
        assert_eq!(r[2][0].baseline, "futex");
        assert_eq!(r[2][0].median_ratio, 1.5);
        assert_eq!(r[2][1].median_ratio, 0.75);
        let m = Machine {
            nproc: 2,
            kernel: "Linux".into(),
            pin: "unpinned",
        };
        assert!(table(&m, true, &rows, &[]).contains("1.50x futex, 0.75x pthread-robust"));
        let v: serde_json::Value = serde_json::from_str(&json(&m, true, &rows, &[])).unwrap();
        assert_eq!(v["rows"][2]["ratios"][1]["baseline"], "pthread-robust");
        assert_eq!(v["rows"][0]["median_ns"], 10.0);
    }
}
