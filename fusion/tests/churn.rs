//! Resource bounds under churn: a process that enters and leaves thousands of times, and a
//! flood of connections that never say hello, leave the master's descriptor count and pool
//! usage flat.
//!
//! The master runs in this test process and its descriptors are counted in `/proc/self/fd`;
//! the slaves are child processes (their descriptors are not ours). The tests of this file
//! take [`SERIAL`] so that no other test opens descriptors in this process while one counts.

use fusion::PoolId;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::Duration;

use fusion::master::{
    LOCK_POOL, MAIN_POOL, MAX_DEPARTED_PER_PROCESS, MAX_DEPARTED_PROCESSES_PER_UID, MAX_HANDSHAKES,
};
use fusion::pool::PoolAccess;
use fusion::{Master, Slave};
use fusion_testing::*;
use fusionfb_sys as sys;

/// Held by each test of this file: descriptor counts of this process are only meaningful
/// while no other test runs in it.
static SERIAL: Mutex<()> = Mutex::new(());

/// Descriptors a counting may differ by (the directory handle of the count itself, a
/// descriptor a library opens lazily).
const SLACK: usize = 4;

/// Bytes each churning fusionee allocates before it leaves.
const BLOCK: usize = 256;

/// Entry point of child processes (see `fusion_testing::spawn`).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let w = child_world();
    let mut b = child_barrier();
    match role.as_str() {
        // Enters and leaves FUSION_TEST_CYCLES times, allocating a block in pool
        // FUSION_TEST_POOL each time and leaving it allocated; then reports and waits to be
        // told to exit.
        "churn" => {
            let cycles = env_u32("FUSION_TEST_CYCLES");
            let pool = env_u32("FUSION_TEST_POOL");
            b.place_and_sync(Some(Duration::from_secs(20))).unwrap();
            for i in 0..cycles {
                let mut s = Slave::enter(w.clone())
                    .unwrap_or_else(|e| panic!("cycle {i}: cannot enter: {e}"));
                s.shm_alloc(PoolId(pool), BLOCK, false)
                    .unwrap_or_else(|e| panic!("cycle {i}: cannot allocate: {e}"));
                drop(s);
            }
            b.place_and_sync(Some(Duration::from_secs(60))).unwrap();
        }
        // Enters once, allocates a block in pool FUSION_TEST_POOL, leaves, reports, and
        // lives on until told to exit.
        "leave-and-stay" => {
            let pool = env_u32("FUSION_TEST_POOL");
            let mut s = Slave::enter(w).unwrap();
            s.shm_alloc(PoolId(pool), BLOCK, false).unwrap();
            drop(s);
            b.place_and_sync(Some(Duration::from_secs(60))).unwrap();
        }
        // Opens FUSION_TEST_CONNECTIONS connections that never send a hello, reports, and
        // closes them when told to.
        "half-open" => {
            let n = env_u32("FUSION_TEST_CONNECTIONS") as usize;
            b.place_and_sync(Some(Duration::from_secs(20))).unwrap();
            let socks: Vec<OwnedFd> = (0..n)
                .map(|i| {
                    sys::connect_seqpacket(&w.socket_path())
                        .unwrap_or_else(|e| panic!("connection {i}: {e}"))
                })
                .collect();
            b.place_and_sync(Some(Duration::from_secs(60))).unwrap();
            drop(socks);
            b.place().unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// Descriptors open in this process now.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs the master until the child places its next mark (at most 120 s, then panics);
/// `each` sees the master after every dispatch.
fn pump_until_ready(m: &mut Master, p: Proc, mut each: impl FnMut(&mut Master)) -> Proc {
    let h = std::thread::spawn(move || {
        let mut p = p;
        let r = p.barrier.sync(Some(Duration::from_secs(120)));
        (p, r)
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
        each(m);
    }
    let (p, r) = h.join().unwrap();
    r.unwrap_or_else(|e| panic!("the child did not get there: {e} (see its stderr)"));
    p
}

#[test]
fn ten_thousand_enter_leave_cycles_keep_descriptors_and_memory_flat() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world("churn");
    let mut m = Master::create(w.clone()).unwrap();
    let pool = m
        .pool_create("churn", 1 << 20, PoolAccess::Writable)
        .unwrap();
    let cycles = 10_000u32;
    let mut p = spawn(
        "churn",
        &w,
        &[
            ("FUSION_TEST_CYCLES", cycles.to_string()),
            ("FUSION_TEST_POOL", pool.to_string()),
        ],
    );
    p = pump_until_ready(&mut m, p, |_| {});
    let before = fds();
    let world_pools = |m: &Master| [MAIN_POOL, LOCK_POOL].map(|id| m.pool(id).unwrap().used());
    let pools_before = world_pools(&m);
    p.go();
    let mut most = 0;
    p = pump_until_ready(&mut m, p, |m| {
        most = most.max(m.pool(pool).unwrap().used());
    });
    // Its last fusionee's hang-up may still be on its way.
    pump(&mut m, "the last fusionee left", |m| {
        m.fusionees().is_empty()
    });
    let after = fds();
    // The child still runs: one pidfd waits for its exit, whatever its number of cycles.
    assert_eq!(m.departed_processes(), 1);
    assert!(
        after <= before + SLACK,
        "{cycles} enter/leave cycles: the master's descriptors went from {before} to {after}"
    );
    // Entering allocates nothing in the world's own pools.
    assert_eq!(world_pools(&m), pools_before);
    // Each cycle left a block; at most the newest MAX_DEPARTED_PER_PROCESS wait.
    let waiting = m.departed().len();
    assert!(
        waiting <= MAX_DEPARTED_PER_PROCESS,
        "{waiting} departed ids wait"
    );
    let used = m.pool(pool).unwrap().used() as usize;
    assert_eq!(used, waiting * BLOCK);
    assert!(
        most as usize <= (MAX_DEPARTED_PER_PROCESS + 1) * BLOCK,
        "pool usage reached {most} bytes"
    );
    // When the process exits, everything is released and its pidfd closed.
    p.go();
    pump(&mut m, "the churner's exit is seen", |m| {
        m.departed_processes() == 0
    });
    assert!(m.departed().is_empty());
    assert_eq!(m.pool(pool).unwrap().used(), 0);
    assert!(p.wait_ok(), "the churner failed (see its stderr)");
    assert!(fds() <= before + SLACK);
}

#[test]
fn a_thousand_half_open_connections_keep_descriptors_bounded_and_slaves_enter() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world("half-open");
    let mut m = Master::create(w.clone()).unwrap();
    let n = 1000;
    let mut p = spawn(
        "half-open",
        &w,
        &[("FUSION_TEST_CONNECTIONS", n.to_string())],
    );
    p = pump_until_ready(&mut m, p, |_| {});
    let before = fds();
    p.go();
    let mut most = before;
    p = pump_until_ready(&mut m, p, |_| most = most.max(fds()));
    assert!(
        most <= before + MAX_HANDSHAKES + SLACK,
        "{n} silent connections: the master's descriptors went from {before} up to {most}"
    );
    // Meanwhile a real slave gets in and is served.
    let w2 = w.clone();
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = Slave::enter(w2).unwrap();
            s.ping().unwrap();
            s
        }),
    );
    assert_eq!(m.fusionees(), vec![s.id()]);
    drop(s);
    pump(&mut m, "the slave left", |m| m.fusionees().is_empty());
    // The flood hangs up: the master lets go of every handshake.
    p.go();
    p = pump_until_ready(&mut m, p, |_| {});
    pump(&mut m, "the handshakes are dropped", |_| {
        fds() <= before + SLACK
    });
    assert!(p.wait_ok(), "the flooding child failed (see its stderr)");
}

