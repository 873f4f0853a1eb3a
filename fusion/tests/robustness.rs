//! Bad input: a slave that sends malformed, oversized, out-of-order or forged messages gets
//! an error reply or is disconnected; the master and every other slave carry on with nothing
//! lost.
//!
//! Most attackers here speak the wire directly ([`Raw`]): a socket, the handshake, and
//! whatever packets the test wants, so every reply the master sends can be checked.

use fusion::CallSerial;
use fusion::{CallId, PoolId, RefId, SkirmishId};
use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use fusion::master::LOCK_POOL;
use fusion::pool::ShmHandle;
use fusion::reactor::Reaction;
use fusion::wire::{self, FusioneeId, Message, Request, Response, Welcome, WIRE_VERSION};
use fusion::{CallOutcome, Error, Master, Slave, WorldConfig};
use fusion_testing::*;
use fusionfb_sys as sys;

/// Bound of every wait for the master.
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
        // Enters and checks the outcome against FUSION_TEST_EXPECT: "admitted" or
        // "refused:<text the refusal must contain>".
        "enter" => {
            let expect = std::env::var("FUSION_TEST_EXPECT").unwrap();
            let got = Slave::enter(w);
            match (expect.split_once(':'), got) {
                (None, Ok(mut s)) if expect == "admitted" => s.ping().unwrap(),
                (Some(("refused", text)), Err(Error::Refused(msg))) => {
                    assert!(msg.contains(text), "refusal {msg:?} does not name {text:?}")
                }
                (_, got) => panic!("expected {expect}, got {got:?}"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

// ---- a slave that speaks the wire itself ----------------------------------------------------

/// What a raw connection received.
#[derive(Debug)]
enum Got {
    Msg(Message),
    Closed,
    Timeout,
}

/// A connection to the master that sends whatever the test wants.
struct Raw {
    sock: OwnedFd,
    id: FusioneeId,
    _fds: Vec<OwnedFd>,
}

fn hello() -> Message {
    Message::Hello {
        api_major: wire::API_MAJOR,
        api_minor: wire::API_MINOR,
        abi: 0,
        name: "raw".into(),
    }
}

impl Raw {
    /// Connects without saying anything.
    fn connect(w: &WorldConfig) -> OwnedFd {
        sys::connect_seqpacket(&w.socket_path()).unwrap()
    }

    /// Connects and completes the handshake.
    fn enter(w: &WorldConfig) -> Raw {
        Raw::enter_with(w, &hello())
    }

    /// Connects and completes the handshake with `hello` (another API minor, say).
    fn enter_with(w: &WorldConfig, hello: &Message) -> Raw {
        let sock = Raw::connect(w);
        sys::send_msg(sock.as_fd(), &wire::encode(hello).unwrap(), &[]).unwrap();
        assert!(sys::poll_readable(&[sock.as_fd()], Some(WAIT)).is_some());
        let r = sys::recv_msg(sock.as_fd(), wire::MAX_MESSAGE, true)
            .unwrap()
            .unwrap();
        match wire::decode(&r.data).unwrap() {
            Message::Welcome(Welcome { id, .. }) => Raw {
                sock,
                id,
                _fds: r.fds,
            },
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    fn send_bytes(&self, bytes: &[u8]) -> std::io::Result<()> {
        sys::send_msg(self.sock.as_fd(), bytes, &[])
    }

    fn send(&self, m: &Message) {
        self.send_bytes(&wire::encode(m).unwrap()).unwrap();
    }

    fn request(&self, serial: u32, req: Request) {
        self.send(&Message::Request { serial, req });
    }

    fn recv(&self, timeout: Duration) -> Got {
        recv_on(&self.sock, timeout)
    }

    /// The next reply (events are skipped); panics when the connection closes or nothing
    /// comes.
    fn reply(&self) -> (u32, Result<Response, Error>) {
        loop {
            match self.recv(WAIT) {
                Got::Msg(Message::Reply { serial, result }) => return (serial, result),
                Got::Msg(Message::Event(_)) => continue,
                other => panic!("expected a reply, got {other:?}"),
            }
        }
    }

    /// Checks the master still serves us: a ping with `serial` is answered.
    fn ping(&self, serial: u32) {
        self.request(serial, Request::Ping);
        assert_eq!(self.reply(), (serial, Ok(Response::Unit)));
    }

    /// Waits until the master closes the connection (events and replies are skipped).
    fn wait_closed(&self) {
        loop {
            match self.recv(WAIT) {
                Got::Closed => return,
                Got::Msg(_) => continue,
                Got::Timeout => panic!("the master did not close the connection"),
            }
        }
    }
}

fn recv_on(sock: &OwnedFd, timeout: Duration) -> Got {
    if sys::poll_readable(&[sock.as_fd()], Some(timeout)).is_none() {
        return Got::Timeout;
    }
    match sys::recv_msg(sock.as_fd(), wire::MAX_MESSAGE, true) {
        Ok(Some(r)) => Got::Msg(wire::decode(&r.data).expect("the master sent garbage")),
        Ok(None) => Got::Closed,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Got::Timeout,
        Err(_) => Got::Closed,
    }
}

/// Asserts a protocol-violation reply: serial 0, `Malformed`.
fn assert_strike(r: (u32, Result<Response, Error>), what: &str) {
    match r {
        (0, Err(Error::Malformed(_))) => {}
        other => panic!("{what}: expected an error reply with serial 0, got {other:?}"),
    }
}

/// Packets that must not decode: wrong version, truncated, trailing bytes, random.
fn garbage(n: usize) -> Vec<(String, Vec<u8>)> {
    let valid = wire::encode(&Message::Request {
        serial: 5,
        req: Request::ArenaSetField {
            arena: "a".into(),
            field: "b".into(),
            value: vec![7; 64],
        },
    })
    .unwrap();
    let mut wrong_version = valid.clone();
    wrong_version[0] = WIRE_VERSION + 1;
    let mut trailing = wire::encode(&Message::Request {
        serial: 6,
        req: Request::Ping,
    })
    .unwrap();
    trailing.extend_from_slice(&[0, 1]);
    let mut out = vec![
        ("wrong wire version".to_string(), wrong_version),
        ("truncated".into(), valid[..valid.len() / 2].to_vec()),
        ("trailing bytes".into(), trailing),
        ("version byte only".into(), vec![WIRE_VERSION]),
        // A Hello whose name claims 4 GiB.
        (
            "huge length prefix".into(),
            vec![WIRE_VERSION, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ),
    ];
    let mut rng = Rng(0x5eed);
    while out.len() < n {
        let len = 1 + (rng.next() % 200) as usize;
        let mut p = rng.bytes(len);
        p[0] = WIRE_VERSION;
        if wire::decode(&p).is_err() {
            out.push((format!("random {len} bytes"), p));
        }
    }
    out.truncate(n);
    out
}

/// Dispatches the master until `h` finished, then returns its result.
fn finish<T>(m: &mut Master, h: std::thread::JoinHandle<T>) -> T {
    pump(m, "a helper thread", |_| h.is_finished());
    h.join().unwrap()
}

// ---- garbage ------------------------------------------------------------------------------

/// What the bystander set up before the attack.
struct Holdings {
    id: FusioneeId,
    r: RefId,
    block: ShmHandle,
}

#[test]
fn garbage_gets_error_replies_then_a_disconnect_and_others_lose_nothing() {
    let w = world("garbage");
    let mut m = Master::create(w.clone()).unwrap();
    let held: Rc<RefCell<Vec<(FusioneeId, CallSerial)>>> = Rc::default();
    let h2 = held.clone();
    let later = m.call_create("later", move |_, c| {
        h2.borrow_mut().push((c.caller, c.serial));
        CallOutcome::Later
    });
    let news = m.reactor_create("news", 64, 16, false).unwrap();

    // The bystander: refs, a block, a subscription and a pending call.
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let wb = w.clone();
    let bystander = std::thread::spawn(move || {
        let mut s = Slave::enter(wb).unwrap();
        let r = s.ref_create("bystander").unwrap();
        s.ref_up(r, false).unwrap();
        s.ref_up(r, false).unwrap();
        s.ref_up(r, true).unwrap();
        let block = s.shm_alloc(LOCK_POOL, 128, true).unwrap();
        s.shm_write(block, 0, &[0xab; 128]).unwrap();
        let (ntx, nrx) = mpsc::channel();
        s.attach(news, 0, move |d| {
            let _ = ntx.send(d.payload.to_vec());
            Reaction::Keep
        })
        .unwrap();
        tx.send(Holdings {
            id: s.id(),
            r,
            block,
        })
        .unwrap();
        // Waits in the master while the attack goes on.
        let answer = s.call_execute(later, 1, b"wait").unwrap();
        assert_eq!(answer, b"done");
        go_rx.recv_timeout(WAIT).unwrap();
        let mut news_got = None;
        assert!(s
            .dispatch_until(WAIT, |_| {
                news_got = nrx.try_recv().ok();
                news_got.is_some()
            })
            .unwrap());
        assert_eq!(news_got.unwrap(), b"still here");
        assert_eq!(s.shm_read(block).unwrap(), vec![0xab; 128]);
        assert_eq!(s.ref_stat(r).unwrap(), 3);
        s.ref_down(r, false).unwrap();
        s.ref_down(r, false).unwrap();
        s.ref_down(r, true).unwrap();
        s.shm_free(block).unwrap();
        s.ping().unwrap();
    });
    let mut holdings = None;
    pump(&mut m, "the bystander waits in its call", |_| {
        if holdings.is_none() {
            holdings = rx.try_recv().ok();
        }
        holdings.is_some() && held.borrow().len() == 1
    });
    let Holdings { id: bid, r, block } = holdings.unwrap();

    // The attacker: seven malformed packets are each answered and the connection is still
    // served; the eighth costs it the connection.
    let wa = w.clone();
    let attacker = std::thread::spawn(move || {
        let raw = Raw::enter(&wa);
        let packets = garbage(8);
        for (i, (what, p)) in packets.iter().enumerate() {
            raw.send_bytes(p).unwrap();
            assert_strike(raw.reply(), what);
            if i < 7 {
                raw.ping(100 + i as u32);
            }
        }
        raw.wait_closed();
        raw.id
    });
    let aid = finish(&mut m, attacker);
    pump(&mut m, "the attacker is gone", |m| {
        !m.fusionees().contains(&aid) && !m.departed().contains(&aid)
    });
    assert_eq!(m.fusionees(), vec![bid]);

    // Nothing of the bystander's was touched.
    let snap = m.snapshot();
    let rinfo = snap.refs.iter().find(|x| x.id == r).unwrap();
    assert_eq!(rinfo.local, vec![(bid, 2)]);
    assert_eq!(rinfo.global, 1);
    let pool = snap.pools.iter().find(|p| p.id == LOCK_POOL).unwrap();
    assert!(pool
        .owners
        .iter()
        .any(|&(o, b, n)| o == bid && b == 128 && n == 1));
    assert_eq!(m.pool(LOCK_POOL).unwrap().owner_of(block), Ok(bid));
    let rinfo = snap.reactors.iter().find(|x| x.id == news).unwrap();
    assert_eq!(rinfo.subscribers, vec![bid]);
    assert_eq!(
        snap.calls.iter().find(|c| c.id == later).unwrap().pending,
        1
    );

    // And it carries on.
    let (_, serial) = held.borrow()[0];
    m.call_return(serial, Ok(b"done".to_vec()), vec![]).unwrap();
    m.reactor_dispatch(news, 0, b"still here", false).unwrap();
    go_tx.send(()).unwrap();
    finish(&mut m, bystander);
}

#[test]
fn empty_packet_is_a_strike_not_a_hang_up() {
    let w = world("empty");
    let mut m = Master::create(w.clone()).unwrap();
    let wa = w.clone();
    let h = std::thread::spawn(move || {
        let raw = Raw::enter(&wa);
        raw.send_bytes(&[]).unwrap();
        assert_strike(raw.reply(), "empty packet");
        raw.ping(1);
        raw
    });
    let raw = finish(&mut m, h);
    assert_eq!(m.fusionees(), vec![raw.id]);
}

#[test]
fn slave_send_raw_packet_strikes_and_the_limit_disconnects() {
    let w = world("strikes");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let (id, other) = with_master(&mut m, move || {
        let mut other = Slave::enter(w2.clone()).unwrap();
        let mut s = Slave::enter(w2).unwrap();
        let r = other.ref_create("other").unwrap();
        other.ref_up(r, false).unwrap();
        for (_, p) in garbage(7) {
            s.send_raw_packet(&p).unwrap();
            // The error replies are skipped; the slave is still served.
            s.ping().unwrap();
        }
        s.send_raw_packet(&[0xff, 0xfe]).unwrap();
        assert_eq!(s.ping(), Err(Error::MasterGone));
        assert!(s.master_gone());
        other.ping().unwrap();
        assert_eq!(other.ref_stat(r).unwrap(), 1);
        (s.id(), other)
    });
    pump(&mut m, "the striker is gone", |m| {
        !m.fusionees().contains(&id) && !m.departed().contains(&id)
    });
    assert_eq!(m.fusionees(), vec![other.id()]);
}

#[test]
fn oversized_packet_disconnects() {
    let w = world("oversized");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let (id, other) = with_master(&mut m, move || {
        let mut other = Slave::enter(w2.clone()).unwrap();
        let mut s = Slave::enter(w2).unwrap();
        let block = other.shm_alloc(LOCK_POOL, 64, true).unwrap();
        // A valid message, just too big.
        let big = Message::Request {
            serial: 1,
            req: Request::ArenaSetField {
                arena: "a".into(),
                field: "b".into(),
                value: vec![1; wire::MAX_MESSAGE + 4096],
            },
        };
        let mut bytes = vec![WIRE_VERSION];
        bytes.extend(postcard_like(&big));
        assert!(bytes.len() > wire::MAX_MESSAGE);
        s.send_raw_packet(&bytes).unwrap();
        assert_eq!(s.ping(), Err(Error::MasterGone));
        other.ping().unwrap();
        assert_eq!(other.shm_read(block).unwrap(), vec![0; 64]);
        (s.id(), other)
    });
    pump(&mut m, "the sender is gone", |m| {
        !m.fusionees().contains(&id) && !m.departed().contains(&id)
    });
    assert_eq!(m.fusionees(), vec![other.id()]);
}

/// Encodes a message past the wire's size limit (what `wire::encode` refuses to do).
fn postcard_like(m: &Message) -> Vec<u8> {
    // The wire encoding is the version byte plus postcard; postcard has no size limit, so
    // encode the small envelope and splice the big value in: an ArenaSetField is
    // (variant, serial, variant, arena, field, value) with varint lengths.
    let Message::Request {
        serial,
        req:
            Request::ArenaSetField {
                arena,
                field,
                value,
            },
    } = m
    else {
        unreachable!()
    };
    let small = wire::encode(&Message::Request {
        serial: *serial,
        req: Request::ArenaSetField {
            arena: arena.clone(),
            field: field.clone(),
            value: Vec::new(),
        },
    })
    .unwrap();
    // Drop the version byte and the empty value's length (one zero byte).
    let mut out = small[1..small.len() - 1].to_vec();
    let mut n = value.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(value);
    out
}

// ---- out-of-order and forged messages -----------------------------------------------------

#[test]
fn out_of_order_and_forged_messages_are_strikes_and_the_real_caller_is_unaffected() {
    let w = world("forged");
    let mut m = Master::create(w.clone()).unwrap();

    // The callee: owns "slow", answers only when told.
    let serial = Arc::new(Mutex::new(None::<CallSerial>));
    let answer = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (wc, sc, ac, stc) = (w.clone(), serial.clone(), answer.clone(), stop.clone());
    let callee = std::thread::spawn(move || {
        let mut s = Slave::enter(wc).unwrap();
        let s2 = sc.clone();
        s.call_create("slow", move |c| {
            *s2.lock().unwrap() = Some(c.serial);
            CallOutcome::Later
        })
        .unwrap();
        let mut answered = false;
        while !stc.load(Ordering::SeqCst) {
            s.dispatch(Some(Duration::from_millis(10))).unwrap();
            if !answered && ac.load(Ordering::SeqCst) {
                let serial = sc.lock().unwrap().unwrap();
                s.call_return(serial, Ok(b"real".to_vec()), &[]).unwrap();
                answered = true;
            }
        }
        s.ping().unwrap();
    });
    pump(&mut m, "the callee's call exists", |m| {
        m.snapshot().calls.iter().any(|c| c.name == "slow")
    });
    let wb = w.clone();
    let caller = std::thread::spawn(move || {
        let mut s = Slave::enter(wb).unwrap();
        let c = s.call_lookup("slow").unwrap();
        s.call_execute(c, 0, b"question")
    });
    pump(&mut m, "the call reaches the callee", |_| {
        serial.lock().unwrap().is_some()
    });
    let real = serial.lock().unwrap().unwrap();

    let wf = w.clone();
    let forger = std::thread::spawn(move || {
        let raw = Raw::enter(&wf);
        let misdeeds: Vec<(&str, Message)> = vec![
            ("a second Hello", hello()),
            (
                "a Reply",
                Message::Reply {
                    serial: 3,
                    result: Ok(Response::Unit),
                },
            ),
            (
                "a Welcome",
                Message::Welcome(Welcome {
                    id: FusioneeId(99),
                    master_pid: 1,
                    api_minor: 0,
                    pools: vec![],
                    lock_table: 0,
                    lock_slots: 0,
                    control_size: 0,
                }),
            ),
            (
                "request serial 0",
                Message::Request {
                    serial: 0,
                    req: Request::Ping,
                },
            ),
            (
                "the answer to someone else's call",
                Message::CallReturn {
                    serial: real,
                    result: Ok(b"forged".to_vec()),
                },
            ),
            ("a Refused", Message::Refused(Error::Busy)),
            (
                "an Event",
                Message::Event(wire::Event::Left(wire::MASTER_ID)),
            ),
        ];
        for (i, (what, msg)) in misdeeds.iter().enumerate() {
            raw.send(msg);
            assert_strike(raw.reply(), what);
            raw.ping(10 + i as u32);
        }
        // One-way requests that fail are only logged: no reply, no strike.
        raw.send(&Message::OneWay(vec![
            Request::RefDown {
                r: RefId(999),
                global: false,
            },
            Request::CallExecute {
                call: CallId(999),
                arg: 0,
                payload: vec![],
            },
        ]));
        raw.ping(20);
        // The eighth violation: an answer to a call it was never asked.
        raw.send(&Message::CallReturn {
            serial: CallSerial(0xdead),
            result: Ok(vec![]),
        });
        assert_strike(raw.reply(), "an unasked answer");
        raw.wait_closed();
        raw.id
    });
    let fid = finish(&mut m, forger);
    pump(&mut m, "the forger is gone", |m| {
        !m.fusionees().contains(&fid) && !m.departed().contains(&fid)
    });

    // The real call is still pending and gets the real answer.
    assert_eq!(
        m.snapshot()
            .calls
            .iter()
            .find(|c| c.name == "slow")
            .unwrap()
            .pending,
        1
    );
    answer.store(true, Ordering::SeqCst);
    assert_eq!(finish(&mut m, caller), Ok(b"real".to_vec()));
    stop.store(true, Ordering::SeqCst);
    finish(&mut m, callee);
}

#[test]
fn forged_handles_get_clean_errors_and_the_owner_loses_nothing() {
    let w = world("handles");
    let mut m = Master::create(w.clone()).unwrap();
    let master_block = m
        .pool_mut(LOCK_POOL)
        .unwrap()
        .calloc(wire::MASTER_ID, 256)
        .unwrap();
    let w2 = w.clone();
    let (owner, forger) = with_master(&mut m, move || {
        let mut o = Slave::enter(w2.clone()).unwrap();
        let mut f = Slave::enter(w2).unwrap();
        // The owner's things.
        let block = o.shm_alloc(LOCK_POOL, 100, true).unwrap();
        o.shm_write(block, 0, b"mine").unwrap();
        let call = o
            .call_create("owned", |_| CallOutcome::Return(b"ok".to_vec(), vec![]))
            .unwrap();
        let r = o.ref_create("owned").unwrap();
        o.ref_up(r, false).unwrap();
        // The first lock of this world: index 0.
        let lock = o.skirmish_create("owned").unwrap();
        let idx = 0;
        let prop = o.property_create("owned").unwrap();
        o.property_purchase(prop).unwrap();
        let reactor = o.reactor_create("owned", 16, 4, false).unwrap();

        // The forger tries to take or break each of them.
        let access = |r: fusion::Result<()>, what: &str| match r {
            Err(Error::Access(_)) => {}
            other => panic!("{what}: expected Access, got {other:?}"),
        };
        access(f.shm_free(block), "free another's block");
        access(f.shm_free(master_block), "free the master's block");
        assert!(matches!(f.shm_realloc(block, 4000), Err(Error::Access(_))));
        for bogus in [
            ShmHandle {
                pool: LOCK_POOL,
                offset: block.offset + 64,
                len: 36,
            },
            ShmHandle {
                pool: LOCK_POOL,
                offset: block.offset,
                len: 99,
            },
            ShmHandle {
                pool: LOCK_POOL,
                offset: u64::MAX - 7,
                len: u64::MAX,
            },
        ] {
            match f.shm_free(bogus) {
                Err(Error::NotFound(_)) | Err(Error::Invalid(_)) => {}
                other => panic!("free of a made-up block {bogus:?}: {other:?}"),
            }
        }
        assert!(matches!(
            f.shm_free(ShmHandle {
                pool: PoolId(77),
                offset: 0,
                len: 1
            }),
            Err(Error::NotFound(_))
        ));
        access(f.call_destroy(call), "destroy another's call");
        assert!(matches!(
            f.call_destroy(CallId(9999)),
            Err(Error::NotFound(_))
        ));
        access(
            f.call_set_quota(call, FusioneeId(0), 0),
            "set quota on another's call",
        );
        assert!(matches!(f.ref_down(r, false), Err(Error::Invalid(_))));
        assert!(matches!(f.ref_down(r, true), Err(Error::Invalid(_))));
        access(f.ref_unlock(r), "unlock a ref it did not lock");
        access(f.ref_destroy(r), "destroy another's ref");
        access(
            f.skirmish_destroy(SkirmishId(idx)),
            "destroy another's lock",
        );
        assert!(matches!(
            f.skirmish_destroy(SkirmishId(4000)),
            Err(Error::NotFound(_))
        ));
        access(f.property_cede(prop), "cede what it does not hold");
        access(f.property_destroy(prop), "destroy another's property");
        access(f.reactor_destroy(reactor), "destroy another's reactor");
        // None of that was a protocol violation.
        f.ping().unwrap();

        // The owner still has everything.
        assert_eq!(&o.shm_read(block).unwrap()[..4], b"mine");
        assert_eq!(f.call_lookup("owned").unwrap(), call);
        assert_eq!(o.ref_stat(r).unwrap(), 1);
        assert_eq!(
            lock.prevail_timeout(Duration::from_secs(5)).unwrap(),
            fusion::skirmish::Prevailed::Clean
        );
        lock.dismiss().unwrap();
        o.property_cede(prop).unwrap();
        o.ref_down(r, false).unwrap();
        o.shm_free(block).unwrap();
        o.call_destroy(call).unwrap();
        o.skirmish_destroy(SkirmishId(idx)).unwrap();
        o.reactor_destroy(reactor).unwrap();
        (o, f)
    });
    assert_eq!(
        m.pool(LOCK_POOL).unwrap().owner_of(master_block),
        Ok(wire::MASTER_ID)
    );
    assert_eq!(m.fusionees(), vec![owner.id(), forger.id()]);
}

// ---- quotas -------------------------------------------------------------------------------

#[test]
fn call_floods_hit_the_quota_and_other_callers_are_unaffected() {
    let w = world("quota");
    let mut m = Master::create(w.clone()).unwrap();
    let held: Rc<RefCell<Vec<(FusioneeId, CallSerial)>>> = Rc::default();
    let (h1, h2) = (held.clone(), held.clone());
    let hold = m.call_create("hold", move |_, c| {
        h1.borrow_mut().push((c.caller, c.serial));
        CallOutcome::Later
    });
    let hold8 = m.call_create("hold8", move |_, c| {
        h2.borrow_mut().push((c.caller, c.serial));
        CallOutcome::Later
    });
    m.call_set_quota(hold8, FusioneeId(0), 8).unwrap();
    let default = fusion::master::DEFAULT_CALL_QUOTA;

    let w2 = w.clone();
    let flooder = std::thread::spawn(move || {
        let raw = Raw::enter(&w2);
        let n = default + 44;
        for serial in 1..=n {
            raw.request(
                serial,
                Request::CallExecute {
                    call: hold,
                    arg: 0,
                    payload: vec![],
                },
            );
        }
        let mut refused = Vec::new();
        while refused.len() < 44 {
            match raw.reply() {
                (s, Err(Error::Quota(_))) => refused.push(s),
                other => panic!("expected a quota error, got {other:?}"),
            }
        }
        assert_eq!(refused, (default + 1..=n).collect::<Vec<_>>());
        for serial in 1001..=1020 {
            raw.request(
                serial,
                Request::CallExecute {
                    call: hold8,
                    arg: 0,
                    payload: vec![],
                },
            );
        }
        let mut refused = Vec::new();
        while refused.len() < 12 {
            match raw.reply() {
                (s, Err(Error::Quota(_))) => refused.push(s),
                other => panic!("expected a quota error, got {other:?}"),
            }
        }
        assert_eq!(refused, (1009..=1020).collect::<Vec<_>>());
        raw
    });
    let raw = finish(&mut m, flooder);
    let snap = m.snapshot();
    let calls = |name: &str| snap.calls.iter().find(|c| c.name == name).unwrap().pending;
    assert_eq!(calls("hold"), default);
    assert_eq!(calls("hold8"), 8);
    let flooder_info = snap.fusionees.iter().find(|f| f.id == raw.id).unwrap();
    assert_eq!(flooder_info.calls_pending, default + 8);

    // Another caller is not affected by the flooder's quota.
    let w2 = w.clone();
    let other = std::thread::spawn(move || {
        let mut s = Slave::enter(w2).unwrap();
        let a = s.call_execute(hold, 0, b"").unwrap();
        let b = s.call_execute(hold8, 0, b"").unwrap();
        (a, b)
    });
    let mut answered = 0;
    pump(&mut m, "the other caller is answered", |m| {
        let mine: Vec<CallSerial> = held
            .borrow()
            .iter()
            .filter(|(c, _)| *c != raw.id)
            .map(|&(_, s)| s)
            .collect();
        for s in mine.iter().skip(answered) {
            m.call_return(*s, Ok(b"yours".to_vec()), vec![]).unwrap();
            answered += 1;
        }
        other.is_finished()
    });
    assert_eq!(
        other.join().unwrap(),
        (b"yours".to_vec(), b"yours".to_vec())
    );

    // The flooder's calls are answered when the master gets to them...
    let first = held.borrow()[0];
    assert_eq!(first.0, raw.id);
    m.call_return(first.1, Ok(b"late".to_vec()), vec![])
        .unwrap();
    let h = std::thread::spawn(move || {
        let r = raw.reply();
        (raw, r)
    });
    let (raw, r) = finish(&mut m, h);
    assert_eq!(r, (1, Ok(Response::Bytes(b"late".to_vec()))));
    // ...and forgotten when it leaves: answering them later is harmless.
    let id = raw.id;
    drop(raw);
    pump(&mut m, "the flooder is gone", |m| {
        !m.fusionees().contains(&id) && !m.departed().contains(&id)
    });
    let rest: Vec<CallSerial> = held
        .borrow()
        .iter()
        .filter(|(c, _)| *c == id)
        .map(|&(_, s)| s)
        .skip(1)
        .collect();
    for s in rest {
        m.call_return(s, Ok(vec![]), vec![]).unwrap();
    }
    assert!(m.snapshot().calls.iter().all(|c| c.pending == 0));
}

// ---- handshakes ---------------------------------------------------------------------------

#[test]
fn silent_connections_time_out_and_a_flood_does_not_stop_the_master() {
    let w = world("silent");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let flood = std::thread::spawn(move || {
        let silent: Vec<OwnedFd> = (0..150).map(|_| Raw::connect(&w2)).collect();
        // Meanwhile, others are served.
        let mut s = Slave::enter(w2.clone()).unwrap();
        s.ping().unwrap();
        // Garbage or a wrong version as the first packet: refused at once.
        let bad = Raw::connect(&w2);
        sys::send_msg(bad.as_fd(), &[WIRE_VERSION, 0xff, 0xff], &[]).unwrap();
        let wrong = Raw::connect(&w2);
        let old = Message::Hello {
            api_major: wire::API_MAJOR + 1,
            api_minor: 0,
            abi: 0,
            name: "future".into(),
        };
        sys::send_msg(wrong.as_fd(), &wire::encode(&old).unwrap(), &[]).unwrap();
        for (sock, what) in [(&bad, "garbage"), (&wrong, "API major")] {
            match recv_on(sock, WAIT) {
                Got::Msg(Message::Refused(_)) => {}
                other => panic!("{what}: expected a refusal, got {other:?}"),
            }
            assert!(matches!(recv_on(sock, WAIT), Got::Closed));
        }
        // The silent ones are dropped after the handshake timeout.
        for sock in &silent {
            match recv_on(sock, WAIT) {
                Got::Closed => {}
                other => panic!("a silent connection got {other:?}"),
            }
        }
        s.ping().unwrap();
        s
    });
    let s = finish(&mut m, flood);
    assert_eq!(m.fusionees(), vec![s.id()]);
}

// ---- credentials --------------------------------------------------------------------------

/// Makes a world's directories and socket reachable by everybody.
fn open_up(w: &WorldConfig, dir_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(&w.base_dir(), 0o711);
    set(&w.dir(), dir_mode);
    if dir_mode == 0o777 {
        set(&w.socket_path(), 0o777);
    }
}

/// Runs a child `enter` as `uid`/`gid`, expecting `expect`; the master serves meanwhile.
/// `Err` says why a child under another uid cannot run here.
fn enter_as(
    m: &mut Master,
    w: &WorldConfig,
    uid: u32,
    gid: u32,
    expect: &str,
) -> Result<(), String> {
    let mut p = spawn_as(
        "enter",
        w,
        &[("FUSION_TEST_EXPECT", expect.to_string())],
        uid,
        gid,
    )?;
    let mut status = None;
    pump(m, "the child enters", |_| {
        status = p.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(
        status.unwrap().success(),
        "child as uid {uid} gid {gid} did not see {expect} (see its stderr)"
    );
    Ok(())
}

#[test]
fn credentials_policy_refuses_strangers_and_admits_the_group() {
    const TEST: &str = "credentials_policy_refuses_strangers_and_admits_the_group";
    if !rustix::process::getuid().is_root() {
        note(&format!(
            "SKIPPED: {TEST}: needs root to run a child under another uid"
        ));
        return;
    }
    let nobody = 65534;
    // Same-uid policy: the directory and socket are open to all, the master still refuses.
    let w = world("creds");
    let mut m = Master::create(w.clone()).unwrap();
    open_up(&w, 0o777);
    if let Err(why) = enter_as(&mut m, &w, nobody, nobody, &format!("refused:uid {nobody}")) {
        note(&format!("SKIPPED: {TEST}: {why}"));
        return;
    }
    assert!(m.fusionees().is_empty());

    // A group world admits its members (the library sets the directory and socket up).
    let group = 46_123;
    let w = world("creds-group").group(group);
    let mut m = Master::create(w.clone()).unwrap();
    open_up(&w, 0o770);
    enter_as(&mut m, &w, nobody, group, "admitted").unwrap();
    // And refuses non-members.
    open_up(&w, 0o777);
    enter_as(&mut m, &w, nobody, nobody, &format!("refused:uid {nobody}")).unwrap();
}

#[test]
fn late_answers_to_callers_that_left_are_not_violations() {
    let w = world("orphans");
    let mut m = Master::create(w.clone()).unwrap();
    let serials = Arc::new(Mutex::new(Vec::new()));
    let go = Arc::new(AtomicBool::new(false));
    let (wc, sc, gc) = (w.clone(), serials.clone(), go.clone());
    // A callee that answers only once its callers are gone: more late answers than the
    // strike limit.
    let callee = std::thread::spawn(move || {
        let mut s = Slave::enter(wc).unwrap();
        let s2 = sc.clone();
        s.call_create("slow", move |c| {
            s2.lock().unwrap().push(c.serial);
            CallOutcome::Later
        })
        .unwrap();
        while !gc.load(Ordering::SeqCst) {
            s.dispatch(Some(Duration::from_millis(10))).unwrap();
        }
        let all = sc.lock().unwrap().clone();
        for serial in all {
            s.call_return(serial, Ok(b"too late".to_vec()), &[])
                .unwrap();
        }
        s.ping().unwrap();
        s
    });
    pump(&mut m, "the callee's call exists", |m| {
        m.snapshot().calls.iter().any(|c| c.name == "slow")
    });
    let call = m
        .snapshot()
        .calls
        .iter()
        .find(|c| c.name == "slow")
        .unwrap()
        .id;
    let n = 12;
    let w2 = w.clone();
    let callers = std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let raw = Raw::enter(&w2);
                raw.request(
                    1,
                    Request::CallExecute {
                        call,
                        arg: 0,
                        payload: vec![],
                    },
                );
                raw
            })
            .collect::<Vec<_>>()
    });
    let callers = finish(&mut m, callers);
    pump(&mut m, "every call reached the callee", |_| {
        serials.lock().unwrap().len() == n
    });
    let ids: Vec<FusioneeId> = callers.iter().map(|r| r.id).collect();
    drop(callers);
    pump(&mut m, "the callers are gone", |m| {
        ids.iter().all(|id| !m.fusionees().contains(id))
    });
    go.store(true, Ordering::SeqCst);
    let s = finish(&mut m, callee);
    assert_eq!(m.fusionees(), vec![s.id()]);
}

#[test]
fn a_snapshot_larger_than_a_packet_comes_in_a_memfd_and_an_older_slave_is_told_why_not() {
    let w = world("big-snapshot");
    let mut m = Master::create(w.clone()).unwrap();
    let w2 = w.clone();
    let (snap, old) = with_master(&mut m, move || {
        let mut s = Slave::enter(w2.clone()).unwrap();
        // Enough properties, with long names, for the snapshot's JSON to outgrow a packet.
        for i in 0..1000 {
            s.property_create(&format!("a property with a long name, number {i:05}"))
                .unwrap();
        }
        let snap = s.snapshot().unwrap();
        // A slave of API minor 1 cannot take a memfd: an error reply, not silence.
        let raw = Raw::enter_with(
            &w2,
            &Message::Hello {
                api_major: wire::API_MAJOR,
                api_minor: 1,
                abi: 0,
                name: "minor 1".into(),
            },
        );
        raw.request(7, Request::Snapshot);
        let old = raw.reply();
        raw.ping(8);
        (snap, old)
    });
    assert_eq!(snap.properties.len(), 1000);
    assert!(snap
        .properties
        .iter()
        .any(|p| p.name == "a property with a long name, number 00999"));
    let json = serde_json::to_string(&snap).unwrap();
    assert!(json.len() > wire::MAX_MESSAGE, "{} bytes", json.len());
    match old {
        (7, Err(Error::Invalid(why))) => assert!(why.contains("larger than a packet"), "{why}"),
        other => panic!("expected an error reply to serial 7, got {other:?}"),
    }
}

#[test]
fn a_call_answer_larger_than_a_packet_comes_in_a_memfd_and_an_older_slave_is_told_why_not() {
    let w = world("big-answer");
    let mut m = Master::create(w.clone()).unwrap();
    // 200 KiB of a pattern, and a descriptor beside it: both must arrive, in their places.
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    let answer = big.clone();
    let call = m.call_create("big", move |_, _| {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        fusion::CallOutcome::Return(answer.clone(), vec![r])
    });
    let w2 = w.clone();
    let ((got, fds), old) = with_master(&mut m, move || {
        let mut s = Slave::enter(w2.clone()).unwrap();
        let got = s.call_execute_fds(call, 0, b"", &[]).unwrap();
        // A slave of API minor 2 cannot take a memfd: an error reply, not silence.
        let raw = Raw::enter_with(
            &w2,
            &Message::Hello {
                api_major: wire::API_MAJOR,
                api_minor: 2,
                abi: 0,
                name: "minor 2".into(),
            },
        );
        raw.request(
            7,
            Request::CallExecute {
                call,
                arg: 0,
                payload: Vec::new(),
            },
        );
        let old = raw.reply();
        raw.ping(8);
        (got, old)
    });
    assert!(
        got == big,
        "{} bytes came back, not the 200 KiB answered",
        got.len()
    );
    assert_eq!(fds.len(), 1, "the answer's own descriptor");
    let fd_kind = rustix::fs::fstat(&fds[0]).unwrap().st_mode & 0o170000;
    assert_eq!(fd_kind, 0o010000, "the answer's pipe, not the memfd");
    match old {
        (7, Err(Error::Invalid(why))) => assert!(why.contains("larger than a packet"), "{why}"),
        other => panic!("expected an error reply to serial 7, got {other:?}"),
    }
}
