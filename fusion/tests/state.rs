//! Shared-state tests with real processes, sockets and shared memory: refs, properties,
//! arenas, shared-memory pools, skirmishes through the world, and the object registry —
//! and what happens to each when a fusionee dies.

use fusion::SkirmishId;
use fusion::{FusioneeId, ObjectId, PoolId, PropertyId};
use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusion::master::{LOCK_POOL, MAIN_POOL};
use fusion::pool::PoolAccess;
use fusion::skirmish::Prevailed;
use fusion::wire::{ObjectState, RefId, Request, MASTER_ID};
use fusion::{CallOutcome, Error, Master, Slave};
use fusion_testing::*;

/// Entry point of child processes (see `fusion_testing::spawn`).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let w = child_world();
    let list = |key: &str| -> Vec<u32> {
        std::env::var(key)
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect()
    };
    let forever = || -> ! {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    match role.as_str() {
        // Takes a local reference on every ref in LOCAL (repeats count) and a global one on
        // every ref in GLOBAL, then waits to be killed.
        "ref-holder" => {
            let mut s = Slave::enter(w).unwrap();
            for r in list("LOCAL") {
                s.ref_up(RefId(r), false).unwrap();
            }
            for r in list("GLOBAL") {
                s.ref_up(RefId(r), true).unwrap();
            }
            child_barrier().place().unwrap();
            forever();
        }
        // Purchases property P, then waits to be killed (or held up).
        "purchaser" => {
            let mut s = Slave::enter(w).unwrap();
            s.property_purchase(PropertyId(env_u32("P"))).unwrap();
            child_barrier().place().unwrap();
            forever();
        }
        // Enters arena "core" first, sets a field, and dies before calling ready.
        "arena-init" => {
            let mut s = Slave::enter(w).unwrap();
            assert!(s.arena_enter("core").unwrap(), "first in");
            s.arena_set_field("core", "half", b"made").unwrap();
            child_barrier().place().unwrap();
            forever();
        }
        // Allocates three blocks in each pool of POOLS and writes them.
        "alloc" => {
            let mut s = Slave::enter(w).unwrap();
            for pool in list("POOLS") {
                for size in [100, 5000, 200_000] {
                    let h = s.shm_alloc(PoolId(pool), size, false).unwrap();
                    s.shm_write(h, 0, b"child data").unwrap();
                }
            }
            child_barrier().place().unwrap();
            forever();
        }
        // Takes lock LOCK and holds it; with a mark from the parent, lets it go.
        "lock-holder" => {
            let mut s = Slave::enter(w).unwrap();
            let lock = s.skirmish_open(SkirmishId(env_u32("LOCK"))).unwrap();
            assert_eq!(lock.prevail().unwrap(), Prevailed::Clean);
            let mut b = child_barrier();
            b.place().unwrap();
            b.sync(Some(Duration::from_secs(60))).unwrap();
            lock.dismiss().unwrap();
            b.place().unwrap();
            forever();
        }
        // Opens lock LOCK, says so, then waits for it (cleanly) and says so.
        "lock-waiter" => {
            let mut s = Slave::enter(w).unwrap();
            let lock = s.skirmish_open(SkirmishId(env_u32("LOCK"))).unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            assert_eq!(
                lock.prevail_timeout(Duration::from_secs(20)).unwrap(),
                Prevailed::Clean
            );
            lock.dismiss().unwrap();
            b.place().unwrap();
        }
        // Owns objects: once told, looks them up and references the active one.
        "object-user" => {
            let mut s = Slave::enter(w).unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            b.sync(Some(Duration::from_secs(20))).unwrap();
            let ids = s.call_lookup("object-ids").unwrap();
            let (init, active): (ObjectId, ObjectId) = s.call_typed(ids, 0, &()).unwrap();
            // Its owner sees an object still in Init; lists show only active ones.
            assert_eq!(s.object_get(init).unwrap().state, ObjectState::Init);
            assert_eq!(s.object_list("window").unwrap(), vec![active]);
            let info = s.object_get(active).unwrap();
            assert_eq!(info.state, ObjectState::Active);
            s.ref_up(info.r#ref, false).unwrap();
            b.place().unwrap();
            forever();
        }
        other => panic!("unknown role {other}"),
    }
}

fn ref_info(m: &Master, r: RefId) -> fusion::status::RefInfo {
    m.snapshot()
        .refs
        .into_iter()
        .find(|i| i.id == r)
        .expect("ref in snapshot")
}

fn one_child(m: &mut Master, p: Proc) -> Proc {
    ready_all(m, vec![p]).pop().unwrap()
}

/// Kills a child and runs the master until it has left.
fn kill_and_reap(m: &mut Master, p: &mut Proc, fid: FusioneeId) {
    p.kill();
    pump(m, "the child's departure", |m| {
        !m.fusionees().contains(&fid) && !m.departed().contains(&fid)
    });
}

/// The fusionee that joined last.
fn newest(m: &Master) -> FusioneeId {
    *m.fusionees().iter().max().unwrap()
}

// ---- refs ---------------------------------------------------------------------------------

#[test]
fn refs_of_a_dead_holder_and_watches() {
    let w = world("refs-death");
    let mut m = Master::create(w.clone()).unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    let zero = m.call_create("zero", move |_, c| {
        f.borrow_mut().push(c.arg);
        CallOutcome::Return(vec![], vec![])
    });
    let r1 = m.ref_create("r1");
    let r2 = m.ref_create("r2");
    m.ref_watch(r1, zero, 1).unwrap();
    m.ref_watch(r2, zero, 2).unwrap();
    assert_eq!(
        m.ref_watch(r2, zero, 2),
        Err(Error::Busy),
        "one watch per ref"
    );

    // A slave watches its own ref r3 with a call it owns.
    let watched = Arc::new(Mutex::new(Vec::new()));
    let mut wslave = enter(&mut m, &w);
    let wd = watched.clone();
    let (wslave, r3) = join(
        &mut m,
        std::thread::spawn(move || {
            let r3 = wslave.ref_create("r3").unwrap();
            let call = wslave
                .call_create("slave-zero", move |c| {
                    wd.lock().unwrap().push(c.arg);
                    CallOutcome::Return(vec![], vec![])
                })
                .unwrap();
            wslave.ref_watch(r3, call, 3).unwrap();
            (wslave, r3)
        }),
    );
    // Only a ref's creator may watch it.
    assert!(matches!(m.ref_watch(r3, zero, 0), Err(Error::Access(_))));

    let kid = spawn(
        "ref-holder",
        &w,
        &[
            ("LOCAL", format!("{r1},{r1},{r2},{r3}")),
            ("GLOBAL", r1.to_string()),
        ],
    );
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    let i = ref_info(&m, r1);
    assert_eq!((i.total, i.global, i.local.clone()), (3, 1, vec![(fid, 2)]));
    assert_eq!(m.ref_stat(r2), Ok(1));
    assert_eq!(m.ref_stat(r3), Ok(1));

    // The slave that watches r3 waits for its call while the holder dies.
    let wd = watched.clone();
    let wh = std::thread::spawn(move || {
        let mut s = wslave;
        assert!(s
            .dispatch_until(Duration::from_secs(20), |_| !wd.lock().unwrap().is_empty())
            .unwrap());
        s
    });
    kill_and_reap(&mut m, &mut kid, fid);
    // Local counts went with it, the global one stays.
    let i = ref_info(&m, r1);
    assert_eq!((i.total, i.global, i.local), (1, 1, vec![]));
    assert_eq!(m.ref_stat(r2), Ok(0));
    assert_eq!(
        *fired.borrow(),
        vec![2],
        "r2's watch fired through the death"
    );
    let _wslave = join(&mut m, wh);
    assert_eq!(
        *watched.lock().unwrap(),
        vec![3],
        "the slave-owned watch fired"
    );
    // The global count is the world's: the master drops it, and r1's watch fires.
    m.ref_down(r1, true).unwrap();
    assert_eq!(*fired.borrow(), vec![2, 1]);
    assert_eq!(m.ref_down(r1, true).map_err(|_| ()), Err(()));
}

#[test]
fn zero_lock_trylock_locked_invalid_and_inherit() {
    let w = world("refs-lock");
    let mut m = Master::create(w.clone()).unwrap();
    let mut a = enter(&mut m, &w);
    let mut b = enter(&mut m, &w);
    let bid = b.id();
    let (a, r) = join(
        &mut m,
        std::thread::spawn(move || {
            let r = a.ref_create("r").unwrap();
            a.ref_up(r, false).unwrap();
            (a, r)
        }),
    );
    let bh = std::thread::spawn(move || {
        assert_eq!(b.ref_zero_trylock(r), Err(Error::Busy));
        b.ref_zero_lock(r).unwrap();
        b
    });
    pump(&mut m, "b waits in zero_lock", |m| {
        ref_info(m, r).zero_waiters == vec![bid]
    });
    settle(&mut m, Duration::from_millis(50));
    assert!(!bh.is_finished(), "zero_lock waits while the count is 1");
    let a = join(
        &mut m,
        std::thread::spawn(move || {
            let mut a = a;
            a.ref_down(r, false).unwrap();
            a
        }),
    );
    let mut b = join(&mut m, bh);
    assert_eq!(ref_info(&m, r).zero_locked_by, Some(bid));
    assert_eq!(m.ref_zero_trylock(r), Err(Error::Locked));
    let (a, b) = join(
        &mut m,
        std::thread::spawn(move || {
            let mut a = a;
            // Zero-locked: no ups, no downs, no second lock.
            assert_eq!(a.ref_up(r, false), Err(Error::Locked));
            assert_eq!(a.ref_up(r, true), Err(Error::Locked));
            assert_eq!(a.ref_zero_trylock(r), Err(Error::Locked));
            assert!(matches!(a.ref_unlock(r), Err(Error::Access(_))));
            b.ref_unlock(r).unwrap();
            a.ref_up(r, false).unwrap();
            a.ref_down(r, false).unwrap();
            // Below zero, locally or globally: Invalid.
            assert!(matches!(a.ref_down(r, false), Err(Error::Invalid(_))));
            assert!(matches!(a.ref_down(r, true), Err(Error::Invalid(_))));
            // b cannot drop a's local count.
            a.ref_up(r, false).unwrap();
            assert!(matches!(b.ref_down(r, false), Err(Error::Invalid(_))));
            a.ref_down(r, false).unwrap();
            // Inherit: the child counts the parent's references.
            let child = a.ref_create("child").unwrap();
            a.ref_inherit(child, r).unwrap();
            assert_eq!(a.ref_inherit(child, r), Err(Error::Busy));
            assert!(matches!(a.ref_inherit(r, child), Err(Error::Invalid(_))));
            b.ref_up(r, true).unwrap();
            b.ref_up(r, false).unwrap();
            assert_eq!(a.ref_stat(child), Ok(2));
            assert_eq!(b.ref_zero_trylock(child), Err(Error::Busy));
            b.ref_down(r, true).unwrap();
            b.ref_down(r, false).unwrap();
            assert_eq!(a.ref_stat(child), Ok(0));
            // A zero-lock whose holder leaves is released.
            b.ref_zero_trylock(r).unwrap();
            (a, b)
        }),
    );
    drop(b);
    pump(&mut m, "b leaves", |m| {
        !m.fusionees().contains(&bid) && !m.departed().contains(&bid)
    });
    assert_eq!(ref_info(&m, r).zero_locked_by, None);
    join(
        &mut m,
        std::thread::spawn(move || {
            let mut a = a;
            a.ref_up(r, false).unwrap();
            assert!(matches!(a.ref_stat(RefId(999)), Err(Error::NotFound(_))));
        }),
    );

    // A master watch fires through inheritance when the last holder of the parent leaves.
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    let zero = m.call_create("zero", move |_, c| {
        f.borrow_mut().push(c.arg);
        CallOutcome::Return(vec![], vec![])
    });
    let parent = m.ref_create("parent");
    let child = m.ref_create("child");
    m.ref_inherit(child, parent).unwrap();
    m.ref_watch(child, zero, 9).unwrap();
    let mut c = enter(&mut m, &w);
    let cid = c.id();
    let c = join(
        &mut m,
        std::thread::spawn(move || {
            c.ref_up(parent, false).unwrap();
            c
        }),
    );
    assert_eq!(m.ref_stat(child), Ok(1));
    drop(c);
    pump(&mut m, "c leaves", |m| {
        !m.fusionees().contains(&cid) && !m.departed().contains(&cid)
    });
    assert_eq!(*fired.borrow(), vec![9]);
}

// ---- properties ---------------------------------------------------------------------------

fn prop_state(m: &Master, p: u32) -> (String, u32) {
    let i = m
        .snapshot()
        .properties
        .into_iter()
        .find(|i| i.id == PropertyId(p))
        .expect("property in snapshot");
    (i.state, i.waiters)
}

#[test]
fn property_lease_purchase_cede_between_slaves() {
    let w = world("props");
    let mut m = Master::create(w.clone()).unwrap();
    let mut a = enter(&mut m, &w);
    let b = enter(&mut m, &w);
    let (a, p) = join(
        &mut m,
        std::thread::spawn(move || {
            let p = a.property_create("layer").unwrap();
            a.property_lease(p).unwrap();
            a.property_lease(p).unwrap(); // re-entrant
            (a, p)
        }),
    );
    // A purchase waits (without limit) while the property is leased.
    let (tx, rx) = mpsc::channel();
    let bh = std::thread::spawn(move || {
        let mut b = b;
        tx.send(b.property_purchase(p)).unwrap();
        b
    });
    pump(&mut m, "b waits to purchase", |m| prop_state(m, p.0).1 == 1);
    let a = join(
        &mut m,
        std::thread::spawn(move || {
            let mut a = a;
            a.property_cede(p).unwrap();
            a
        }),
    );
    settle(&mut m, Duration::from_millis(50));
    assert!(rx.try_recv().is_err(), "still leased once");
    assert_eq!(prop_state(&m, p.0).1, 1);
    let a = join(
        &mut m,
        std::thread::spawn(move || {
            let mut a = a;
            a.property_cede(p).unwrap();
            a
        }),
    );
    assert_eq!(
        pump_recv(&mut m, &rx),
        Ok(()),
        "the last cede woke the purchaser"
    );
    let b = join(&mut m, bh);
    assert!(prop_state(&m, p.0).0.contains("Purchased"));
    // The master never waits.
    assert_eq!(m.property_lease(p), Err(Error::Busy));
    assert_eq!(m.property_purchase(p), Err(Error::Busy));
    let (a, b) = join(
        &mut m,
        std::thread::spawn(move || {
            let (mut a, mut b) = (a, b);
            assert!(matches!(a.property_cede(p), Err(Error::Access(_))));
            // Purchased by b: a lease gives up after 100 ms, a purchase after 1 s.
            assert_eq!(a.property_lease(p), Err(Error::Busy));
            assert_eq!(a.property_purchase(p), Err(Error::Busy));
            b.property_purchase(p).unwrap(); // re-entrant
            b.property_cede(p).unwrap();
            b.property_cede(p).unwrap();
            // Available again: a purchases at once.
            a.property_purchase(p).unwrap();
            a.property_cede(p).unwrap();
            // A lease waits for another lease until it is ceded.
            b.property_lease(p).unwrap();
            (a, b)
        }),
    );
    let (tx, rx) = mpsc::channel();
    let ah = std::thread::spawn(move || {
        let mut a = a;
        tx.send(a.property_lease(p)).unwrap();
        a
    });
    pump(&mut m, "a waits to lease", |m| prop_state(m, p.0).1 == 1);
    let mut b = join(
        &mut m,
        std::thread::spawn(move || {
            let mut b = b;
            b.property_cede(p).unwrap();
            b
        }),
    );
    assert_eq!(pump_recv(&mut m, &rx), Ok(()));
    let _a = join(&mut m, ah);
    assert!(prop_state(&m, p.0).0.contains("Leased"));
    // Only the master may hold a property up; only its creator destroy it.
    join(
        &mut m,
        std::thread::spawn(move || {
            assert!(matches!(
                b.request(Request::PropertyHoldup(p)),
                Err(Error::Access(_))
            ));
            assert!(matches!(b.property_destroy(p), Err(Error::Access(_))));
        }),
    );
}

#[test]
fn property_of_a_dead_purchaser_and_holdup() {
    let w = world("props-death");
    let mut m = Master::create(w.clone()).unwrap();
    let p = m.property_create("display");
    let q = m.property_create("cursor");
    let kid = spawn("purchaser", &w, &[("P", p.to_string())]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    assert!(prop_state(&m, p.0)
        .0
        .starts_with(&format!("Purchased({fid},")));
    let s = enter(&mut m, &w);
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            assert_eq!(
                s.property_purchase(p),
                Err(Error::Busy),
                "held by the child"
            );
            s
        }),
    );
    kill_and_reap(&mut m, &mut kid, fid);
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            s.property_purchase(p).unwrap();
            s.property_cede(p).unwrap();
            s
        }),
    );

    // Holdup: the master takes the property back and the purchaser is killed.
    assert_eq!(m.property_holdup(q), Ok(None), "nobody purchased it");
    let kid = spawn("purchaser", &w, &[("P", q.to_string())]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    assert_eq!(m.property_holdup(q), Ok(Some(fid)));
    let status = exited(&mut kid).expect("the purchaser died");
    assert_eq!(status.signal(), Some(9), "killed, not exited: {status:?}");
    pump(&mut m, "the purchaser's departure", |m| {
        !m.fusionees().contains(&fid) && !m.departed().contains(&fid)
    });
    m.property_purchase(q).unwrap();
    m.property_cede(q).unwrap();
    drop(s);
}

