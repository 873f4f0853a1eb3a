//! `--pin`: where the measuring process and its partners run.
//!
//! Unpinned, the scheduler places both ends of a round trip where it likes, and on a
//! two-CPU machine they often share one. `--pin split` puts the measuring process on the
//! first CPU it may use and every partner on the second (both ends awake on their own
//! cores: the spin floor); `--pin same` puts them all on the first (every hand-over is a
//! context switch: what sleeping costs). Baselines and Fusion are pinned alike.

use std::sync::atomic::{AtomicU8, Ordering};

/// Where processes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// Wherever the scheduler puts them.
    Off,
    /// The measuring process on one CPU, partners on another.
    Split,
    /// All on one CPU.
    Same,
}

impl Pin {
    /// Parses `split` or `same`.
    pub fn parse(s: &str) -> Option<Pin> {
        match s {
            "split" => Some(Pin::Split),
            "same" => Some(Pin::Same),
            "off" => Some(Pin::Off),
            _ => None,
        }
    }

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Pin::Off => "unpinned",
            Pin::Split => "pinned to separate CPUs",
            Pin::Same => "pinned to one CPU",
        }
    }
}

static PIN: AtomicU8 = AtomicU8::new(0);
static CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// The CPUs this process may run on.
fn allowed() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed cpu_set_t of the size given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

fn run_on(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t with one CPU set, passed with its size.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Pins the measuring process as `pin` says (call once, before any case).
pub fn set(pin: Pin) -> std::io::Result<()> {
    let cpus = CPUS.get_or_init(allowed);
    if pin == Pin::Split && cpus.len() < 2 {
        return Err(std::io::Error::other(
            "--pin split needs two CPUs this process may use",
        ));
    }
    PIN.store(pin as u8, Ordering::Relaxed);
    match (pin, cpus.first()) {
        (Pin::Off, _) | (_, None) => Ok(()),
        (_, Some(&cpu)) => run_on(cpu),
    }
}

/// The pinning in effect.
pub fn current() -> Pin {
    match PIN.load(Ordering::Relaxed) {
        1 => Pin::Split,
        2 => Pin::Same,
        _ => Pin::Off,
    }
}

/// In a partner process just forked: moves it where `--pin` puts partners.
pub fn partner() {
    if current() == Pin::Split {
        if let Some(&cpu) = CPUS.get().and_then(|c| c.get(1)) {
            let _ = run_on(cpu);
        }
    }
}
