//! Reactor tests with real processes, sockets and shared memory: fan-out to subscriber
//! processes, `to_self`, global and local reactions, overrun, back-pressure, dispatch
//! callbacks, detaching (by hand, by `Reaction::Remove`, by death) and destroyed reactors.

use fusion::CallId;
use fusion::FusioneeId;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fusion::reactor::{Reaction, MAX_CHANNELS};
use fusion::wire::ReactorId;
use fusion::{CallOutcome, Error, Master, MasterEvent, Slave, SlaveEvent};
use fusion_testing::*;

/// A message: its channel and sequence number, as the receiver checks them.
fn msg(channel: u32, seq: u32) -> Vec<u8> {
    let mut v = channel.to_le_bytes().to_vec();
    v.extend_from_slice(&seq.to_le_bytes());
    v
}

fn parse(p: &[u8]) -> (u32, u32) {
    assert_eq!(p.len(), 8, "unexpected payload {p:?}");
    (
        u32::from_le_bytes(p[..4].try_into().unwrap()),
        u32::from_le_bytes(p[4..].try_into().unwrap()),
    )
}

/// Entry point of child processes (see `fusion_testing::spawn`).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let w = child_world();
    match role.as_str() {
        // Attaches to reactor R on channel 0 (and 5 when N5 > 0), counts what arrives,
        // checking channel and order, and reports (count0, count5, all_in_order) through
        // the master's "report" call with arg IDX once it has N0 and N5 messages.
        "subscriber" => {
            let (r, n0, n5) = (env_u32("R"), env_u32("N0"), env_u32("N5"));
            let idx = i32::try_from(env_u32("IDX")).unwrap();
            let mut s = Slave::enter(w).unwrap();
            let report = s.call_lookup("report").unwrap();
            // (count on 0, count on 5, everything in order on the right channel)
            let got = Arc::new(Mutex::new((0u32, 0u32, true)));
            for ch in [0u32, 5] {
                if ch == 5 && n5 == 0 {
                    continue;
                }
                let g = got.clone();
                s.attach(ReactorId(r), ch, move |d| {
                    let (c, seq) = parse(d.payload);
                    let mut g = g.lock().unwrap();
                    let n = if ch == 0 { &mut g.0 } else { &mut g.1 };
                    let ok = c == ch && d.channel == ch && seq == *n;
                    *n += 1;
                    if !ok {
                        g.2 = false;
                    }
                    Reaction::Keep
                })
                .unwrap();
            }
            let mut b = child_barrier();
            b.place().unwrap();
            let done = s
                .dispatch_until(Duration::from_secs(20), |_| {
                    let g = got.lock().unwrap();
                    g.0 >= n0 && g.1 >= n5
                })
                .unwrap();
            // Anything beyond what was sent would be counted here.
            s.dispatch(Some(Duration::ZERO)).unwrap();
            let mut clean = true;
            while let Some(e) = s.next_event() {
                if matches!(e, SlaveEvent::Overrun { .. }) {
                    clean = false;
                }
            }
            let (c0, c5, ok) = *got.lock().unwrap();
            let payload = fusion::call::encode(&(c0, c5, ok && done && clean)).unwrap();
            s.call_execute(report, idx, &payload).unwrap();
        }
        // Attaches to every reactor in R (comma-separated) on channel 0 and never reads.
        "stalled-subscriber" => {
            let mut s = Slave::enter(w).unwrap();
            for r in std::env::var("R").unwrap().split(',') {
                s.attach(r.parse().unwrap(), 0, |_| Reaction::Keep).unwrap();
            }
            let mut b = child_barrier();
            b.place().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn reactor_info(m: &Master, r: ReactorId) -> Option<fusion::status::ReactorInfo> {
    m.snapshot().reactors.into_iter().find(|i| i.id == r)
}

fn subscribers(m: &Master, r: ReactorId) -> Vec<FusioneeId> {
    reactor_info(m, r)
        .map(|i| i.subscribers)
        .unwrap_or_default()
}

/// Dispatches from the master, running its loop while a lossless ring is full.
fn master_dispatch(m: &mut Master, r: ReactorId, channel: u32, payload: &[u8]) {
    wait_until(
        "the subscribers to catch up",
        Duration::from_secs(20),
        || match m.reactor_dispatch(r, channel, payload, false) {
            Ok(()) => true,
            Err(Error::WouldBlock) => {
                m.dispatch(Some(Duration::from_millis(5))).unwrap();
                false
            }
            Err(e) => panic!("dispatch failed: {e}"),
        },
    );
}

fn fan_out(lossless: bool, capacity: usize) {
    const N0: u32 = 200;
    const N5: u32 = 20;
    let w = world(if lossless {
        "fan-lossless"
    } else {
        "fan-lossy"
    });
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("fan", 8, capacity, lossless).unwrap();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let rep = reports.clone();
    m.call_create("report", move |_, c| {
        let v: (u32, u32, bool) = match fusion::call::decode(&c.payload) {
            Ok(v) => v,
            Err(e) => return CallOutcome::Fail(e),
        };
        rep.borrow_mut().push((c.arg, v));
        CallOutcome::Return(vec![], vec![])
    });
    let kids: Vec<Proc> = (0..3)
        .map(|i| {
            let n5 = if i == 1 { N5 } else { 0 };
            spawn(
                "subscriber",
                &w,
                &[
                    ("R", r.to_string()),
                    ("N0", N0.to_string()),
                    ("N5", n5.to_string()),
                    ("IDX", i.to_string()),
                ],
            )
        })
        .collect();
    let mut kids = ready_all(&mut m, kids);
    let mut subs = subscribers(&m, r);
    subs.sort();
    let mut ids = m.fusionees();
    ids.sort();
    assert_eq!(subs, ids, "all three children are subscribed");

    for i in 0..N0 {
        master_dispatch(&mut m, r, 0, &msg(0, i));
        if i % 10 == 0 {
            master_dispatch(&mut m, r, 5, &msg(5, i / 10));
        }
    }
    pump(&mut m, "three reports", |_| reports.borrow().len() == 3);
    let mut got = reports.borrow().clone();
    got.sort();
    assert_eq!(
        got,
        vec![(0, (N0, 0, true)), (1, (N0, N5, true)), (2, (N0, 0, true))]
    );
    assert_eq!(reactor_info(&m, r).unwrap().dispatched, (N0 + N5) as u64);
    for k in &mut kids {
        assert!(k.wait_ok(), "a subscriber failed");
    }
}

#[test]
fn fan_out_to_subscriber_processes_lossy() {
    // Room for everything: nothing may be lost even if a child is slow.
    fan_out(false, 256);
}

#[test]
fn fan_out_to_subscriber_processes_lossless() {
    // Far less room than messages: the master waits for the slowest child.
    fan_out(true, 16);
}

type Log = Arc<Mutex<Vec<Vec<u8>>>>;

fn recorder(log: &Log) -> impl FnMut(&fusion::reactor::Delivery<'_>) -> Reaction + Send {
    let log = log.clone();
    move |d| {
        log.lock().unwrap().push(d.payload.to_vec());
        Reaction::Keep
    }
}

#[test]
fn to_self_global_and_local_reactions() {
    let w = world("to-self");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("input", 16, 64, false).unwrap();
    let global = Rc::new(RefCell::new(Vec::new()));
    let g = global.clone();
    m.reactor_attach_global(r, move |d| {
        g.borrow_mut()
            .push((d.channel, d.origin, d.payload.to_vec()))
    })
    .unwrap();
    let local0 = Rc::new(RefCell::new(Vec::new()));
    let l = local0.clone();
    let l0 = m
        .reactor_attach_local(r, 0, move |d| l.borrow_mut().push(d.payload.to_vec()))
        .unwrap();
    let local3 = Rc::new(RefCell::new(Vec::new()));
    let l = local3.clone();
    m.reactor_attach_local(r, 3, move |d| l.borrow_mut().push(d.payload.to_vec()))
        .unwrap();

    let (alog, blog): (Log, Log) = Default::default();
    let mut a = enter(&mut m, &w);
    let mut b = enter(&mut m, &w);
    let aid = a.id();
    let (al, bl) = (alog.clone(), blog.clone());
    let (a, b) = join(
        &mut m,
        std::thread::spawn(move || {
            a.attach(r, 0, recorder(&al)).unwrap();
            b.attach(r, 0, recorder(&bl)).unwrap();
            a.dispatch_message(r, 0, b"not-self", false).unwrap();
            a.dispatch_message(r, 0, b"self", true).unwrap();
            a.dispatch_message(r, 3, b"three", true).unwrap();
            assert!(a
                .dispatch_until(Duration::from_secs(10), |_| al.lock().unwrap().len() == 1)
                .unwrap());
            assert!(b
                .dispatch_until(Duration::from_secs(10), |_| bl.lock().unwrap().len() == 2)
                .unwrap());
            (a, b)
        }),
    );
    // The dispatcher's own reaction saw only the to_self message; the other both.
    assert_eq!(*alog.lock().unwrap(), vec![b"self".to_vec()]);
    assert_eq!(
        *blog.lock().unwrap(),
        vec![b"not-self".to_vec(), b"self".to_vec()]
    );
    // Global reactions ran for both channel-0 dispatches of the slave, not for channel 3.
    assert_eq!(
        *global.borrow(),
        vec![(0, aid, b"not-self".to_vec()), (0, aid, b"self".to_vec())]
    );
    // The master's local reactions see slave dispatches on their channel.
    assert_eq!(
        *local0.borrow(),
        vec![b"not-self".to_vec(), b"self".to_vec()]
    );
    assert_eq!(*local3.borrow(), vec![b"three".to_vec()]);

    // Master dispatches: global on channel 0 always, local reactions only with to_self.
    m.reactor_dispatch(r, 0, b"m-not-self", false).unwrap();
    m.reactor_dispatch(r, 0, b"m-self", true).unwrap();
    m.reactor_dispatch(r, 3, b"m-three", true).unwrap();
    assert_eq!(global.borrow().len(), 4);
    assert_eq!(
        global.borrow()[2],
        (0, FusioneeId(1), b"m-not-self".to_vec())
    );
    assert_eq!(global.borrow()[3], (0, FusioneeId(1), b"m-self".to_vec()));
    assert_eq!(local0.borrow().len(), 3);
    assert_eq!(local0.borrow()[2], b"m-self".to_vec());
    assert_eq!(local3.borrow().len(), 2);
    // Slaves get both master dispatches on channel 0.
    let (al, bl) = (alog.clone(), blog.clone());
    let (mut a, mut b) = join(
        &mut m,
        std::thread::spawn(move || {
            let (mut a, mut b) = (a, b);
            assert!(a
                .dispatch_until(Duration::from_secs(10), |_| al.lock().unwrap().len() == 3)
                .unwrap());
            assert!(b
                .dispatch_until(Duration::from_secs(10), |_| bl.lock().unwrap().len() == 4)
                .unwrap());
            (a, b)
        }),
    );
    assert_eq!(
        alog.lock().unwrap()[1..],
        [b"m-not-self".to_vec(), b"m-self".to_vec()]
    );

    // A detached local reaction runs no more; detaching twice is NotFound.
    m.reactor_detach_local(r, l0).unwrap();
    assert!(matches!(
        m.reactor_detach_local(r, l0),
        Err(Error::NotFound(_))
    ));
    m.reactor_dispatch(r, 0, b"after", true).unwrap();
    assert_eq!(local0.borrow().len(), 3);
    assert_eq!(global.borrow().len(), 5);
    let (al, bl) = (alog.clone(), blog.clone());
    join(
        &mut m,
        std::thread::spawn(move || {
            assert!(a
                .dispatch_until(Duration::from_secs(10), |_| al.lock().unwrap().len() == 4)
                .unwrap());
            assert!(b
                .dispatch_until(Duration::from_secs(10), |_| bl.lock().unwrap().len() == 5)
                .unwrap());
        }),
    );
}

#[test]
fn lossy_overrun_is_reported_exactly() {
    let w = world("overrun");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("lossy", 8, 8, false).unwrap();
    let log: Log = Default::default();
    let mut s = enter(&mut m, &w);
    let l = log.clone();
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            s.attach(r, 0, recorder(&l)).unwrap();
            s
        }),
    );
    // The subscriber does not read while the master dispatches 20 into a ring of 8.
    for i in 0..20 {
        m.reactor_dispatch(r, 0, &msg(0, i), false).unwrap();
    }
    let l = log.clone();
    let mut s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            assert!(s
                .dispatch_until(Duration::from_secs(10), |_| l.lock().unwrap().len() == 8)
                .unwrap());
            s
        }),
    );
    assert_eq!(
        s.next_event(),
        Some(SlaveEvent::Overrun {
            reactor: r,
            lost: 12
        })
    );
    assert_eq!(s.next_event(), None);
    let seqs: Vec<u32> = log.lock().unwrap().iter().map(|p| parse(p).1).collect();
    assert_eq!(seqs, (12..20).collect::<Vec<_>>());
    // Later messages arrive normally.
    for i in 20..25 {
        m.reactor_dispatch(r, 0, &msg(0, i), false).unwrap();
    }
    let l = log.clone();
    let mut s = join(
        &mut m,
        std::thread::spawn(move || {
            assert!(s
                .dispatch_until(Duration::from_secs(10), |_| l.lock().unwrap().len() == 13)
                .unwrap());
            s.dispatch(Some(Duration::from_millis(20))).unwrap();
            s
        }),
    );
    assert_eq!(s.next_event(), None, "no overrun when keeping up");
    let seqs: Vec<u32> = log.lock().unwrap().iter().map(|p| parse(p).1).collect();
    assert_eq!(seqs, (12..25).collect::<Vec<_>>());
}