// ---- arenas -------------------------------------------------------------------------------

fn arena_waiting(m: &Master, name: &str) -> Vec<FusioneeId> {
    m.snapshot()
        .arenas
        .into_iter()
        .find(|a| a.name == name)
        .map(|a| a.waiting)
        .unwrap_or_default()
}

#[test]
fn arena_initialise_join_and_leave() {
    let w = world("arena");
    let mut m = Master::create(w.clone()).unwrap();
    let mut a = enter(&mut m, &w);
    let b = enter(&mut m, &w);
    let bid = b.id();
    let a = join(
        &mut m,
        std::thread::spawn(move || {
            assert!(a.arena_enter("core").unwrap(), "first in initialises");
            a.arena_set_field("core", "root", b"abc").unwrap();
            assert_eq!(a.arena_enter("core"), Err(Error::Busy), "already in");
            a
        }),
    );
    assert_eq!(m.arena_enter("core"), Err(Error::Busy), "being initialised");
    let bh = std::thread::spawn(move || {
        let mut b = b;
        let first = b.arena_enter("core").unwrap();
        (b, first)
    });
    pump(&mut m, "b waits for the initialiser", |m| {
        arena_waiting(m, "core") == vec![bid]
    });
    settle(&mut m, Duration::from_millis(50));
    assert!(!bh.is_finished());
    let a = join(
        &mut m,
        std::thread::spawn(move || {
            let mut a = a;
            a.arena_ready("core").unwrap();
            a
        }),
    );
    let (b, first) = join(&mut m, bh);
    assert!(!first);
    assert_eq!(m.arena_get_field("core", "root").unwrap(), b"abc");
    join(
        &mut m,
        std::thread::spawn(move || {
            let (mut a, mut b) = (a, b);
            assert_eq!(b.arena_get_field("core", "root").unwrap(), b"abc");
            b.arena_set_field("core", "more", b"x").unwrap();
            assert!(matches!(b.arena_ready("core"), Err(Error::Access(_))));
            assert!(!b.arena_exit("core").unwrap());
            assert!(a.arena_exit("core").unwrap(), "last one out");
            assert!(matches!(
                a.arena_get_field("core", "root"),
                Err(Error::NotFound(_))
            ));
            assert!(matches!(a.arena_exit("core"), Err(Error::NotFound(_))));
        }),
    );
    assert!(m.snapshot().arenas.is_empty());
}

