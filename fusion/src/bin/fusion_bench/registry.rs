//! The case registry: which cases exist and which functions produce their rows.
//!
//! **Adding a Fusion row**: write one function `fn(&Budget) -> io::Result<Vec<Row>>` that
//! calls the case's harness (`cases::<case>::measure`, or `lock::uncontended`) with
//! variant `"fusion"` and Fusion's implementation of the case's trait (`BenchLock`,
//! `Duplex`, `Publisher`/`Subscriber`, `BenchAlloc`), and list it under its case below at
//! the marked line. The report then shows `fusion/baseline` ratios for it. Fusion's rows
//! live in `fusion_rows`.

use std::io;

use crate::fusion_bench::cases::{alloc, fanout, handoff, lock, roundtrip};
use crate::fusion_bench::fusion_rows;
use crate::fusion_bench::stats::{Budget, Row};

/// A function measuring one variant (or a family, like all fan-out widths) of a case.
pub type Provider = fn(&Budget) -> io::Result<Vec<Row>>;

/// The cases, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Uncontended lock+unlock in one process.
    Lock,
    /// Lock hand-off round trips between two processes.
    Handoff,
    /// 64-byte request/reply between two processes.
    RoundTrip,
    /// One event to N subscriber processes.
    FanOut,
    /// Allocation churn.
    Alloc,
}

impl Case {
    /// All cases, in report order.
    pub const ALL: [Case; 5] = [
        Case::Lock,
        Case::Handoff,
        Case::RoundTrip,
        Case::FanOut,
        Case::Alloc,
    ];

    /// The name `--only` takes.
    pub fn name(self) -> &'static str {
        match self {
            Case::Lock => "lock",
            Case::Handoff => "handoff",
            Case::RoundTrip => "roundtrip",
            Case::FanOut => "fanout",
            Case::Alloc => "alloc",
        }
    }

    /// What one reported nanosecond figure is, for the legend.
    pub fn about(self) -> &'static str {
        match self {
            Case::Lock => "lock: one uncontended lock+unlock pair, one process (batches of 1000)",
            Case::Handoff => {
                "handoff: one round trip (two hand-offs) of a lock between two processes"
            }
            Case::RoundTrip => {
                "roundtrip 64B: request + reply of 64 bytes between two processes (spin: \
                 shared memory, spin then futex wait, the floor); call-oneway 64B: one \
                 one-way call sent and run (batches of 1024); call stages (--explain): \
                 each stage of a traced fusion call, from the stage before"
            }
            Case::FanOut => {
                "fanout N: dispatch start to last of N subscriber processes receiving; \
                 fanout-dispatch N: the dispatcher's send loop alone; fanout-first N: \
                 dispatch start to the first subscriber receiving"
            }
            Case::Alloc => {
                "alloc: one free + one allocation, 16 B-64 KiB, 256 live (batches of 1024)"
            }
        }
    }

    /// The functions producing this case's rows: baselines, then Fusion's.
    pub fn providers(self) -> &'static [Provider] {
        match self {
            Case::Lock => &[
                lock::futex,
                lock::pthread_robust,
                // fusion: skirmish rows are added here.
                fusion_rows::lock,
            ],
            Case::Handoff => &[
                handoff::pthread_robust,
                handoff::futex,
                // fusion: skirmish hand-off rows are added here.
                fusion_rows::handoff,
            ],
            Case::RoundTrip => &[
                roundtrip::eventfd,
                roundtrip::seqpacket,
                roundtrip::spin,
                // fusion: call (request/reply) rows are added here.
                fusion_rows::call,
                fusion_rows::call_oneway,
            ],
            Case::FanOut => &[
                fanout::unix_sockets,
                // fusion: reactor dispatch rows are added here.
                fusion_rows::fanout,
            ],
            Case::Alloc => &[
                alloc::glibc_malloc,
                // fusion: shm pool allocation rows are added here.
                fusion_rows::alloc,
            ],
        }
    }

    /// The case called `name`.
    pub fn by_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }
}