/// A slave in a thread that reads when told: send it a target count of deliveries, it
/// dispatches until it has them and answers with the count. Drop the sender to end it.
fn reader(
    mut s: Slave,
    log: Log,
) -> (
    mpsc::Sender<usize>,
    mpsc::Receiver<usize>,
    JoinHandle<Slave>,
) {
    let (cmd_tx, cmd_rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        while let Ok(target) = cmd_rx.recv() {
            let l = log.clone();
            let ok = s
                .dispatch_until(Duration::from_secs(20), |_| {
                    l.lock().unwrap().len() >= target
                })
                .unwrap();
            assert!(ok, "reader did not get {target} messages");
            let _ = done_tx.send(log.lock().unwrap().len());
        }
        s
    });
    (cmd_tx, done_rx, h)
}

#[test]
fn lossless_back_pressure_blocks_the_dispatcher() {
    let w = world("lossless");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("lossless", 8, 4, true).unwrap();
    let log: Log = Default::default();
    let mut sub = enter(&mut m, &w);
    let mut disp = enter(&mut m, &w);
    let l = log.clone();
    let sub = join(
        &mut m,
        std::thread::spawn(move || {
            sub.attach(r, 0, recorder(&l)).unwrap();
            sub
        }),
    );
    let (cmd, done, sub_h) = reader(sub, log.clone());

    // The dispatcher sends 10; the subscriber stalls, so only 4 fit.
    let progress = Arc::new(AtomicU32::new(0));
    let p = progress.clone();
    let disp_h = std::thread::spawn(move || {
        for i in 0..10 {
            disp.dispatch_message(r, 0, &msg(0, i), false).unwrap();
            p.store(i + 1, Ordering::SeqCst);
        }
        disp
    });
    pump(&mut m, "the ring fills and the fifth waits", |m| {
        let i = reactor_info(m, r).unwrap();
        i.dispatched == 4 && i.blocked_dispatches == 1
    });
    // However long we wait, the fifth dispatch is not answered while nobody reads.
    settle(&mut m, Duration::from_millis(200));
    assert_eq!(progress.load(Ordering::SeqCst), 4);
    assert_eq!(reactor_info(&m, r).unwrap().dispatched, 4);
    // The master's own dispatch does not wait: WouldBlock.
    assert_eq!(
        m.reactor_dispatch(r, 0, &msg(1, 0), false),
        Err(Error::WouldBlock)
    );

    // The subscriber reads the four while the master loop stands still…
    cmd.send(4).unwrap();
    assert_eq!(done.recv_timeout(Duration::from_secs(20)).unwrap(), 4);
    // …and the master's dispatch still does not overtake the slave's queued one.
    assert_eq!(
        m.reactor_dispatch(r, 0, &msg(1, 0), false),
        Err(Error::WouldBlock)
    );
    // Now everything flows.
    cmd.send(10).unwrap();
    assert_eq!(pump_recv(&mut m, &done), 10);
    let _disp = join(&mut m, disp_h);
    assert_eq!(progress.load(Ordering::SeqCst), 10);
    m.reactor_dispatch(r, 0, &msg(1, 0), false).unwrap();
    cmd.send(11).unwrap();
    assert_eq!(pump_recv(&mut m, &done), 11);
    drop(cmd);
    let _sub = join(&mut m, sub_h);
    let got: Vec<(u32, u32)> = log.lock().unwrap().iter().map(|p| parse(p)).collect();
    let mut want: Vec<(u32, u32)> = (0..10).map(|i| (0, i)).collect();
    want.push((1, 0));
    assert_eq!(got, want, "nothing lost, nothing reordered");
}