#[test]
fn a_killed_initialiser_hands_the_arena_over() {
    let w = world("arena-death");
    let mut m = Master::create(w.clone()).unwrap();
    let kid = spawn("arena-init", &w, &[]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    let b = enter(&mut m, &w);
    let bid = b.id();
    let bh = std::thread::spawn(move || {
        let mut b = b;
        let first = b.arena_enter("core").unwrap();
        (b, first)
    });
    pump(&mut m, "b waits for the initialiser", |m| {
        arena_waiting(m, "core") == vec![bid]
    });
    kill_and_reap(&mut m, &mut kid, fid);
    let (b, first) = join(&mut m, bh);
    assert!(first, "the waiter initialises instead");
    let _b = join(
        &mut m,
        std::thread::spawn(move || {
            let mut b = b;
            assert!(
                matches!(b.arena_get_field("core", "half"), Err(Error::NotFound(_))),
                "half-made fields are dropped"
            );
            b.arena_set_field("core", "whole", b"ok").unwrap();
            b.arena_ready("core").unwrap();
            b
        }),
    );
    // Ready now: the master joins it and sees what the new initialiser made.
    assert_eq!(m.arena_enter("core"), Ok(false));
    assert_eq!(m.arena_get_field("core", "whole").unwrap(), b"ok");
}

// ---- shared memory ------------------------------------------------------------------------

fn pool_stats(m: &Master, id: PoolId) -> fusion::pool::PoolStats {
    m.snapshot()
        .pools
        .into_iter()
        .find(|p| p.id == id)
        .expect("pool in snapshot")
}

#[test]
fn shm_pools_writable_read_only_and_ownership() {
    let w = world("shm");
    let mut m = Master::create(w.clone()).unwrap();
    let a = enter(&mut m, &w);
    let b = enter(&mut m, &w);
    let aid = a.id();
    // A pool created after the slaves entered: they map it on first use.
    let pix = m
        .pool_create("pixels", 1 << 20, PoolAccess::Writable)
        .unwrap();
    // A block of master state, read-only for slaves.
    let mb = m.pool_mut(MAIN_POOL).unwrap().alloc(MASTER_ID, 64).unwrap();
    m.pool(MAIN_POOL).unwrap().write(mb, b"master").unwrap();
    let (a, b, h1, h2) = join(
        &mut m,
        std::thread::spawn(move || {
            let (mut a, mut b) = (a, b);
            let h1 = a.shm_alloc(LOCK_POOL, 100, true).unwrap();
            a.shm_write(h1, 0, b"lock pool").unwrap();
            let h2 = a.shm_alloc(pix, 4096, false).unwrap();
            a.shm_write(h2, 10, b"pixels").unwrap();
            assert!(matches!(
                a.shm_write(h1, 95, &[0; 10]),
                Err(Error::Access(_))
            ));
            // Master state can be read, not written, and slaves do not allocate in it.
            assert_eq!(&a.shm_read(mb).unwrap()[..6], b"master");
            assert!(matches!(a.shm_write(mb, 0, b"evil"), Err(Error::Access(_))));
            assert!(matches!(
                a.shm_alloc(MAIN_POOL, 64, false),
                Err(Error::Access(_))
            ));
            // Another slave sees the data but cannot free it.
            assert_eq!(&b.shm_read(h2).unwrap()[10..16], b"pixels");
            assert!(matches!(b.shm_free(h1), Err(Error::Access(_))));
            assert!(matches!(b.shm_free(h2), Err(Error::Access(_))));
            assert!(matches!(b.shm_free(mb), Err(Error::Access(_))));
            (a, b, h1, h2)
        }),
    );
    let mut buf = [0u8; 9];
    m.pool(LOCK_POOL).unwrap().read_at(h1, 0, &mut buf).unwrap();
    assert_eq!(&buf, b"lock pool");
    let mut buf = [0u8; 6];
    m.pool(pix).unwrap().read_at(h2, 10, &mut buf).unwrap();
    assert_eq!(&buf, b"pixels");
    assert_eq!(m.pool(pix).unwrap().owner_of(h2), Ok(aid));
    let mut buf = [0u8; 6];
    m.pool(MAIN_POOL).unwrap().read(mb, &mut buf).unwrap();
    assert_eq!(&buf, b"master");
    assert_eq!(pool_stats(&m, pix).owners, vec![(aid, 4096, 1)]);
    join(
        &mut m,
        std::thread::spawn(move || {
            let (mut a, _b) = (a, b);
            a.shm_free(h2).unwrap();
            assert!(matches!(a.shm_free(h2), Err(Error::NotFound(_))));
            a.shm_free(h1).unwrap();
        }),
    );
    assert_eq!(pool_stats(&m, pix).used, 0);
}

#[test]
fn a_killed_childs_memory_is_reclaimed() {
    let w = world("shm-death");
    let mut m = Master::create(w.clone()).unwrap();
    let pix = m
        .pool_create("pixels", 4 << 20, PoolAccess::Writable)
        .unwrap();
    let base_locks = pool_stats(&m, LOCK_POOL).used;
    let base_pix = pool_stats(&m, pix).used;
    let kid = spawn("alloc", &w, &[("POOLS", format!("{LOCK_POOL},{pix}"))]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    let per_child = 100 + 5000 + 200_000;
    let s = pool_stats(&m, pix);
    assert_eq!(s.used, base_pix + per_child);
    assert_eq!(s.owners, vec![(fid, per_child, 3)]);
    assert_eq!(pool_stats(&m, LOCK_POOL).used, base_locks + per_child);
    kill_and_reap(&mut m, &mut kid, fid);
    let s = pool_stats(&m, pix);
    assert_eq!(s.used, base_pix);
    assert!(s.owners.is_empty());
    let s = pool_stats(&m, LOCK_POOL);
    assert_eq!(s.used, base_locks);
    assert!(s.owners.iter().all(|o| o.0 != fid));
    // The snapshot counts what was cleaned up: one fusionee, three blocks in each pool.
    let c = m.snapshot().cleanup;
    assert_eq!((c.departed, c.blocks_reclaimed), (1, 6), "{c:?}");
    assert!(c.bytes_reclaimed >= 2 * per_child, "{c:?}");
    assert!(m.snapshot().to_table().contains("1 departed"));
}

// ---- skirmish -----------------------------------------------------------------------------

fn lock_info(m: &Master, name: &str) -> fusion::skirmish::SkirmishInfo {
    m.snapshot()
        .locks
        .into_iter()
        .find(|l| l.name == name)
        .expect("lock in snapshot")
}

#[test]
fn a_dead_lock_owner_is_reported_to_the_next_locker() {
    let w = world("skirmish-death");
    let mut m = Master::create(w.clone()).unwrap();
    let lock = m.skirmish_create("layer").unwrap();
    let idx = lock_info(&m, "layer").index;
    let kid = spawn("lock-holder", &w, &[("LOCK", idx.to_string())]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    let info = lock_info(&m, "layer");
    assert_eq!((info.owner, info.count), (Some(fid), 1));
    assert_eq!(lock.swoop(), Err(Error::Busy));

    // A slave thread waits for the lock; the snapshot shows it waiting.
    let mut t = enter(&mut m, &w);
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let th = std::thread::spawn(move || {
        let l = t.skirmish_open(idx).unwrap();
        tx.send(l.prevail_timeout(Duration::from_secs(20))).unwrap();
        go_rx.recv().unwrap();
        l.dismiss().unwrap();
        t
    });
    pump(&mut m, "a waiter", |m| lock_info(m, "layer").waiters == 1);
    let table = m.snapshot().to_table();
    assert!(
        table.contains("layer") && table.contains(&fid.to_string()),
        "{table}"
    );
    kill_and_reap(&mut m, &mut kid, fid);
    assert_eq!(pump_recv(&mut m, &rx), Ok(Prevailed::OwnerDied));
    assert_eq!(lock.swoop(), Err(Error::Busy), "the waiter holds it now");
    go_tx.send(()).unwrap();
    let _t = join(&mut m, th);
    // Exactly one locker is told.
    assert_eq!(lock.swoop(), Ok(Prevailed::Clean));
    lock.dismiss().unwrap();
    let info = lock_info(&m, "layer");
    assert_eq!(
        (info.owner, info.owner_died, info.waiters),
        (None, false, 0)
    );
}

#[test]
fn the_master_is_told_when_it_locks_after_a_death() {
    let w = world("skirmish-master");
    let mut m = Master::create(w.clone()).unwrap();
    let lock = m.skirmish_create("cursor").unwrap();
    let idx = lock_info(&m, "cursor").index;
    let kid = spawn("lock-holder", &w, &[("LOCK", idx.to_string())]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    kill_and_reap(&mut m, &mut kid, fid);
    assert!(lock_info(&m, "cursor").owner_died);
    assert_eq!(lock.swoop(), Ok(Prevailed::OwnerDied));
    lock.dismiss().unwrap();
    assert_eq!(lock.swoop(), Ok(Prevailed::Clean));
    lock.dismiss().unwrap();
}

#[test]
fn two_slave_processes_contend_for_a_slave_made_lock() {
    let w = world("skirmish-contend");
    let mut m = Master::create(w.clone()).unwrap();
    let mut s = enter(&mut m, &w);
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            let l = s.skirmish_create("shared").unwrap();
            assert_eq!(l.name(), "shared");
            s
        }),
    );
    let idx = lock_info(&m, "shared").index;
    let holder = spawn("lock-holder", &w, &[("LOCK", idx.to_string())]);
    let mut holder = one_child(&mut m, holder);
    let hid = newest(&m);
    let waiter = spawn("lock-waiter", &w, &[("LOCK", idx.to_string())]);
    let mut waiter = one_child(&mut m, waiter);
    pump(&mut m, "the waiter blocks", |m| {
        lock_info(m, "shared").waiters == 1
    });
    assert_eq!(lock_info(&m, "shared").owner, Some(hid));
    holder.go();
    let mut both = ready_all(&mut m, vec![holder, waiter]);
    waiter = both.pop().unwrap();
    assert!(waiter.wait_ok(), "the waiter got the lock cleanly");
    let info = lock_info(&m, "shared");
    assert_eq!((info.owner, info.owner_died), (None, false));
    // Only its creator may destroy it; then it cannot be opened.
    let mut other = enter(&mut m, &w);
    join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            assert!(matches!(other.skirmish_destroy(idx), Err(Error::Access(_))));
            s.skirmish_destroy(idx).unwrap();
            assert!(s.skirmish_open(idx).is_err());
        }),
    );
}

