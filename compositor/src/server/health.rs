//! The master's own health for `fusionfb status` ([`proto::MasterHealth`]): its memory,
//! file descriptors and threads, read from its own `/proc/self` when the status is asked
//! for, so an operator (or a test) sees them in the snapshot without access to the
//! master's `/proc` — a root service's is closed to other users.

use std::time::SystemTime;

use fusionfb_protocol as proto;

/// The master's health now; `started` is when it started (wall clock).
pub fn now(started: SystemTime) -> proto::MasterHealth {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| field(&status, key).unwrap_or(0);
    proto::MasterHealth {
        pid: std::process::id(),
        rss_kib: kib("RssAnon:") + kib("RssFile:"),
        shared_kib: kib("RssShmem:"),
        fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u32),
        threads: field(&status, "Threads:").unwrap_or(0) as u32,
        started_unix_ms: started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

/// The number after `key` on its line of `/proc/self/status` (`RssAnon:  1234 kB`).
fn field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_fields_are_read() {
        let text = "Name:\tfusionfb\nThreads:\t3\nRssAnon:\t  1200 kB\nRssFile:\t 800 kB\n";
        assert_eq!(field(text, "Threads:"), Some(3));
        assert_eq!(field(text, "RssAnon:"), Some(1200));
        assert_eq!(field(text, "RssShmem:"), None);
    }

    #[test]
    fn this_process_has_memory_fds_and_a_thread() {
        let h = now(SystemTime::now());
        assert_eq!(h.pid, std::process::id());
        assert!(h.rss_kib > 0 && h.fds >= 3 && h.threads >= 1, "{h:?}");
        assert!(h.started_unix_ms > 1_700_000_000_000, "{h:?}");
    }
}