#[test]
fn destroying_a_full_lossless_reactor_releases_blocked_dispatchers() {
    let w = world("lossless-destroy");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("lossless", 8, 2, true).unwrap();
    let mut sub = enter(&mut m, &w);
    let mut disp = enter(&mut m, &w);
    let sub = join(
        &mut m,
        std::thread::spawn(move || {
            sub.attach(r, 0, |_| Reaction::Keep).unwrap();
            sub
        }),
    );
    let h = std::thread::spawn(move || {
        disp.dispatch_message(r, 0, b"1", false).unwrap();
        disp.dispatch_message(r, 0, b"2", false).unwrap();
        disp.dispatch_message(r, 0, b"3", false)
    });
    pump(&mut m, "the ring fills and the third waits", |m| {
        let i = reactor_info(m, r).unwrap();
        i.dispatched == 2 && i.blocked_dispatches == 1
    });
    settle(&mut m, Duration::from_millis(100));
    assert!(!h.is_finished(), "the third dispatch waits");
    m.reactor_destroy(r).unwrap();
    assert_eq!(join(&mut m, h), Err(Error::Destroyed));
    drop(sub);
    pump(&mut m, "the reactor is reaped", |m| {
        reactor_info(m, r).is_none()
    });
}

#[test]
fn dispatch_callback_runs_once_everyone_read() {
    let w = world("dispatch-cb");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("cb", 8, 64, false).unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    let cb = m.call_create("consumed", move |_, c| {
        f.borrow_mut().push(c.arg);
        CallOutcome::Return(vec![], vec![])
    });
    assert!(matches!(
        m.reactor_set_dispatch_callback(r, Some(CallId(999))),
        Err(Error::NotFound(_))
    ));
    m.reactor_set_dispatch_callback(r, Some(cb)).unwrap();
    let (alog, blog): (Log, Log) = Default::default();
    let mut a = enter(&mut m, &w);
    let mut b = enter(&mut m, &w);
    let (al, bl) = (alog.clone(), blog.clone());
    let (a, b) = join(
        &mut m,
        std::thread::spawn(move || {
            a.attach(r, 0, recorder(&al)).unwrap();
            b.attach(r, 0, recorder(&bl)).unwrap();
            // Only the creator may set the callback.
            assert!(matches!(
                a.reactor_set_dispatch_callback(r, None),
                Err(Error::Access(_))
            ));
            (a, b)
        }),
    );
    let (acmd, adone, ah) = reader(a, alog.clone());
    let (bcmd, bdone, bh) = reader(b, blog.clone());

    m.reactor_dispatch(r, 0, &msg(0, 0), false).unwrap();
    settle(&mut m, Duration::from_millis(50));
    assert!(fired.borrow().is_empty(), "nobody has read it yet");
    acmd.send(1).unwrap();
    assert_eq!(pump_recv(&mut m, &adone), 1);
    // A message on a channel nobody listens to is consumed at once; it also makes the
    // master look at the first one again, which b has still not read.
    m.reactor_dispatch(r, 7, &msg(7, 0), false).unwrap();
    settle(&mut m, Duration::from_millis(100));
    assert_eq!(*fired.borrow(), vec![7]);
    bcmd.send(1).unwrap();
    assert_eq!(pump_recv(&mut m, &bdone), 1);
    pump(&mut m, "the callback for channel 0", |_| {
        fired.borrow().len() == 2
    });
    settle(&mut m, Duration::from_millis(100));
    assert_eq!(*fired.borrow(), vec![7, 0], "exactly once");
    drop((acmd, bcmd));
    join(&mut m, ah);
    join(&mut m, bh);
}

