//! Fusion endpoints inside event loops: calloop sources and the dispatch thread.

use fusion::ReactorId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusion::reactor::Reaction;
use fusion::source::{DispatchThread, MasterSource, SlaveSource};
use fusion::{Master, Slave, SlaveEvent};
use fusion_testing::*;

#[test]
fn slave_in_calloop_gets_every_message_and_master_gone() {
    let w = world("calloop");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("events", 16, 64, true).unwrap();
    m.set_root(r.0.to_le_bytes().to_vec());
    let got = Arc::new(AtomicUsize::new(0));
    let got2 = got.clone();
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut slave = Slave::enter(w2).unwrap();
        let r = u32::from_le_bytes(slave.root().unwrap().try_into().unwrap());
        slave
            .attach(ReactorId(r), 0, move |d| {
                assert_eq!(d.payload.len(), 8);
                got2.fetch_add(1, Ordering::SeqCst);
                Reaction::Keep
            })
            .unwrap();
        let mut ev: calloop::EventLoop<Vec<SlaveEvent>> = calloop::EventLoop::try_new().unwrap();
        ev.handle()
            .insert_source(SlaveSource::new(slave).unwrap(), |e, _, seen| seen.push(e))
            .unwrap();
        let mut seen = Vec::new();
        // No assertion here: the test's own checks say what was missing.
        poll_for(Duration::from_secs(20), || {
            ev.dispatch(Some(Duration::from_millis(100)), &mut seen)
                .unwrap();
            seen.contains(&SlaveEvent::MasterGone).then_some(())
        });
        seen
    });
    pump(&mut m, "the slave attached", |m| {
        m.snapshot()
            .reactors
            .iter()
            .any(|x| x.subscribers.len() == 1)
    });
    for i in 0..500u64 {
        send(&mut m, r.0, i);
    }
    pump(&mut m, "all 500 delivered through calloop", |_| {
        got.load(Ordering::SeqCst) >= 500
    });
    drop(m);
    let seen = h.join().unwrap();
    assert!(seen.contains(&SlaveEvent::MasterGone));
    assert_eq!(got.load(Ordering::SeqCst), 500);
}

#[test]
fn master_in_calloop_serves_slaves() {
    let w = world("calloop-master");
    let mut m = Master::create(w.clone()).unwrap();
    m.call_create("echo", |_, c| {
        fusion::CallOutcome::Return(c.payload, vec![])
    });
    let mut ev: calloop::EventLoop<Vec<fusion::MasterEvent>> =
        calloop::EventLoop::try_new().unwrap();
    ev.handle()
        .insert_source(MasterSource::new(m).unwrap(), |e, _, seen| seen.push(e))
        .unwrap();
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        let echo = s.call_lookup("echo").unwrap();
        (0..100).all(|i: u32| s.call_execute(echo, 0, &i.to_le_bytes()).unwrap() == i.to_le_bytes())
    });
    let mut seen = Vec::new();
    while !h.is_finished() {
        ev.dispatch(Some(Duration::from_millis(10)), &mut seen)
            .unwrap();
    }
    assert!(h.join().unwrap());
    wait_until(
        "the joined and left events",
        Duration::from_secs(10),
        || {
            ev.dispatch(Some(Duration::from_millis(10)), &mut seen)
                .unwrap();
            seen.len() >= 2
        },
    );
    assert!(matches!(seen[0], fusion::MasterEvent::Joined(_)));
    assert!(matches!(seen[1], fusion::MasterEvent::Left(_)));
}

#[test]
fn dispatch_thread_runs_reactions_while_the_app_calls() {
    let w = world("dthread");
    let mut m = Master::create(w.clone()).unwrap();
    let r = m.reactor_create("events", 16, 64, true).unwrap();
    m.call_create("echo", |_, c| {
        fusion::CallOutcome::Return(c.payload, vec![])
    });
    m.set_root(r.0.to_le_bytes().to_vec());
    let got = Arc::new(AtomicUsize::new(0));
    let got2 = got.clone();
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        let r = u32::from_le_bytes(s.root().unwrap().try_into().unwrap());
        s.attach(ReactorId(r), 0, move |_| {
            got2.fetch_add(1, Ordering::SeqCst);
            Reaction::Keep
        })
        .unwrap();
        let echo = s.call_lookup("echo").unwrap();
        let s = Arc::new(Mutex::new(s));
        let t = DispatchThread::spawn(s.clone(), |_| {}).unwrap();
        // The app keeps calling while the thread runs reactions.
        for i in 0..200u32 {
            let out = s
                .lock()
                .unwrap()
                .call_execute(echo, 0, &i.to_le_bytes())
                .unwrap();
            assert_eq!(out, i.to_le_bytes());
        }
        (t, s)
    });
    pump(&mut m, "attached", |m| {
        m.snapshot()
            .reactors
            .iter()
            .any(|x| x.subscribers.len() == 1)
    });
    for i in 0..300u64 {
        send(&mut m, r.0, i);
    }
    pump(&mut m, "the calls finished", |_| h.is_finished());
    let (t, _s) = h.join().unwrap();
    pump(&mut m, "all reactions ran on the thread", |_| {
        got.load(Ordering::SeqCst) == 300
    });
    t.stop();
}

/// Dispatches on a lossless reactor, serving the world while subscribers catch up.
fn send(m: &mut Master, r: u32, i: u64) {
    wait_until(
        "the subscribers to catch up",
        Duration::from_secs(20),
        || match m.reactor_dispatch(ReactorId(r), 0, &i.to_le_bytes(), false) {
            Ok(()) => true,
            Err(fusion::Error::WouldBlock) => {
                m.dispatch(Some(Duration::from_millis(1))).unwrap();
                false
            }
            Err(e) => panic!("dispatch {i}: {e}"),
        },
    );
}
