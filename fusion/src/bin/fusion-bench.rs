//! `fusion-bench`: latency figures for the primitives Fusion is built from, measured
//! beside the plain-Linux baselines they have to compete with.
//!
//! # What it measures
//!
//! | `--only`    | rows (case)                          | one sample is                                                         | baselines                 |
//! |-------------|--------------------------------------|-----------------------------------------------------------------------|---------------------------|
//! | `lock`      | `lock`                               | uncontended lock+unlock in one process (batches of 1000, per op)      | `futex`, `pthread-robust` |
//! | `handoff`   | `handoff`                            | a lock going to the other process and back (two hand-offs)            | `pthread-robust`, `futex` |
//! | `roundtrip` | `roundtrip 64B`                      | 64-byte request + 64-byte reply between two processes                 | `eventfd`, `seqpacket`    |
//! | `roundtrip` | `call-oneway 64B`                    | one 64-byte one-way call, sent and run (batches of 1024, per call)    | (none)                    |
//! | `fanout`    | `fanout N=1`, `N=4`, `N=16`          | dispatch start until the last of N subscriber processes has the event | `unix-sockets`            |
//! | `fanout`    | `fanout-dispatch N=1`, `N=4`, `N=16` | the dispatcher's own send loop for one event                          | `unix-sockets`            |
//! | `fanout`    | `fanout-first N=1`, `N=4`, `N=16`    | dispatch start until the first of the N subscribers has the event     | `unix-sockets`            |
//! | `alloc`     | `alloc`                              | one free + one allocation, 16 B-64 KiB, 256 live (batches, per op)    | `glibc-malloc`            |
//!
//! * `futex`: Drepper's three-state "mutex2" (*Futexes Are Tricky*) on a shared futex word.
//! * `pthread-robust`: glibc `pthread_mutex_t`, `PTHREAD_PROCESS_SHARED` +
//!   `PTHREAD_MUTEX_ROBUST`, in shared memory.
//! * `eventfd`: payload written to shared memory, an eventfd per direction as doorbell.
//! * `seqpacket`: `send`/`recv` on a `socketpair(AF_UNIX, SOCK_SEQPACKET)`.
//! * `unix-sockets`: one `SOCK_SEQPACKET` pair per subscriber, one `send` each.
//! * `glibc-malloc`: `malloc`/`free` replaying a fixed pseudo-random pattern.
//!
//! Partner processes are forked (the binary is single-threaded; see `child`); shared
//! memory is a memfd mapped before the fork. Nothing is pinned to a CPU. Each case
//! discards a tenth of its samples' worth of warm-up first.
//!
//! Fusion's rows (variant `fusion`, one function each in `fusion_rows`, listed in
//! `registry`) run in the same process beside the baselines, each in a fresh world in a
//! temporary directory:
//!
//! * `lock`: `prevail` + `dismiss` of a skirmish the master created.
//! * `handoff`: the same skirmish between the master (parent) and a slave (partner).
//! * `roundtrip 64B`: a slave's `call_execute` of an echo call the master (partner,
//!   looping in `dispatch`) answers directly.
//! * `call-oneway 64B`: the slave queues one-way calls (sent 64 to a packet); each batch
//!   of 1024 ends with a synchronous call, so the figure covers the master running them.
//! * `fanout`: `reactor_dispatch` by the master (parent) on a lossless reactor; each
//!   subscriber is a slave process blocked in `Slave::dispatch`.
//! * `alloc`: `ShmPool::alloc`/`free` by the master in its main pool.
//!
//! # Running
//!
//! ```text
//! cargo run -p fusion --release --bin fusion-bench -- [--json] [--quick] [--only NAME[,NAME]]
//! ```
//!
//! Use a release build (a debug build warns: its numbers mean nothing). `--quick` cuts
//! the sample counts so the whole run takes seconds (CI runs it as a smoke test; its
//! figures are noisy). `--only lock,handoff` runs just those cases. Progress goes to
//! stderr; the report to stdout. The exit status is 1 when a case failed (its error is
//! reported; the other cases still run). Partner processes are reaped in every outcome:
//! on an error they are killed; a measurement that hangs (30 s under `--quick`, 600 s
//! otherwise) makes the hang guard kill and reap them and exit with status 124.
//!
//! # Reading the table
//!
//! All times are nanoseconds per operation as defined above. `median` is the figure to
//! compare; `p99` shows the tail (for the batched cases `lock` and `alloc` it is the 99th
//! percentile of *batch means*, so it hides single slow ops); `mean` is pulled up by
//! preemptions and wake-up delays; `min` is the best case; `samples` excludes warm-up.
//! Inter-process figures depend on the scheduler and on what else runs on the machine:
//! compare rows of one run, not across machines. The last column is the goal column: in
//! a case that has a `fusion` (or `fusion-…`) row, that row shows
//! `fusion median / baseline median` for every baseline of the case (below 1.00x means
//! Fusion is faster). `--json` prints the same rows (with the ratios) plus the machine
//! (nproc, kernel from `uname`) as one JSON document. No timing is ever asserted.