#[test]
fn dispatch_callback_does_not_wait_for_the_dead() {
    let w = world("dispatch-cb-dead");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("cb", 8, 64, false).unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    let cb = m.call_create("consumed", move |_, c| {
        f.borrow_mut().push(c.arg);
        CallOutcome::Return(vec![], vec![])
    });
    m.reactor_set_dispatch_callback(r, Some(cb)).unwrap();
    let kid = spawn("stalled-subscriber", &w, &[("R", r.to_string())]);
    let mut kid = ready_all(&mut m, vec![kid]).pop().unwrap();
    m.reactor_dispatch(r, 0, &msg(0, 0), false).unwrap();
    settle(&mut m, Duration::from_millis(50));
    assert!(fired.borrow().is_empty());
    kid.kill();
    pump(&mut m, "the callback after the subscriber died", |_| {
        !fired.borrow().is_empty()
    });
    assert_eq!(*fired.borrow(), vec![0]);
}

#[test]
fn remove_and_detach() {
    let w = world("detach");
    let mut m = Master::create(w.clone()).unwrap();
    // Lossless with room for two: a subscriber whose reads the master does not see blocks it.
    let ra = m.reactor_create("a", 8, 2, true).unwrap();
    let rb = m.reactor_create("b", 8, 64, false).unwrap();
    let once = Arc::new(AtomicU32::new(0));
    let keep: Log = Default::default();
    let mut s = enter(&mut m, &w);
    let sid = s.id();
    let (o, k) = (once.clone(), keep.clone());
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            s.attach(ra, 0, move |_| {
                o.fetch_add(1, Ordering::SeqCst);
                Reaction::Remove
            })
            .unwrap();
            // A second reaction on another reactor keeps its place.
            s.attach(rb, 0, recorder(&k)).unwrap();
            s
        }),
    );
    assert_eq!(subscribers(&m, ra), vec![sid]);
    m.reactor_dispatch(ra, 0, b"1", false).unwrap();
    m.reactor_dispatch(ra, 0, b"2", false).unwrap();
    let o = once.clone();
    let mut s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            assert!(s
                .dispatch_until(Duration::from_secs(10), |_| o.load(Ordering::SeqCst) == 1)
                .unwrap());
            s.dispatch(Some(Duration::from_millis(20))).unwrap();
            s
        }),
    );
    // Reaction::Remove detached it: the master no longer counts the subscriber.
    pump(&mut m, "the auto-detach", |m| subscribers(m, ra).is_empty());
    assert_eq!(
        once.load(Ordering::SeqCst),
        1,
        "the removed reaction ran once"
    );
    assert_eq!(subscribers(&m, rb), vec![sid]);

    // Attach again (after another attachment took the freed cursor): the subscriber's
    // reads must be seen by the master, or the lossless ring stays full.
    let rc = m.reactor_create("c", 8, 64, false).unwrap();
    let again: Log = Default::default();
    let ag = again.clone();
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            s.attach(rc, 0, |_| Reaction::Keep).unwrap();
            s.attach(ra, 0, recorder(&ag)).unwrap();
            s
        }),
    );
    m.reactor_dispatch(ra, 0, b"3", false).unwrap();
    m.reactor_dispatch(ra, 0, b"4", false).unwrap();
    let ag = again.clone();
    let mut s = join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            assert!(s
                .dispatch_until(Duration::from_secs(10), |_| ag.lock().unwrap().len() == 2)
                .unwrap());
            s
        }),
    );
    pump(&mut m, "room in the lossless ring", |m| {
        m.reactor_dispatch(ra, 0, b"5", false).is_ok()
    });
    assert_eq!(*again.lock().unwrap(), vec![b"3".to_vec(), b"4".to_vec()]);

    // detach: one of two reactions on b goes; the other stays, then the last detaches.
    let second: Log = Default::default();
    let sc = second.clone();
    let mut s = join(
        &mut m,
        std::thread::spawn(move || {
            let id = s.attach(rb, 0, recorder(&sc)).unwrap();
            s.detach(rb, id).unwrap();
            assert!(matches!(s.detach(rb, id), Err(Error::NotFound(_))));
            s
        }),
    );
    assert_eq!(subscribers(&m, rb), vec![sid]);
    m.reactor_dispatch(rb, 0, b"b1", false).unwrap();
    let k = keep.clone();
    s = join(
        &mut m,
        std::thread::spawn(move || {
            assert!(s
                .dispatch_until(Duration::from_secs(10), |_| k.lock().unwrap().len() == 1)
                .unwrap());
            s
        }),
    );
    assert!(
        second.lock().unwrap().is_empty(),
        "the detached reaction got nothing"
    );
    let _ = s;
}

