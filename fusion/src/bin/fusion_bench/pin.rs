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

/// Pins the measuring process as `pin` says (call once, before any case).
pub fn set(pin: Pin) -> std::io::Result<()> {
    let cpus = CPUS.get_or_init(fusionfb_sys::allowed_cpus);
    if pin == Pin::Split && cpus.len() < 2 {
        return Err(std::io::Error::other(
            "--pin split needs two CPUs this process may use",
        ));
    }
    PIN.store(pin as u8, Ordering::Relaxed);
    match (pin, cpus.first()) {
        (Pin::Off, _) | (_, None) => Ok(()),
        (_, Some(&cpu)) => fusionfb_sys::pin_to_cpu(None, Some(cpu)),
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
            let _ = fusionfb_sys::pin_to_cpu(None, Some(cpu));
        }
    }
}