#[test]
fn a_freed_lock_slot_is_the_next_given_and_the_table_holds_lock_slots() {
    let w = world("skirmish-slots");
    let mut m = Master::create(w.clone()).unwrap();
    let mut s = enter(&mut m, &w);
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            let _a = s.skirmish_create("a").unwrap();
            let _b = s.skirmish_create("b").unwrap();
            let _c = s.skirmish_create("c").unwrap();
            s
        }),
    );
    let (a, b, c) = (
        lock_info(&m, "a").index,
        lock_info(&m, "b").index,
        lock_info(&m, "c").index,
    );
    assert_eq!((a.0 + 1, b.0 + 1), (b.0, c.0), "slots given lowest first");
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            s.skirmish_destroy(b).unwrap();
            let _d = s.skirmish_create("d").unwrap();
            s
        }),
    );
    assert_eq!(
        lock_info(&m, "d").index,
        b,
        "the freed slot is the lowest free one"
    );
    assert_eq!(m.snapshot().locks.len(), 3);
    // The master fills the rest of the table; the one past it is refused.
    let mut made = Vec::new();
    let refused = loop {
        match m.skirmish_create("fill") {
            Ok(l) => made.push(l),
            Err(e) => break e,
        }
    };
    assert_eq!(made.len() + 3, fusion::master::LOCK_SLOTS as usize);
    assert!(matches!(refused, Error::Quota(_)), "{refused:?}");
    drop(s);
}