#[test]
fn a_dead_subscriber_is_detached_and_unblocks_lossless() {
    let w = world("dead-sub");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("lossless", 8, 4, true).unwrap();
    let doomed = m.reactor_create("doomed", 8, 4, false).unwrap();
    let kid = spawn("stalled-subscriber", &w, &[("R", format!("{r},{doomed}"))]);
    let mut kid = ready_all(&mut m, vec![kid]).pop().unwrap();
    let fid = m.fusionees()[0];
    assert_eq!(subscribers(&m, r), vec![fid]);
    for i in 0..4 {
        m.reactor_dispatch(r, 0, &msg(0, i), false).unwrap();
    }
    assert_eq!(
        m.reactor_dispatch(r, 0, &msg(0, 4), false),
        Err(Error::WouldBlock)
    );
    // A destroyed reactor with a subscriber lingers, refusing use, until it is detached.
    m.reactor_destroy(doomed).unwrap();
    assert!(reactor_info(&m, doomed).unwrap().destroyed);
    assert_eq!(
        m.reactor_dispatch(doomed, 0, b"x", false),
        Err(Error::Destroyed)
    );
    let mut s = enter(&mut m, &w);
    let s = join(
        &mut m,
        std::thread::spawn(move || {
            assert_eq!(
                s.attach(doomed, 0, |_| Reaction::Keep),
                Err(Error::Destroyed)
            );
            assert_eq!(
                s.dispatch_message(doomed, 0, b"x", false),
                Err(Error::Destroyed)
            );
            s
        }),
    );

    kid.kill();
    pump(&mut m, "the subscriber's death", |m| {
        m.fusionees().len() == 1
    });
    assert!(
        subscribers(&m, r).is_empty(),
        "the dead subscriber is detached"
    );
    // It no longer holds the lossless ring back.
    m.reactor_dispatch(r, 0, &msg(0, 4), false).unwrap();
    // The destroyed reactor's last subscriber died: it is gone.
    assert!(
        reactor_info(&m, doomed).is_none(),
        "destroyed reactor reaped"
    );
    join(
        &mut m,
        std::thread::spawn(move || {
            let mut s = s;
            assert!(matches!(
                s.attach(doomed, 0, |_| Reaction::Keep),
                Err(Error::NotFound(_))
            ));
        }),
    );
    let mut left = false;
    while let Some(e) = m.next_event() {
        left |= e == MasterEvent::Left(fid);
    }
    assert!(left);
}

