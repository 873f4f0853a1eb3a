//! The master's own health for `fusionfb status` ([`proto::MasterHealth`]): its memory,
//! file descriptors and threads, read from its own `/proc/self` when the status is asked
//! for, so an operator (or a test) sees them in the snapshot without access to the
//! master's `/proc` — a root service's is closed to other users; what Fusion cleaned up
//! after departed slaves; who holds the input; and each native surface's pixel memory.

use std::time::SystemTime;

use fusionfb_protocol as proto;

use super::Server;

impl Server {
    /// The master's health now (see the module docs).
    pub(crate) fn health(&self) -> proto::MasterHealth {
        let c = self.master.cleanup();
        let seat = &self.input.seat;
        let pending_injections = self
            .master
            .queued_calls()
            .filter(|call| {
                matches!(
                    fusion::call::decode::<proto::Request>(&call.payload),
                    Ok(proto::Request::Inject(_) | proto::Request::InjectTouch(_))
                )
            })
            .count() as u32;
        proto::MasterHealth {
            restarts: self.restarts,
            cleanup: proto::CleanupCounters {
                departed: c.departed,
                owner_died: c.owner_died,
                peer_gone: c.peer_gone,
                blocks_reclaimed: c.blocks_reclaimed,
                bytes_reclaimed: c.bytes_reclaimed,
            },
            input: proto::InputHealth {
                touches: seat.touch_grabs().collect(),
                pointer_grab: seat.pointer_grab(),
                focus: seat.focused(),
                pending_injections,
            },
            windows_frame: self.window_list.0,
            surface_bytes: self
                .surfaces
                .iter()
                .map(|(&id, s)| (id, s.buffers.iter().map(|b| b.size() as u64).sum()))
                .collect(),
            ..process(self.started)
        }
    }
}

/// The process's own figures; `started` is when it started (wall clock).
fn process(started: SystemTime) -> proto::MasterHealth {
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
        ..Default::default()
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
        let h = process(SystemTime::now());
        assert_eq!(h.pid, std::process::id());
        assert!(h.rss_kib > 0 && h.fds >= 3 && h.threads >= 1, "{h:?}");
        assert!(h.started_unix_ms > 1_700_000_000_000, "{h:?}");
    }
}
