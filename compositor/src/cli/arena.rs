//! `fusionfb arena-demo`: the Fusion arena at work, end to end, with real processes.
//!
//! The master publishes a touch reactor, a report call, a shared counter in a writable pool
//! and a lock guarding it. It starts slave processes (this same binary, `demo-client`),
//! plays a scripted touch sequence through the reactor, and each slave counts every touch
//! under the lock in shared memory and reports back through the call. Then one slave dies
//! while holding the lock; the master releases it and the next locker is told the owner
//! died. Last, the master prints the world's snapshot and asks everyone to leave.
//!
//! `fusionfb demo` ([`crate::cli::demo`]) shows the display server; this one shows the IPC layer
//! underneath it.

use anyhow::Context as _;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fusion::barrier::Barrier;
use fusion::pool::{PoolAccess, ShmHandle};
use fusion::reactor::Reaction;
use fusion::skirmish::Prevailed;
use fusion::{
    CallId, CallOutcome, Master, MasterEvent, PoolId, ReactorId, SkirmishId, Slave, SlaveEvent,
    WorldConfig,
};
use serde::{Deserialize, Serialize};

/// What the master publishes as the world root.
#[derive(Debug, Serialize, Deserialize)]
struct Root {
    touch: ReactorId,
    report: CallId,
    lock: SkirmishId,
    counter: ShmHandle,
}

/// A touch as the demo sends it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Touch {
    slot: u8,
    x: u16,
    y: u16,
}

const CH_TOUCH: u32 = 0;
const CH_DONE: u32 = 1;
const CH_CRASH: u32 = 2;

/// The scripted input: a tap, a two-finger tap, and a swipe.
fn script() -> Vec<Touch> {
    let mut t = vec![
        Touch {
            slot: 0,
            x: 100,
            y: 100,
        },
        Touch {
            slot: 0,
            x: 640,
            y: 400,
        },
        Touch {
            slot: 1,
            x: 700,
            y: 420,
        },
    ];
    t.extend((0..9).map(|i| Touch {
        slot: 0,
        x: 200 + i * 100,
        y: 600,
    }));
    t
}