#[test]
fn destroyed_reactors_refuse_use() {
    let w = world("destroyed");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("gone", 8, 4, false).unwrap();
    m.reactor_destroy(r).unwrap();
    assert!(reactor_info(&m, r).is_none());
    assert!(matches!(m.reactor_destroy(r), Err(Error::NotFound(_))));
    assert!(matches!(
        m.reactor_dispatch(r, 0, b"x", false),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        m.reactor_attach_local(r, 0, |_| {}),
        Err(Error::NotFound(_))
    ));
    let mine = m.reactor_create("master's", 8, 4, false).unwrap();
    let mut s = enter(&mut m, &w);
    join(
        &mut m,
        std::thread::spawn(move || {
            assert!(matches!(
                s.attach(r, 0, |_| Reaction::Keep),
                Err(Error::NotFound(_))
            ));
            assert!(matches!(
                s.dispatch_message(r, 0, b"x", false),
                Err(Error::NotFound(_))
            ));
            // A slave may not destroy the master's reactor, but its own.
            assert!(matches!(s.reactor_destroy(mine), Err(Error::Access(_))));
            let own = s.reactor_create("own", 8, 4, false).unwrap();
            s.attach(own, 0, |_| Reaction::Keep).unwrap();
            s.reactor_destroy(own).unwrap();
            assert_eq!(
                s.dispatch_message(own, 0, b"x", false),
                Err(Error::Destroyed)
            );
            assert!(matches!(s.reactor_destroy(own), Err(Error::Destroyed)));
        }),
    );
}

