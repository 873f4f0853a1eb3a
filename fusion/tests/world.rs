//! World, arena and call tests with real processes, sockets and shared memory.

use fusion::CallSerial;
use fusion::{CallId, FusioneeId, SkirmishId};
use std::os::fd::AsFd;
use std::time::Duration;

use fusion::{CallOutcome, Error, Master, MasterEvent, Slave, SlaveEvent};
use fusion_testing::*;

/// Entry point of child processes (see `fusion_testing::spawn`).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let w = child_world();
    match role.as_str() {
        // Owns a call "peer-echo" whose handler never answers, then waits to be killed.
        "silent-callee" => {
            let mut s = Slave::enter(w).unwrap();
            s.call_create("peer-echo", |_| CallOutcome::Later).unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            loop {
                s.dispatch(Some(Duration::from_millis(100))).unwrap();
            }
        }
        // Owns "peer-echo" answering with the payload reversed.
        "echo-callee" => {
            let mut s = Slave::enter(w).unwrap();
            s.call_create("peer-echo", |c| {
                let mut p = c.payload;
                p.reverse();
                CallOutcome::Return(p, vec![])
            })
            .unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            while !s.master_gone() {
                s.dispatch(Some(Duration::from_millis(100))).unwrap();
                if let Some(SlaveEvent::LeaveRequested(_)) = s.next_event() {
                    return;
                }
            }
        }
        // Becomes master of the world and serves forever (killed by the test).
        "master" => {
            let mut m = Master::create(w).unwrap();
            m.call_create("never", |_, _| CallOutcome::Later);
            let mut b = child_barrier();
            b.place().unwrap();
            loop {
                m.dispatch(Some(Duration::from_millis(100))).unwrap();
            }
        }
        // Ignores leave requests.
        "stubborn" => {
            let mut s = Slave::enter(w).unwrap();
            let mut b = child_barrier();
            b.place().unwrap();
            loop {
                s.dispatch(Some(Duration::from_millis(100))).unwrap();
            }
        }
        // Takes lock FUSION_TEST_LOCK, leaves the world but keeps running (and holding it)
        // until told to exit.
        "leave-holding" => {
            let mut s = Slave::enter(w).unwrap();
            let idx: u32 = std::env::var("FUSION_TEST_LOCK").unwrap().parse().unwrap();
            let lock = s.skirmish_open(SkirmishId(idx)).unwrap();
            lock.prevail().unwrap();
            let mut b = child_barrier();
            drop(s);
            b.place().unwrap();
            b.sync(Some(Duration::from_secs(30))).unwrap();
            std::process::exit(0);
        }
        // Enters the world by name only (no runtime directory: the environment says where
        // to look) and checks FUSION_TEST_EXPECT: "admitted", or "no-master:" followed by
        // `|`-separated texts the error must contain.
        "search" => {
            let expect = std::env::var("FUSION_TEST_EXPECT").unwrap();
            let got = Slave::enter(fusion::WorldConfig::new(&w.name));
            match (expect.strip_prefix("no-master:"), got) {
                (None, Ok(mut s)) if expect == "admitted" => s.ping().unwrap(),
                (Some(texts), Err(e @ Error::NoMaster { .. })) => {
                    let msg = e.to_string();
                    for t in texts.split('|') {
                        assert!(msg.contains(t), "{msg:?} does not name {t:?}");
                    }
                }
                (_, got) => panic!("expected {expect}, got {got:?}"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn slaves_enter_leave_and_are_announced() {
    let w = world("enter");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let (a, b) = with_master(&mut m, move || {
        let a = Slave::enter(w2.clone()).unwrap();
        let b = Slave::enter(w2).unwrap();
        (a, b)
    });
    assert_ne!(a.id(), b.id());
    assert!(a.id() > FusioneeId(1) && b.id() > FusioneeId(1));
    assert_eq!(m.fusionees().len(), 2);
    let (aid, bid) = (a.id(), b.id());
    drop(a);
    pump(&mut m, "a leaves", |m| m.fusionees() == vec![bid]);
    let mut events = Vec::new();
    while let Some(e) = m.next_event() {
        events.push(e);
    }
    assert!(events.contains(&MasterEvent::Joined(aid)));
    assert!(events.contains(&MasterEvent::Left(aid)));
    let mut b = b;
    // b hears that a left.
    let seen = with_master(&mut m, move || {
        b.dispatch_until(
            Duration::from_secs(10),
            |s| matches!(s.next_event(), Some(SlaveEvent::Left(id)) if id == aid),
        )
        .unwrap()
    });
    assert!(seen);
    // Ids are never reused.
    let w3 = w.clone();
    let c = with_master(&mut m, move || Slave::enter(w3).unwrap());
    assert!(c.id() > bid);
}

#[test]
fn one_master_per_world_and_no_master_is_an_error() {
    let w = world("busy");
    // The error says where the slave looked: here, only the configured directory.
    match Slave::enter(w.clone()).unwrap_err() {
        Error::NoMaster { world, looked } => {
            assert_eq!(world, w.name);
            assert_eq!(looked.len(), 1);
            assert_eq!(looked[0].dir, w.base_dir().display().to_string());
            assert!(!looked[0].worlds.contains(&w.name));
        }
        other => panic!("expected NoMaster, got {other:?}"),
    }
    let _m = Master::create(w.clone()).unwrap();
    assert_eq!(
        Master::create(w.clone()).unwrap_err(),
        Error::WorldBusy(w.name.clone())
    );
}

#[test]
fn version_and_abi_mismatch_are_refused_clearly() {
    let w = world("abi").abi(46);
    let mut m = Master::create(w.clone()).unwrap();
    let bad = w.clone().abi(45);
    let err = with_master(&mut m, move || Slave::enter(bad).unwrap_err());
    match err {
        Error::VersionMismatch(msg) => {
            assert!(msg.contains("ABI 45") && msg.contains("46"), "{msg}")
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    let good = w.clone();
    let s = with_master(&mut m, move || Slave::enter(good).unwrap());
    assert!(s.id() > FusioneeId(1));
}

#[test]
fn a_dead_masters_world_is_replaced() {
    let w = world("stale");
    let mut child = spawn("master", &w, &[]);
    child.ready();
    // The live master's world cannot be taken.
    assert!(matches!(
        Master::create(w.clone()),
        Err(Error::WorldBusy(_))
    ));
    child.kill();
    // Its socket file is still there, but nobody answers: a slave is told there is no master…
    assert!(w.socket_path().exists());
    assert!(matches!(
        Slave::enter(w.clone()),
        Err(Error::NoMaster { .. })
    ));
    // …and a new master replaces the stale world.
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let s = with_master(&mut m, move || Slave::enter(w2).unwrap());
    assert_eq!(s.id(), FusioneeId(2));
}

#[test]
fn master_calls_sync_typed_fds_and_later() {
    let w = world("calls");
    let mut m = Master::create(w.clone()).unwrap();
    let echo = m.call_create("echo", |_, c| CallOutcome::Return(c.payload, vec![]));
    let sum = m.call_create("sum", |_, c| {
        let v: Vec<u32> = match fusion::call::decode(&c.payload) {
            Ok(v) => v,
            Err(e) => return CallOutcome::Fail(e),
        };
        CallOutcome::value(&v.iter().sum::<u32>())
    });
    // Writes "pong" into the memfd it gets and hands back a new eventfd.
    let fds = m.call_create("fds", |_, c| {
        let f = c.fds.into_iter().next().unwrap();
        rustix::io::write(&f, b"pong").unwrap();
        CallOutcome::Return(vec![], vec![fusionfb_sys::eventfd().unwrap()])
    });
    let later = m.call_create("later", |m, c| {
        // Answer on the next turn of the loop.
        let serial = c.serial;
        let arg = c.arg;
        m.set_root(serial.0.to_le_bytes().to_vec());
        let _ = arg;
        CallOutcome::Later
    });
    m.set_root(vec![]);
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        assert_eq!(s.call_execute(echo, 0, b"hello").unwrap(), b"hello");
        assert_eq!(s.call_lookup("sum").unwrap(), sum);
        let total: u32 = s.call_typed(sum, 0, &vec![1u32, 2, 3]).unwrap();
        assert_eq!(total, 6);
        // A malformed typed payload is an error reply, not a crash.
        assert!(matches!(
            s.call_execute(sum, 0, &[0xff; 3]),
            Err(Error::Malformed(_))
        ));
        let memfd = fusionfb_sys::memfd_create("t", 4096).unwrap();
        let (_, got) = s.call_execute_fds(fds, 0, b"", &[memfd.as_fd()]).unwrap();
        assert_eq!(got.len(), 1);
        let mut buf = [0u8; 4];
        rustix::io::pread(&memfd, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"pong");
        assert_eq!(s.call_execute(later, 7, b"x").unwrap(), b"done");
        assert!(matches!(
            s.call_execute(CallId(999), 0, b""),
            Err(Error::NotFound(_))
        ));
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
        if m.root().len() == 4 {
            let serial = CallSerial(u32::from_le_bytes(m.root().try_into().unwrap()));
            m.set_root(vec![]);
            m.call_return(serial, Ok(b"done".to_vec()), vec![]).unwrap();
        }
    }
    h.join().unwrap();
}

/// Calls back to back through the call slot (the master listening to the slot between
/// them, the slave skipping the doorbell when it does) all get their own answers, and a
/// slave that traces its calls gets every stage stamped, in order.
#[test]
fn back_to_back_slot_calls_are_answered_and_their_stages_timed() {
    use fusion::slot::Stage;

    let w = world("slot-calls");
    let mut m = Master::create(w.clone()).unwrap();
    let echo = m.call_create("echo", |_, c| CallOutcome::Return(c.payload, vec![]));
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        for i in 0u32..2000 {
            let answer = s.call_execute(echo, 0, &i.to_le_bytes()).unwrap();
            assert_eq!(answer, i.to_le_bytes());
        }
        s.set_call_tracing(true);
        let mut traces = Vec::new();
        for i in 0u32..50 {
            assert_eq!(
                s.call_execute(echo, 0, &i.to_le_bytes()).unwrap(),
                i.to_le_bytes()
            );
            traces.push(s.call_trace());
        }
        traces
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    let traces = h.join().unwrap();
    // The master's wake-up is stamped from the second traced call on (it learns then).
    for t in &traces[1..] {
        assert!(t.iter().all(|&ns| ns != 0), "a stage not stamped: {t:?}");
        let at = |s: Stage| t[s as usize];
        // The slave's stages in order, the master's in order, and the answer after both.
        assert!(at(Stage::Start) <= at(Stage::Posted) && at(Stage::Posted) <= at(Stage::Rung));
        assert!(at(Stage::Woke) <= at(Stage::Taken) && at(Stage::Taken) <= at(Stage::Handled));
        assert!(at(Stage::Handled) <= at(Stage::Answered));
        assert!(at(Stage::Posted) <= at(Stage::Taken));
        assert!(at(Stage::Handled) <= at(Stage::Received));
    }
}

#[test]
fn oneway_and_batched_calls_arrive_in_order() {
    let w = world("oneway");
    let mut m = Master::create(w.clone()).unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s2 = seen.clone();
    let log = m.call_create("log", move |_, c| {
        s2.borrow_mut().push(c.arg);
        CallOutcome::Return(vec![], vec![])
    });
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        for i in 0..150 {
            s.call_queue(log, i, &[0; 16]).unwrap();
        }
        s.call_oneway(log, 150, b"").unwrap();
        // A sync call after one-way calls sees them handled first.
        s.ping().unwrap();
        s
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    let _s = h.join().unwrap();
    assert_eq!(*seen.borrow(), (0..=150).collect::<Vec<i32>>());
}

#[test]
fn calls_between_slaves_and_peer_gone() {
    let w = world("peer");
    let mut m = Master::create(w.clone()).unwrap();
    let mut echo = spawn("echo-callee", &w, &[]);
    pump(&mut m, "echo-callee enters", |m| m.fusionees().len() == 1);
    // Let the child create its call.
    let h = std::thread::spawn(move || {
        echo.ready();
        echo
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    let _echo = h.join().unwrap();
    let w2 = w.clone();
    let out = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        let c = s.call_lookup("peer-echo").unwrap();
        s.call_execute(c, 0, b"abc").unwrap()
    });
    assert_eq!(out, b"cba");

    // A callee that never answers and then dies: the caller gets PeerGone at once.
    let w = world("peer-gone");
    let mut m = Master::create(w.clone()).unwrap();
    let mut silent = spawn("silent-callee", &w, &[]);
    let h = std::thread::spawn(move || {
        silent.ready();
        silent
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    let mut silent = h.join().unwrap();
    let callee = silent.pid();
    let w2 = w.clone();
    let caller = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        let c = s.call_lookup("peer-echo").unwrap();
        s.call_execute(c, 0, b"anyone?")
    });
    // Wait until the call is pending in the master, then kill the callee.
    pump(&mut m, "the call is pending", |m| {
        m.snapshot().calls.iter().any(|c| c.pending == 1)
    });
    silent.kill();
    while !caller.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    match caller.join().unwrap() {
        Err(Error::PeerGone(_)) => {}
        other => panic!("expected PeerGone from a dead callee (pid {callee}), got {other:?}"),
    }
    assert_eq!(m.cleanup().peer_gone, 1, "{:?}", m.cleanup());
}

#[test]
fn master_death_gives_slaves_master_gone_not_a_signal() {
    let w = world("master-dies");
    let mut master = spawn("master", &w, &[]);
    master.ready();
    let mut s = Slave::enter(w.clone()).unwrap();
    let never = s.call_lookup("never").unwrap();
    let pid = master.pid();
    let wo = w.clone();
    let killer = std::thread::spawn(move || {
        // Kill it once the call waits in it (another slave sees it pending).
        let mut observer = Slave::enter(wo).unwrap();
        wait_until(
            "the call to wait in the master",
            Duration::from_secs(20),
            || {
                let snap = observer.snapshot().unwrap();
                snap.calls
                    .iter()
                    .any(|c| c.name == "never" && c.pending == 1)
            },
        );
        master.kill();
        pid
    });
    // The call hangs in the master until it dies; then it fails cleanly.
    assert_eq!(s.call_execute(never, 0, b""), Err(Error::MasterGone));
    killer.join().unwrap();
    assert!(s.master_gone());
    s.dispatch(Some(Duration::ZERO)).unwrap();
    assert_eq!(s.next_event(), Some(SlaveEvent::MasterGone));
    assert_eq!(s.ping(), Err(Error::MasterGone));
    assert_eq!(s.ref_create("x"), Err(Error::MasterGone));
}

#[test]
fn kill_asks_then_kills() {
    let w = world("kill");
    let mut m = Master::create(w.clone()).unwrap();
    let mut polite = spawn("echo-callee", &w, &[]);
    let mut stubborn = spawn("stubborn", &w, &[]);
    let h = std::thread::spawn(move || {
        polite.ready();
        stubborn.ready();
        (polite, stubborn)
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    let (mut polite, mut stubborn) = h.join().unwrap();
    assert_eq!(m.fusionees().len(), 2);
    m.kill(None, Duration::from_millis(300));
    pump(&mut m, "both gone", |m| m.fusionees().is_empty());
    assert!(polite.wait_ok(), "the polite slave left by itself");
    assert!(!stubborn.wait_ok(), "the stubborn slave was killed");
}

#[test]
fn role_any_becomes_master_then_slave() {
    use fusion::wire::Role;
    use fusion::world::{enter, Entered};
    let w = world("any");
    let Entered::Master(mut m) = enter(w.clone(), Role::Any).unwrap() else {
        panic!("the first process should become the master");
    };
    let w2 = w.clone();
    let second = with_master(&mut m, move || match enter(w2, Role::Any).unwrap() {
        Entered::Slave(s) => s,
        Entered::Master(_) => panic!("a second process must join as a slave"),
    });
    assert!(matches!(
        enter(w.clone(), Role::Master),
        Err(Error::WorldBusy(_))
    ));
    drop(second);
    drop(m);
    assert!(matches!(enter(w, Role::Slave), Err(Error::NoMaster { .. })));
}

#[test]
fn a_live_process_that_left_keeps_its_lock_until_it_exits() {
    let w = world("leave-holding");
    let mut m = Master::create(w.clone()).unwrap();
    let lock = m.skirmish_create("held").unwrap();
    let idx = m.snapshot().locks[0].index;
    let mut child = spawn(
        "leave-holding",
        &w,
        &[("FUSION_TEST_LOCK", idx.to_string())],
    );
    let h = std::thread::spawn(move || {
        child.ready();
        child
    });
    while !h.is_finished() {
        m.dispatch(Some(Duration::from_millis(5))).unwrap();
    }
    let mut child = h.join().unwrap();
    pump(&mut m, "the child left the world", |m| {
        m.fusionees().is_empty()
    });
    // It left but still runs and maps the lock table: the lock stays its own.
    assert_eq!(lock.swoop(), Err(Error::Busy));
    assert!(m.snapshot().locks[0].owner.is_some());
    child.go();
    assert!(child.wait_ok());
    pump(&mut m, "the lock was released after the exit", |m| {
        m.snapshot().locks[0].owner.is_none()
    });
    assert_eq!(
        lock.prevail().unwrap(),
        fusion::skirmish::Prevailed::OwnerDied
    );
    assert_eq!(m.cleanup().owner_died, 1, "{:?}", m.cleanup());
    lock.dismiss().unwrap();
}

#[test]
fn a_slave_cannot_fill_the_masters_pool_with_reactor_rings() {
    let w = world("ring-quota");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let (made, err) = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        let mut made = 0;
        loop {
            match s.reactor_create("big", 64 * 1024, 16, false) {
                Ok(_) => made += 1,
                Err(e) => return (made, e),
            }
        }
    });
    assert!(made >= 1, "a reasonable reactor is allowed");
    assert!(matches!(err, Error::Quota(_)), "got {err:?}");
    // The master's own reactors still fit.
    m.reactor_create("mine", 64 * 1024, 64, false).unwrap();
}

#[test]
fn a_slave_cannot_fill_the_lock_table_or_the_masters_memory() {
    let w = world("state-quota");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let (locks, refs, props) = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        let count = |f: &mut dyn FnMut() -> Result<(), Error>| {
            let mut n = 0;
            loop {
                match f() {
                    Ok(()) => n += 1,
                    Err(Error::Quota(_)) => return n,
                    Err(e) => panic!("expected a quota, got {e}"),
                }
            }
        };
        let locks = count(&mut || s.skirmish_create("l").map(drop));
        let refs = count(&mut || s.ref_create("r").map(drop));
        let props = count(&mut || s.property_create("p").map(drop));
        (locks, refs, props)
    });
    assert_eq!(locks, 256);
    assert_eq!(refs, 4096);
    assert_eq!(props, 1024);
    // The master still has room in its lock table.
    m.skirmish_create("mine").unwrap();
}

#[test]
fn the_master_goes_idle_after_serving_calls() {
    // A doorbell that stayed readable would keep the master's epoll fd readable and its loop
    // spinning at full CPU.
    use std::os::fd::AsFd;
    let w = world("idle");
    let mut m = Master::create(w.clone()).unwrap();
    m.call_create("echo", |_, c| CallOutcome::Return(c.payload, vec![]));
    let w2 = w.clone();
    let s = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        let echo = s.call_lookup("echo").unwrap();
        for i in 0..10u8 {
            assert_eq!(s.call_execute(echo, 0, &[i]).unwrap(), vec![i]);
        }
        s
    });
    // Let everything in flight land, then nothing may be left to do.
    for _ in 0..5 {
        m.dispatch(Some(Duration::from_millis(10))).unwrap();
    }
    assert!(
        fusionfb_sys::poll_readable(&[m.as_fd()], Some(Duration::ZERO)).is_none(),
        "the master's fd stays readable with nothing to do"
    );
    drop(s);
}

#[test]
fn a_sync_call_sees_every_one_way_call_sent_before_it() {
    // More one-way packets than the master reads per wake-up, then a call-slot call: the
    // master must handle all of them first.
    let w = world("ordering");
    let mut m = Master::create(w.clone()).unwrap();
    let seen = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let s2 = seen.clone();
    m.call_create("bump", move |_, _| {
        s2.set(s2.get() + 1);
        CallOutcome::Return(vec![], vec![])
    });
    let s3 = seen.clone();
    m.call_create("count", move |_, _| {
        CallOutcome::Return(s3.get().to_le_bytes().to_vec(), vec![])
    });
    let w2 = w.clone();
    let counts = with_master(&mut m, move || {
        let mut s = Slave::enter(w2).unwrap();
        let (bump, count) = (
            s.call_lookup("bump").unwrap(),
            s.call_lookup("count").unwrap(),
        );
        let mut counts = Vec::new();
        for round in 1..=5u32 {
            for _ in 0..200 {
                s.call_oneway(bump, 0, b"").unwrap(); // one packet each
            }
            let n = s.call_execute(count, 0, b"").unwrap();
            counts.push((round * 200, u32::from_le_bytes(n.try_into().unwrap())));
        }
        counts
    });
    for (sent, seen) in counts {
        assert_eq!(seen, sent, "one-way calls overtaken by a later sync call");
    }
}

/// Runs a child `search` slave with `env`, expecting `expect`; the master serves meanwhile.
fn search_as(m: &mut Master, w: &fusion::WorldConfig, env: &[(&str, String)], expect: &str) {
    let mut env = env.to_vec();
    env.push(("FUSION_TEST_EXPECT", expect.to_string()));
    let mut p = spawn("search", w, &env);
    let mut status = None;
    pump(m, "the child enters", |_| {
        status = p.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(
        status.unwrap().success(),
        "child with {env:?} did not see {expect} (see its stderr)"
    );
}

#[test]
fn a_slave_searches_the_runtime_dirs_and_names_them_when_no_master_answers() {
    let w = world("search");
    // This process's own directories: an empty one FUSIONFB_RUNTIME_DIR points at, and a
    // master under XDG_RUNTIME_DIR (world names are unique, so /run/fusionfb, searched too,
    // cannot hold them).
    let root = w.base_dir().join(format!("{}-env", w.name));
    let empty = root.join("empty");
    let xdg = root.join("xdg");
    std::fs::create_dir_all(&empty).unwrap();
    let w = w.runtime_dir(xdg.join("fusionfb"));
    let mut m = Master::create(w.clone()).unwrap();
    let env = [
        ("FUSIONFB_RUNTIME_DIR", empty.display().to_string()),
        ("XDG_RUNTIME_DIR", xdg.display().to_string()),
    ];
    // Nothing in the first directory: the slave goes on to the next and enters there.
    search_as(&mut m, &w, &env, "admitted");
    // A typo'd world: the error names every directory tried and the worlds in them.
    let typo = w.clone().runtime_dir(xdg.join("fusionfb"));
    let typo = fusion::WorldConfig {
        name: format!("{}-typo", w.name),
        ..typo
    };
    search_as(
        &mut m,
        &typo,
        &env,
        &format!(
            "no-master:no master in world {:?}: looked in {} (no worlds), {}/fusionfb (worlds: {})|/run/fusionfb|FUSIONFB_RUNTIME_DIR",
            typo.name,
            empty.display(),
            xdg.display(),
            w.name
        ),
    );
}