mod fusion_bench;

use std::process::ExitCode;

use fusion_bench::cli;
use fusion_bench::registry::Case;
use fusion_bench::report::{self, Failure, Machine};
use fusion_bench::stats::{Budget, Row};

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) if msg == cli::usage() => {
            print!("{msg}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprint!("fusion-bench: {msg}");
            return ExitCode::from(2);
        }
    };
    if threads() != 1 {
        eprintln!("fusion-bench: must be single-threaded to fork partner processes");
        return ExitCode::from(2);
    }
    if cfg!(debug_assertions) {
        eprintln!("fusion-bench: warning: debug build; run with --release for real numbers");
    }
    hang_guard::install();
    if let Err(e) = fusion_bench::pin::set(opts.pin) {
        eprintln!("fusion-bench: {e}");
        return ExitCode::from(2);
    }

    let budget = Budget { quick: opts.quick };
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    for case in &opts.cases {
        eprintln!("fusion-bench: {} ...", case.name());
        for provider in case.providers() {
            hang_guard::arm(if opts.quick { 30 } else { 600 });
            match provider(&budget) {
                Ok(r) => rows.extend(r),
                Err(e) => {
                    eprintln!("fusion-bench: {} failed: {e}", case.name());
                    failures.push(Failure {
                        case: case.name().to_string(),
                        error: e.to_string(),
                    });
                }
            }
            hang_guard::disarm();
        }
        if opts.explain && *case == Case::RoundTrip {
            hang_guard::arm(if opts.quick { 30 } else { 600 });
            match fusion_bench::fusion_rows::call_stages(&budget) {
                Ok(r) => rows.extend(r),
                Err(e) => failures.push(Failure {
                    case: "call stages".into(),
                    error: e.to_string(),
                }),
            }
            hang_guard::disarm();
        }
    }

    let machine = Machine::here();
    if opts.json {
        println!("{}", report::json(&machine, opts.quick, &rows, &failures));
    } else {
        let legend: Vec<&str> = opts.cases.iter().map(|c: &Case| c.about()).collect();
        print!("{}", report::table(&machine, opts.quick, &rows, &legend));
        for f in &failures {
            println!("FAILED {}: {}", f.case, f.error);
        }
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Threads in this process (forking is only sound with one).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count())
}

/// The last line of defence against a hung case (a partner that died while the parent
/// sleeps in a wait that has no timeout, such as a blocking eventfd read): `alarm` fires,
/// the handler kills and reaps every partner process and ends the run (status 124).
mod hang_guard {
    use crate::fusion_bench::child;

    extern "C" fn on_alarm(_: libc::c_int) {
        const MSG: &[u8] = b"fusion-bench: a case hung; killed its partners, giving up\n";
        child::kill_all();
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(124);
        }
    }

    /// Installs the `SIGALRM` handler.
    pub fn install() {
        // SAFETY: installing a handler that only calls async-signal-safe functions.
        unsafe {
            libc::signal(
                libc::SIGALRM,
                on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }

    /// Gives the next measurement `secs` seconds.
    pub fn arm(secs: u32) {
        // SAFETY: a plain system call.
        unsafe { libc::alarm(secs) };
    }

    /// Cancels the alarm.
    pub fn disarm() {
        // SAFETY: a plain system call.
        unsafe { libc::alarm(0) };
    }
}