#[test]
fn oversized_messages_and_bad_channels_are_invalid() {
    let w = world("invalid");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("small", 10, 4, false).unwrap();
    assert!(matches!(
        m.reactor_dispatch(r, 0, &[0; 11], false),
        Err(Error::Invalid(_))
    ));
    m.reactor_dispatch(r, 0, &[0; 10], false).unwrap();
    assert!(matches!(
        m.reactor_dispatch(r, MAX_CHANNELS, b"x", false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        m.reactor_attach_local(r, MAX_CHANNELS, |_| {}),
        Err(Error::Invalid(_))
    ));
    for (size, cap) in [(0, 4), (8, 3), (8, 1), (1 << 20, 4)] {
        assert!(
            matches!(
                m.reactor_create("bad", size, cap, false),
                Err(Error::Invalid(_))
            ),
            "msg_size {size}, capacity {cap}"
        );
    }
    let mut s = enter(&mut m, &w);
    join(
        &mut m,
        std::thread::spawn(move || {
            assert!(matches!(
                s.dispatch_message(r, 0, &[0; 11], false),
                Err(Error::Invalid(_))
            ));
            assert!(matches!(
                s.dispatch_message(r, MAX_CHANNELS, b"x", false),
                Err(Error::Invalid(_))
            ));
            assert!(matches!(
                s.attach(r, MAX_CHANNELS, |_| Reaction::Keep),
                Err(Error::Invalid(_))
            ));
            s.attach(r, MAX_CHANNELS - 1, |_| Reaction::Keep).unwrap();
            s.dispatch_message(r, MAX_CHANNELS - 1, &[1; 10], true)
                .unwrap();
            assert!(matches!(
                s.reactor_create("bad", 8, 6, false),
                Err(Error::Invalid(_))
            ));
        }),
    );
}