#[test]
fn departed_processes_of_one_uid_are_capped_oldest_first() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world("many-departed");
    let mut m = Master::create(w.clone()).unwrap();
    let pool = m
        .pool_create("many", 1 << 20, PoolAccess::Writable)
        .unwrap();
    let cap = MAX_DEPARTED_PROCESSES_PER_UID;
    let over = 2;
    // One after the other, so "oldest" is well defined.
    let mut procs = Vec::new();
    let mut first_ids = Vec::new();
    for i in 0..cap + over {
        let p = spawn(
            "leave-and-stay",
            &w,
            &[("FUSION_TEST_POOL", pool.to_string())],
        );
        let p = pump_until_ready(&mut m, p, |_| {});
        pump(&mut m, "its fusionee left", |m| m.fusionees().is_empty());
        if i < over {
            first_ids.extend(m.departed());
        }
        procs.push(p);
    }
    // Every child still runs, but only `cap` of them are waited for: the oldest were
    // released at once.
    assert_eq!(m.departed_processes(), cap);
    assert_eq!(m.departed().len(), cap);
    assert!(first_ids.iter().all(|id| !m.departed().contains(id)));
    assert_eq!(m.pool(pool).unwrap().used() as usize, cap * BLOCK);
    for p in &mut procs {
        p.go();
    }
    pump(&mut m, "every child's exit is seen", |m| {
        m.departed_processes() == 0
    });
    assert_eq!(m.pool(pool).unwrap().used(), 0);
    for mut p in procs {
        assert!(p.wait_ok(), "a child failed (see its stderr)");
    }
}
