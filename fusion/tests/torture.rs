//! The crash torture test: slave processes lock, allocate, take refs, attach, call and
//! dispatch at random and are SIGKILLed at random points; afterwards nothing of the dead is
//! held, counted or allocated, and the master answers normally. And the same with the master
//! killed: every slave sees `MasterGone` and a clean error from pending calls, never a signal.
//!
//! Runs are reproducible: `FUSION_TORTURE_SEED` picks the seed (printed at the start).

use fusion::{CallId, PoolId, ReactionId, ReactorId, RefId, SkirmishId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use fusion::master::LOCK_POOL;
use fusion::pool::{PoolAccess, ShmHandle};
use fusion::reactor::Reaction;
use fusion::skirmish::Skirmish;
use fusion::wire::{FusioneeId, MASTER_ID};
use fusion::{CallOutcome, Error, Master, Slave, SlaveEvent};
use fusion_testing::*;

/// Slave processes alive at any time.
const KIDS: usize = 5;
/// Rounds of killing and respawning.
const ROUNDS: usize = 3;
/// Length of a round.
const ROUND: Duration = Duration::from_millis(300);
/// Bound of every wait.
const WAIT: Duration = Duration::from_secs(20);

/// Entry point of child processes (see `fusion_testing::spawn`).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let w = child_world();
    match role.as_str() {
        "torture-slave" => torture_slave(w),
        // A master with a call that never answers and a lock; serves until killed.
        "torture-master" => {
            let mut m = Master::create(w).unwrap();
            m.call_create("never", |_, _| CallOutcome::Later);
            m.skirmish_create("held").unwrap();
            m.reactor_create("news", 32, 16, false).unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            loop {
                m.dispatch(Some(Duration::from_millis(100))).unwrap();
            }
        }
        // Blocks in a call to "never" until the master dies; exits 0 if all went cleanly.
        "blocked-caller" => {
            let mut s = Slave::enter(w).unwrap();
            let never = s.call_lookup("never").unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            assert_eq!(s.call_execute(never, 0, b"hello?"), Err(Error::MasterGone));
            expect_master_gone(&mut s);
        }
        // Creates a reactor and waits to be killed.
        "reactor-creator" => {
            let mut s = Slave::enter(w).unwrap();
            s.reactor_create("orphan", 64, 64, false).unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            loop {
                s.dispatch(Some(Duration::from_millis(100))).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// After the master died: the event comes once, and every operation fails cleanly.
fn expect_master_gone(s: &mut Slave) {
    assert!(s.master_gone());
    s.dispatch(Some(Duration::ZERO)).unwrap();
    let mut seen = false;
    while let Some(e) = s.next_event() {
        seen |= e == SlaveEvent::MasterGone;
    }
    assert!(seen, "no MasterGone event");
    assert_eq!(s.ping(), Err(Error::MasterGone));
    assert_eq!(s.ref_create("after"), Err(Error::MasterGone));
}

fn env_u64(k: &str) -> u64 {
    std::env::var(k).unwrap().parse().unwrap()
}

/// A comma-separated list of ids (written with their `Display`, read with their `FromStr`).
fn env_list<T: std::str::FromStr>(k: &str) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    std::env::var(k)
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect()
}

/// Panics unless `r` is Ok or an error `allowed` accepts.
fn tolerate<T>(what: &str, r: fusion::Result<T>, allowed: impl Fn(&Error) -> bool) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if allowed(&e) => None,
        Err(e) => panic!("{what}: unexpected {e:?}"),
    }
}

fn reversed(p: &[u8]) -> Vec<u8> {
    p.iter().rev().copied().collect()
}

/// One random slave: a seeded loop over every kind of operation until told to stop.
fn torture_slave(w: fusion::WorldConfig) {
    let seed = env_u64("FUSION_TEST_SEED");
    let slot = env_u64("FUSION_TEST_SLOT");
    let kids = env_u64("FUSION_TEST_KIDS");
    let lock_idx: Vec<SkirmishId> = env_list("FUSION_TEST_LOCKS");
    let refs: Vec<RefId> = env_list("FUSION_TEST_REFS");
    let pools: Vec<PoolId> = env_list("FUSION_TEST_POOLS");
    let reactor = ReactorId(env_u64("FUSION_TEST_REACTOR") as u32);
    let mcall = CallId(env_u64("FUSION_TEST_CALL") as u32);
    let mut rng = Rng(seed);

    let mut s = Slave::enter(w).unwrap();
    s.call_create(&format!("peer-{slot}"), |c| {
        CallOutcome::Return(reversed(&c.payload), vec![])
    })
    .unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let h2 = hits.clone();
    let cb = s
        .call_create(&format!("cb-{slot}"), move |c| {
            assert!(c.oneway && c.caller == FusioneeId(0));
            h2.fetch_add(1, Ordering::SeqCst);
            CallOutcome::Return(vec![], vec![])
        })
        .unwrap();
    let own = s
        .reactor_create(&format!("own-{slot}"), 32, 16, false)
        .unwrap();
    s.reactor_set_dispatch_callback(own, Some(cb)).unwrap();
    s.attach(own, 0, |_| Reaction::Keep).unwrap();
    let locks: Vec<Skirmish> = lock_idx
        .iter()
        .map(|&i| s.skirmish_open(i).unwrap())
        .collect();
    let mut blocks: Vec<(ShmHandle, u8)> = Vec::new();
    let mut held: Vec<(RefId, bool)> = Vec::new();
    let mut reactions: Vec<ReactionId> = Vec::new();
    let mut own_dispatched = 0u64;
    let mut barrier = child_barrier();
    barrier.place().unwrap();

    let fill = |s: &mut Slave, b: ShmHandle, pat: u8| {
        s.shm_write(b, 0, &vec![pat; b.len as usize]).unwrap();
    };
    let check = |s: &mut Slave, b: ShmHandle, pat: u8| {
        assert!(
            s.shm_read(b).unwrap().iter().all(|&x| x == pat),
            "block {b:?} was changed by someone else"
        );
    };
    let no_memory = |e: &Error| matches!(e, Error::NoMemory(_) | Error::Quota(_));
    let mut n = 0u64;
    loop {
        n += 1;
        if n % 4 == 0 && barrier.sync(Some(Duration::from_millis(1))).is_ok() {
            break;
        }
        while s.next_event().is_some() {}
        match rng.below(14) {
            0 | 1 => {
                let l = &locks[rng.below(locks.len() as u64) as usize];
                match l.prevail_timeout(Duration::from_millis(20)) {
                    Ok(_) => {
                        if rng.coin() {
                            l.prevail().unwrap();
                            l.dismiss().unwrap();
                        }
                        if rng.coin() {
                            s.ping().unwrap();
                        }
                        l.dismiss().unwrap();
                    }
                    Err(Error::TimedOut) => {}
                    Err(e) => panic!("prevail: {e:?}"),
                }
            }
            2 | 3 if blocks.len() < 24 => {
                let pool = pools[rng.below(pools.len() as u64) as usize];
                let size = 1 + rng.below(2048) as usize;
                if let Some(b) = tolerate("alloc", s.shm_alloc(pool, size, rng.coin()), no_memory) {
                    let pat = rng.next() as u8;
                    fill(&mut s, b, pat);
                    blocks.push((b, pat));
                }
            }
            4 if !blocks.is_empty() => {
                let i = rng.below(blocks.len() as u64) as usize;
                let (b, pat) = blocks.swap_remove(i);
                check(&mut s, b, pat);
                s.shm_free(b).unwrap();
            }
            5 if !blocks.is_empty() => {
                let i = rng.below(blocks.len() as u64) as usize;
                let (b, pat) = blocks[i];
                let size = 1 + rng.below(4096) as usize;
                if let Some(nb) = tolerate("realloc", s.shm_realloc(b, size), no_memory) {
                    let keep = (b.len as usize).min(size);
                    assert!(s.shm_read(nb).unwrap()[..keep].iter().all(|&x| x == pat));
                    fill(&mut s, nb, pat);
                    blocks[i] = (nb, pat);
                }
            }
            6 => {
                let r = refs[rng.below(refs.len() as u64) as usize];
                let global = rng.coin();
                s.ref_up(r, global).unwrap();
                held.push((r, global));
            }
            7 if !held.is_empty() => {
                let i = rng.below(held.len() as u64) as usize;
                let (r, global) = held.swap_remove(i);
                s.ref_down(r, global).unwrap();
            }
            8 => {
                if reactions.len() < 3 && rng.coin() {
                    let ch = rng.below(4) as u32;
                    reactions.push(s.attach(reactor, ch, |_| Reaction::Keep).unwrap());
                } else if !reactions.is_empty() {
                    let i = rng.below(reactions.len() as u64) as usize;
                    let id = reactions.swap_remove(i);
                    s.detach(reactor, id).unwrap();
                }
            }
            9 => {
                let len = rng.below(33) as usize;
                let p = rng.bytes(len);
                s.dispatch_message(reactor, rng.below(4) as u32, &p, rng.coin())
                    .unwrap();
            }
            10 => {
                s.dispatch_message(own, 0, b"own", true).unwrap();
                own_dispatched += 1;
            }
            11 => {
                let len = rng.below(64) as usize;
                let p = rng.bytes(len);
                assert_eq!(s.call_execute(mcall, 0, &p).unwrap(), reversed(&p));
            }
            12 => {
                let k = rng.below(kids);
                if k == slot {
                    continue;
                }
                let gone = |e: &Error| {
                    matches!(
                        e,
                        Error::PeerGone(_) | Error::NotFound(_) | Error::Destroyed
                    )
                };
                if let Some(c) = tolerate("lookup", s.call_lookup(&format!("peer-{k}")), gone) {
                    let len = 1 + rng.below(64) as usize;
                    let p = rng.bytes(len);
                    if let Some(r) = tolerate("peer call", s.call_execute(c, 0, &p), gone) {
                        assert_eq!(r, reversed(&p));
                    }
                }
            }
            _ => {
                s.dispatch(Some(Duration::from_millis(rng.below(3))))
                    .unwrap();
            }
        }
    }
    // Told to stop: what we hold is intact, and the dispatch callback works.
    for (b, pat) in blocks {
        check(&mut s, b, pat);
    }
    if own_dispatched > 0 {
        assert!(
            s.dispatch_until(WAIT, |_| hits.load(Ordering::SeqCst) > 0)
                .unwrap(),
            "the dispatch callback never ran"
        );
    }
    s.ping().unwrap();
}

/// A slave process in a slot.
struct Kid {
    proc: Proc,
    generation: u64,
}

/// What the kids need to know about the world.
struct Setup {
    env: Vec<(&'static str, String)>,
}

fn spawn_kid(w: &fusion::WorldConfig, setup: &Setup, slot: usize, seed: u64, gen: u64) -> Kid {
    let mut env = setup.env.clone();
    env.push(("FUSION_TEST_SLOT", slot.to_string()));
    env.push((
        "FUSION_TEST_SEED",
        (seed ^ (slot as u64) << 32 ^ gen).to_string(),
    ));
    Kid {
        proc: spawn("torture-slave", w, &env),
        generation: gen,
    }
}

/// The fusionee id of a process, if it entered.
fn fid_of(m: &Master, pid: u32) -> Option<FusioneeId> {
    m.fusionees()
        .into_iter()
        .find(|&f| m.pid_of(f) == Some(pid))
}

/// Nothing of `dead` is held, counted, allocated or subscribed any more; every lock is free
/// or owned by a live fusionee.
fn assert_nothing_of(m: &Master, dead: FusioneeId) {
    let snap = m.snapshot();
    let live = m.fusionees();
    assert!(!live.contains(&dead));
    for l in &snap.locks {
        if let Some(o) = l.owner {
            assert!(
                o == MASTER_ID || live.contains(&o),
                "lock {} ({}) owned by {o}, who is not alive (last death: {dead})",
                l.index,
                l.name
            );
        }
    }
    for p in &snap.pools {
        assert!(
            p.owners.iter().all(|&(o, _, _)| o != dead),
            "pool {} still has blocks of {dead}: {:?}",
            p.name,
            p.owners
        );
    }
    for r in &snap.refs {
        assert!(
            r.local.iter().all(|&(f, _)| f != dead),
            "ref {} still counts {dead}: {:?}",
            r.name,
            r.local
        );
        assert_ne!(r.zero_locked_by, Some(dead));
    }
    for r in &snap.reactors {
        assert!(
            !r.subscribers.contains(&dead),
            "reactor {} still has {dead} as a subscriber",
            r.name
        );
        assert!(
            r.creator != dead || r.destroyed,
            "reactor {} of {dead} outlived it",
            r.name
        );
    }
    for c in &snap.calls {
        assert_ne!(c.owner, dead, "call {} outlived its owner", c.name);
    }
}

#[test]
fn torture_slaves_killed_at_random_leave_nothing_behind() {
    let seed = std::env::var("FUSION_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7047_7572_u64);
    eprintln!("torture seed {seed} (set FUSION_TORTURE_SEED to repeat)");
    let mut rng = Rng(seed);
    let w = world("torture");
    let mut m = Master::create(w.clone()).unwrap();
    let mcall = m.call_create("echo", |_, c| {
        CallOutcome::Return(reversed(&c.payload), vec![])
    });
    for i in 0..3 {
        m.skirmish_create(&format!("torture-{i}")).unwrap();
    }
    let locks: Vec<SkirmishId> = m
        .snapshot()
        .locks
        .iter()
        .filter(|l| l.name.starts_with("torture-"))
        .map(|l| l.index)
        .collect();
    assert_eq!(locks.len(), 3);
    let rw = m
        .pool_create("torture/rw", 8 << 20, PoolAccess::Writable)
        .unwrap();
    let refs: Vec<RefId> = (0..3).map(|i| m.ref_create(&format!("tr-{i}"))).collect();
    let reactor = m.reactor_create("torture", 32, 32, false).unwrap();
    fn join<T: std::fmt::Display>(v: &[T]) -> String {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
    let setup = Setup {
        env: vec![
            ("FUSION_TEST_KIDS", KIDS.to_string()),
            ("FUSION_TEST_LOCKS", join(&locks)),
            ("FUSION_TEST_REFS", join(&refs)),
            ("FUSION_TEST_POOLS", join(&[LOCK_POOL, rw])),
            ("FUSION_TEST_REACTOR", reactor.to_string()),
            ("FUSION_TEST_CALL", mcall.to_string()),
        ],
    };
    let baseline: Vec<(PoolId, u64)> = m.snapshot().pools.iter().map(|p| (p.id, p.used)).collect();

    let mut gen = 0;
    let mut kids: Vec<Kid> = (0..KIDS)
        .map(|slot| {
            gen += 1;
            spawn_kid(&w, &setup, slot, seed, gen)
        })
        .collect();
    // Everybody in before the killing starts.
    let mut ready = [false; KIDS];
    pump(&mut m, "the kids are ready", |_| {
        for (i, k) in kids.iter_mut().enumerate() {
            if !ready[i] {
                ready[i] = k.proc.barrier.sync(Some(Duration::from_millis(1))).is_ok();
            }
        }
        ready.iter().all(|&r| r)
    });

    let mut kills = 0;
    let mut kills_in_world = 0;
    for round in 0..ROUNDS {
        let end = Instant::now() + ROUND;
        let mut next_kill = Instant::now() + Duration::from_millis(10 + rng.below(90));
        while Instant::now() < end {
            m.dispatch(Some(Duration::from_millis(2)))
                .expect("the master's dispatch failed");
            while m.next_event().is_some() {}
            if Instant::now() < next_kill {
                continue;
            }
            next_kill = Instant::now() + Duration::from_millis(10 + rng.below(90));
            let victims = 1 + rng.below(2) as usize;
            for _ in 0..victims {
                let slot = rng.below(KIDS as u64) as usize;
                let kid = &mut kids[slot];
                if let Ok(Some(st)) = kid.proc.child.try_wait() {
                    panic!(
                        "round {round}: kid {slot} (generation {}) died by itself: {st}",
                        kid.generation
                    );
                }
                let fid = fid_of(&m, kid.proc.pid());
                kid.proc.kill();
                kills += 1;
                if let Some(fid) = fid {
                    kills_in_world += 1;
                    pump(&mut m, "the master notices the death", |m| {
                        !m.fusionees().contains(&fid) && !m.departed().contains(&fid)
                    });
                    assert_nothing_of(&m, fid);
                }
                gen += 1;
                kids[slot] = spawn_kid(&w, &setup, slot, seed, gen);
            }
        }
    }
    assert!(kills_in_world > 0, "no slave was killed inside the world");

    // Stop the survivors; each must exit cleanly (a failed check panics it).
    for k in kids.iter_mut() {
        k.proc.go();
    }
    let mut status = [None; KIDS];
    pump(&mut m, "the kids exit", |_| {
        for (i, k) in kids.iter_mut().enumerate() {
            if status[i].is_none() {
                status[i] = k.proc.child.try_wait().unwrap();
            }
        }
        status.iter().all(|s| s.is_some())
    });
    for (slot, st) in status.iter().enumerate() {
        let st = st.unwrap();
        assert!(
            st.success(),
            "kid {slot} (generation {}) failed: {st}",
            kids[slot].generation
        );
    }
    // Their processes are gone: what waited for their exit is released too.
    pump(&mut m, "everybody left", |m| {
        m.fusionees().is_empty() && m.departed().is_empty()
    });

    // Nothing is left but the master's own.
    let snap = m.snapshot();
    for l in &snap.locks {
        assert_eq!(l.owner, None, "lock {} still held", l.name);
    }
    for p in &snap.pools {
        let base = baseline.iter().find(|b| b.0 == p.id).unwrap().1;
        assert_eq!(p.used, base, "pool {} is not back to its baseline", p.name);
        assert!(p.owners.iter().all(|&(o, _, _)| o == MASTER_ID));
    }
    for r in &snap.refs {
        assert!(r.local.is_empty(), "ref {} counts the dead", r.name);
        assert_eq!(r.total, r.global);
    }
    assert_eq!(snap.reactors.len(), 1, "reactors left: {:?}", snap.reactors);
    assert!(snap.reactors[0].subscribers.is_empty());
    assert_eq!(snap.calls.len(), 1);
    assert_eq!(snap.calls[0].pending, 0);

    // And the master answers normally.
    let w2 = w.clone();
    let fresh = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        s.ping().unwrap();
        assert_eq!(s.call_execute(mcall, 0, b"abc").unwrap(), b"cba");
        for &i in &locks {
            let l = s.skirmish_open(i).unwrap();
            l.prevail_timeout(WAIT).unwrap();
            l.dismiss().unwrap();
        }
        let b = s.shm_alloc(rw, 1000, true).unwrap();
        s.shm_free(b).unwrap();
        s
    });
    assert_eq!(m.fusionees(), vec![fresh.id()]);
    eprintln!("torture: {kills} kills ({kills_in_world} inside the world), {gen} slaves");
}

#[test]
fn a_dead_creators_reactor_keeps_its_ring_until_the_last_subscriber_leaves() {
    let w = world("orphan-reactor");
    let mut m = Master::create(w.clone()).unwrap();
    let before = m.pool(fusion::master::MAIN_POOL).unwrap().used();
    let mut creator = spawn("reactor-creator", &w, &[]);
    let h = std::thread::spawn(move || {
        creator.ready();
        creator
    });
    let mut creator = finish(&mut m, h);
    let with_ring = m.pool(fusion::master::MAIN_POOL).unwrap().used();
    assert!(with_ring > before);
    let r = m.snapshot().reactors[0].id;
    let w2 = w.clone();
    let mut s = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        s.attach(r, 0, |_| Reaction::Keep).unwrap();
        s
    });
    let cid = fid_of(&m, creator.pid()).unwrap();
    creator.kill();
    pump(&mut m, "the creator is gone", |m| {
        !m.fusionees().contains(&cid) && !m.departed().contains(&cid)
    });
    assert_nothing_of(&m, cid);
    // The subscriber still reads the ring: it is not freed (nor handed out again).
    let info = m.snapshot().reactors[0].clone();
    assert!(info.destroyed);
    assert_eq!(info.subscribers, vec![s.id()]);
    assert_eq!(m.pool(fusion::master::MAIN_POOL).unwrap().used(), with_ring);
    // Dispatching into it fails cleanly; the last detach frees it.
    let s = with_master(&mut m, move || {
        assert_eq!(s.dispatch_message(r, 0, b"x", true), Err(Error::Destroyed));
        s.dispatch(Some(Duration::ZERO)).unwrap();
        s.detach(r, ReactionId(1)).unwrap();
        s
    });
    assert!(m.snapshot().reactors.is_empty());
    assert_eq!(m.pool(fusion::master::MAIN_POOL).unwrap().used(), before);
    drop(s);
}