// ---- objects ------------------------------------------------------------------------------

#[test]
fn objects_lifecycle_owner_death_and_zombies() {
    let w = world("objects");
    let mut m = Master::create(w.clone()).unwrap();
    let dead = Rc::new(RefCell::new(Vec::new()));
    let d = dead.clone();
    m.object_class_create("window", move |o, zombie| {
        d.borrow_mut().push((o.id, zombie))
    })
    .unwrap();
    assert_eq!(
        m.object_class_create("window", |_, _| {}).map_err(|_| ()),
        Err(())
    );
    let kid = spawn("object-user", &w, &[]);
    let mut kid = one_child(&mut m, kid);
    let fid = newest(&m);
    let init = m.object_create("window", fid, 32, None).unwrap();
    let active = m.object_create("window", fid, 32, None).unwrap();
    assert!(m.object_check_owner(active, fid));
    m.call_create("object-ids", move |_, _| {
        CallOutcome::value(&(init, active))
    });

    // Objects in Init are invisible to others.
    let t = enter(&mut m, &w);
    let t = join(
        &mut m,
        std::thread::spawn(move || {
            let mut t = t;
            assert!(matches!(t.object_get(active), Err(Error::NotFound(_))));
            assert!(t.object_list("window").unwrap().is_empty());
            t
        }),
    );
    m.object_activate(active).unwrap();
    assert!(matches!(m.object_activate(active), Err(Error::Invalid(_))));
    let t = join(
        &mut m,
        std::thread::spawn(move || {
            let mut t = t;
            assert_eq!(t.object_get(active).unwrap().owners, vec![MASTER_ID, fid]);
            assert!(matches!(t.object_get(init), Err(Error::NotFound(_))));
            t
        }),
    );

    // The owner references the active object; when it dies the object goes (not a zombie).
    kid.go();
    let mut kid = one_child(&mut m, kid);
    let oref = m.object_get(active).unwrap().r#ref;
    assert_eq!(m.ref_stat(oref), Ok(1));
    kill_and_reap(&mut m, &mut kid, fid);
    assert_eq!(*dead.borrow(), vec![(active, false)]);
    assert!(m.object_get(active).is_none());
    assert!(m.ref_stat(oref).is_err(), "its ref went with it");
    // The Init object lost its owner but stays (nobody referenced it).
    assert_eq!(m.object_get(init).unwrap().owners, vec![MASTER_ID]);

    // Destroying the class: a referenced object dies as a zombie, the others cleanly.
    let held = m.object_create("window", MASTER_ID, 32, None).unwrap();
    m.object_activate(held).unwrap();
    let href = m.object_get(held).unwrap().r#ref;
    let t = join(
        &mut m,
        std::thread::spawn(move || {
            let mut t = t;
            t.ref_up(href, false).unwrap();
            t
        }),
    );
    m.object_class_destroy("window").unwrap();
    let mut got = dead.borrow()[1..].to_vec();
    got.sort();
    let mut want = vec![(init, false), (held, true)];
    want.sort();
    assert_eq!(got, want);
    assert!(m.snapshot().objects.is_empty());
    assert!(matches!(
        m.object_create("window", MASTER_ID, 32, None),
        Err(Error::NotFound(_))
    ));
    drop(t);
}