fn checksum(t: &Touch) -> u64 {
    t.slot as u64 * 1_000_003 + t.x as u64 * 1009 + t.y as u64
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Runs the demo: master here, `slaves` slave processes.
pub fn run(world: &str, slaves: u32) -> anyhow::Result<()> {
    let name = if world == "default" {
        format!("demo-{}", std::process::id())
    } else {
        world.to_string()
    };
    let started = Instant::now();
    let mut m =
        Master::create(WorldConfig::new(&name)).with_context(|| format!("world {name:?}"))?;
    println!(
        "fusionfb arena-demo: master of world {name:?} (pid {})",
        m.pid()
    );

    let touch = m.reactor_create("demo/touch", 16, 64, true).map_err(err)?;
    let reports = std::rc::Rc::new(std::cell::RefCell::new(Vec::<(u32, u64, u64, bool)>::new()));
    let r2 = reports.clone();
    let report = m.call_create("demo/report", move |_, c| {
        match fusion::call::decode::<(u32, u64, u64, bool)>(&c.payload) {
            Ok(r) => {
                r2.borrow_mut().push(r);
                CallOutcome::Return(vec![], vec![])
            }
            Err(e) => CallOutcome::Fail(e),
        }
    });
    let pool = m
        .pool_create("demo/shared", 1 << 20, PoolAccess::Writable)
        .map_err(err)?;
    let counter = m
        .pool_mut(pool)
        .expect("just created")
        .calloc(fusion::wire::MASTER_ID, 8)
        .map_err(err)?;
    let lock = m.skirmish_create("demo/counter").map_err(err)?;
    let root = Root {
        touch,
        report,
        lock: lock_index(&m, &lock),
        counter,
    };
    m.set_root(fusion::call::encode(&root).map_err(err)?);

    let mut children = Vec::new();
    for i in 0..slaves {
        let (parent, child) = Barrier::pair().map_err(err)?;
        let mut cmd = Command::new(std::env::current_exe().map_err(err)?);
        cmd.args(["--world", &name, "arena-client", &i.to_string()]);
        child.pass_to(&mut cmd).map_err(err)?;
        let proc = cmd.spawn().context("starting a demo client")?;
        drop(child);
        children.push((proc, parent));
    }
    let want = slaves as usize;
    pump(&mut m, "the clients to attach", |m| {
        m.snapshot()
            .reactors
            .iter()
            .any(|r| r.id == touch && r.subscribers.len() == want)
    })?;
    println!("fusionfb arena-demo: {slaves} slave processes joined and attached to demo/touch");

    let script = script();
    for t in &script {
        let bytes = fusion::call::encode(t).map_err(err)?;
        dispatch(&mut m, touch, CH_TOUCH, &bytes)?;
    }
    dispatch(&mut m, touch, CH_DONE, &[])?;
    println!(
        "fusionfb arena-demo: played {} touches through the reactor",
        script.len()
    );
    pump(&mut m, "every client to report", |_| {
        reports.borrow().len() == want
    })?;
    let expected: u64 = script.iter().map(checksum).sum();
    let mut ok = true;
    for (i, n, sum, _) in reports.borrow().iter() {
        let good = *n == script.len() as u64 && *sum == expected;
        ok &= good;
        println!(
            "  client {i}: {n} touches, checksum {sum:#x} {}",
            if good { "ok" } else { "WRONG" }
        );
    }
    let count = read_counter(&m, pool, counter);
    println!(
        "fusionfb arena-demo: shared counter under the lock = {count} (expected {})",
        want * script.len()
    );
    ok &= count == (want * script.len()) as u64;

    // A slave dies holding the lock; the master repairs.
    if slaves > 0 {
        dispatch(&mut m, touch, CH_CRASH, &0u32.to_le_bytes())?;
        let victim = children[0].0.id();
        pump(&mut m, "client 0 to die", |m| {
            m.fusionees().iter().all(|&f| m.pid_of(f) != Some(victim))
        })?;
        let _ = children[0].0.wait();
        // The master releases a dead owner's locks when its pidfd says the process exited,
        // which may come a moment after its socket closed: serve until then (prevailing
        // first would block the very loop that releases it).
        pump(&mut m, "the dead client's lock to be released", |m| {
            m.snapshot()
                .locks
                .iter()
                .any(|l| l.name == lock.name() && l.owner_died)
        })?;
        match lock.prevail_timeout(Duration::from_secs(5)).map_err(err)? {
            Prevailed::OwnerDied => println!(
                "fusionfb arena-demo: client 0 died holding demo/counter; the master released it and \
                 the next locker was told (OwnerDied)"
            ),
            Prevailed::Clean => {
                ok = false;
                println!("fusionfb arena-demo: the dead client's lock came back clean (unexpected)");
            }
        }
        lock.dismiss().map_err(err)?;
    }
    println!("\n{}", m.snapshot().to_table());

    m.kill(None, Duration::from_secs(2));
    pump(&mut m, "the clients to leave", |m| m.fusionees().is_empty())?;
    for (c, _) in children.iter_mut() {
        let _ = c.wait();
    }
    while let Some(e) = m.next_event() {
        if let MasterEvent::Left(id) = e {
            tracing::debug!(fusionee = %id, "left");
        }
    }
    super::finish("fusionfb arena-demo", started, 2, ok)
}

fn lock_index(m: &Master, lock: &fusion::skirmish::Skirmish) -> SkirmishId {
    m.snapshot()
        .locks
        .iter()
        .find(|l| l.name == lock.name())
        .map(|l| l.index)
        .unwrap_or(SkirmishId(0))
}

fn read_counter(m: &Master, pool: PoolId, at: ShmHandle) -> u64 {
    let mut b = [0u8; 8];
    m.pool(pool)
        .map(|p| p.map().read(at.offset as usize, &mut b))
        .unwrap_or(false);
    u64::from_le_bytes(b)
}

fn pump(m: &mut Master, what: &str, done: impl FnMut(&mut Master) -> bool) -> anyhow::Result<()> {
    match m.dispatch_until(Duration::from_secs(20), done) {
        Ok(true) => Ok(()),
        Ok(false) => Err(anyhow::anyhow!("timed out waiting for {what}")),
        Err(e) => Err(e.into()),
    }
}

fn dispatch(m: &mut Master, r: ReactorId, channel: u32, payload: &[u8]) -> anyhow::Result<()> {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        match m.reactor_dispatch(r, channel, payload, false) {
            Ok(()) => return Ok(()),
            Err(fusion::Error::WouldBlock) if Instant::now() < end => {
                m.dispatch(Some(Duration::from_millis(1))).map_err(err)?
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A demo slave process.
pub fn client(world: &str, index: u32) -> anyhow::Result<()> {
    let mut barrier = Barrier::from_env();
    let mut s = Slave::enter(WorldConfig::new(world).client_name(&format!("demo-client-{index}")))
        .map_err(err)?;
    let root: Root = fusion::call::decode(&s.root().map_err(err)?).map_err(err)?;
    let lock = s.skirmish_open(root.lock).map_err(err)?;
    let shared = s.pool_map(root.counter.pool).map_err(err)?;
    let state = std::sync::Arc::new(std::sync::Mutex::new((0u64, 0u64, false, false)));
    let st = state.clone();
    let counter = root.counter;
    let me = index;
    let react = move |d: &fusion::reactor::Delivery<'_>| {
        let mut st = st.lock().expect("state");
        match d.channel {
            CH_TOUCH => {
                if let Ok(t) = fusion::call::decode::<Touch>(d.payload) {
                    st.0 += 1;
                    st.1 += checksum(&t);
                    if lock.prevail().is_ok() {
                        if let Some(c) = shared.atomic_u64(counter.offset as usize) {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = lock.dismiss();
                    }
                }
            }
            CH_DONE => st.2 = true,
            CH_CRASH if d.payload == me.to_le_bytes() => {
                // Die while holding the lock: the master must clean up after us.
                let _ = lock.prevail();
                std::process::abort();
            }
            _ => {}
        }
        Reaction::Keep
    };
    for ch in [CH_TOUCH, CH_DONE, CH_CRASH] {
        s.attach(root.touch, ch, react.clone()).map_err(err)?;
    }
    if let Some(b) = barrier.as_mut() {
        let _ = b.place();
    }
    loop {
        s.dispatch(Some(Duration::from_millis(100))).map_err(err)?;
        let (n, sum, done, reported) = *state.lock().expect("state");
        if done && !reported {
            let payload = fusion::call::encode(&(index, n, sum, true)).map_err(err)?;
            s.call_execute(root.report, 0, &payload).map_err(err)?;
            state.lock().expect("state").3 = true;
        }
        while let Some(e) = s.next_event() {
            match e {
                SlaveEvent::LeaveRequested(_) | SlaveEvent::MasterGone => return Ok(()),
                SlaveEvent::Left(id) => println!("  client {index}: fusionee {id} left"),
                SlaveEvent::Overrun { .. } => {}
            }
        }
    }
}