/// Dispatches the master until `h` finished, then returns its result.
fn finish<T>(m: &mut Master, h: std::thread::JoinHandle<T>) -> T {
    pump(m, "a helper thread", |_| h.is_finished());
    h.join().unwrap()
}

// ---- the master killed ---------------------------------------------------------------------

#[test]
fn master_killed_every_slave_sees_master_gone_and_no_signal() {
    let w = world("master-killed");
    let mut master = spawn("torture-master", &w, &[]);
    master.ready();
    let mut callers: Vec<Proc> = (0..2).map(|_| spawn("blocked-caller", &w, &[])).collect();
    for c in callers.iter_mut() {
        c.ready();
    }
    let mut threads: Vec<std::thread::JoinHandle<&'static str>> = Vec::new();
    let enter = {
        let w = w.clone();
        move || Slave::enter(w.clone()).unwrap()
    };

    // Blocked in a call to the master.
    let mut s = enter();
    threads.push(std::thread::spawn(move || {
        let never = s.call_lookup("never").unwrap();
        assert_eq!(s.call_execute(never, 0, b""), Err(Error::MasterGone));
        expect_master_gone(&mut s);
        "caller"
    }));
    // Waiting in dispatch, attached to a reactor.
    let mut s = enter();
    threads.push(std::thread::spawn(move || {
        s.attach(ReactorId(1), 0, |_| Reaction::Keep).unwrap();
        let mut gone = false;
        assert!(s
            .dispatch_until(WAIT, |s| {
                while let Some(e) = s.next_event() {
                    gone |= e == SlaveEvent::MasterGone;
                }
                gone
            })
            .unwrap());
        assert_eq!(s.ping(), Err(Error::MasterGone));
        "dispatcher"
    }));
    // Holding the lock; a second slave waits for it. Locks keep working among the living.
    let (held_tx, held_rx) = mpsc::channel();
    let mut s = enter();
    threads.push(std::thread::spawn(move || {
        let lock = s.skirmish_open(SkirmishId(0)).unwrap();
        lock.prevail().unwrap();
        held_tx.send(()).unwrap();
        let mut gone = false;
        assert!(s
            .dispatch_until(WAIT, |s| {
                while let Some(e) = s.next_event() {
                    gone |= e == SlaveEvent::MasterGone;
                }
                gone
            })
            .unwrap());
        lock.dismiss().unwrap();
        "holder"
    }));
    let mut s = enter();
    threads.push(std::thread::spawn(move || {
        let lock = s.skirmish_open(SkirmishId(0)).unwrap();
        held_rx.recv_timeout(WAIT).unwrap();
        lock.prevail_timeout(WAIT).unwrap();
        lock.dismiss().unwrap();
        let _ = s.dispatch(Some(Duration::ZERO));
        "waiter"
    }));
    // A slave-owned call that never answers, and its caller.
    let mut callee = enter();
    let mute = callee.call_create("mute", |_| CallOutcome::Later).unwrap();
    threads.push(std::thread::spawn(move || {
        let mut gone = false;
        assert!(callee
            .dispatch_until(WAIT, |s| {
                while let Some(e) = s.next_event() {
                    gone |= e == SlaveEvent::MasterGone;
                }
                gone
            })
            .unwrap());
        "callee"
    }));
    let mut s = enter();
    threads.push(std::thread::spawn(move || {
        assert_eq!(s.call_execute(mute, 0, b"?"), Err(Error::MasterGone));
        expect_master_gone(&mut s);
        "peer caller"
    }));

    // Once everybody waits, the master dies.
    let mut observer = enter();
    wait_until("the slaves all to wait", WAIT, || {
        let snap = observer.snapshot().unwrap();
        let pending = |name: &str| {
            snap.calls
                .iter()
                .find(|c| c.name == name)
                .map_or(0, |c| c.pending)
        };
        let lock = snap.locks.iter().find(|l| l.name == "held").unwrap();
        let attached = snap.reactors.iter().any(|r| !r.subscribers.is_empty());
        pending("never") == 3
            && pending("mute") == 1
            && lock.owner.is_some()
            && lock.waiters > 0
            && attached
    });
    master.kill();

    wait_until("every slave to see the master gone", WAIT, || {
        threads.iter().all(|t| t.is_finished())
    });
    for t in threads {
        let who = t.join().unwrap_or_else(|_| panic!("a slave thread failed"));
        eprintln!("{who}: saw MasterGone");
    }
    for c in callers.iter_mut() {
        assert!(
            c.wait_ok(),
            "a blocked caller process failed or was signalled"
        );
    }
    assert!(observer.snapshot().is_err());
    assert!(observer.master_gone());
    assert!(matches!(
        Slave::enter(w.clone()),
        Err(Error::NoMaster { .. })
    ));
}