/// A queued master call: its executions wait for the program that runs the master, which
/// answers them in its own loop (through the call slot or the socket), ignores one-way ones,
/// and a caller that leaves first costs nothing.
#[test]
fn queued_master_calls_are_answered_by_the_program() {
    let w = world("queued");
    let mut m = Master::create(w.clone()).unwrap();
    let call = m.call_create_queued("echo");
    let wc = w.clone();
    let slave = std::thread::spawn(move || {
        let mut s = Slave::enter(wc).unwrap();
        let a = s.call_execute(call, 7, b"ping").unwrap();
        s.call_oneway(call, 8, b"one-way").unwrap();
        let b = s.call_execute(call, 9, b"pong").unwrap();
        (a, b)
    });
    let mut seen = Vec::new();
    wait_until(
        "the slave's calls to be answered",
        Duration::from_secs(20),
        || {
            m.dispatch(Some(Duration::from_millis(5))).unwrap();
            while let Some(c) = m.next_call() {
                seen.push((c.arg, c.payload.clone(), c.oneway));
                if !c.oneway {
                    let mut answer = c.payload.clone();
                    answer.reverse();
                    m.call_return(c.serial, Ok(answer), Vec::new()).unwrap();
                }
            }
            slave.is_finished()
        },
    );
    let (a, b) = slave.join().unwrap();
    assert_eq!((a.as_slice(), b.as_slice()), (&b"gnip"[..], &b"gnop"[..]));
    assert_eq!(
        seen,
        vec![
            (7, b"ping".to_vec(), false),
            (8, b"one-way".to_vec(), true),
            (9, b"pong".to_vec(), false)
        ]
    );
    // Destroyed, it is a call no more.
    m.call_destroy(call).unwrap();
    assert!(m.next_call().is_none());
}
