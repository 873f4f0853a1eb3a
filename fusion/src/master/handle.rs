//! What the master does with each request a slave sends. Every request is validated here:
//! ids must exist, callers must own what they change, sizes must be sane.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use tracing::warn;

use super::property::{Got, Want};
use super::{refs, Master, LOCK_POOL};
use crate::wire::{FusioneeId, Message, Request, Response, MASTER_ID};
use crate::{Error, Result};

/// Refs one slave may create.
pub const MAX_REFS_PER_SLAVE: usize = 4096;
/// Properties one slave may create.
pub const MAX_PROPERTIES_PER_SLAVE: usize = 1024;
/// Locks one slave may create in the world's lock table (of [`super::LOCK_SLOTS`]).
pub const MAX_LOCKS_PER_SLAVE: usize = 256;

/// What handling a request produced.
pub(crate) enum Outcome {
    /// Reply now.
    Now(Result<Response>, Vec<OwnedFd>),
    /// The reply comes later (a queued wait or a forwarded call).
    Later,
}

impl From<Result<Response>> for Outcome {
    fn from(r: Result<Response>) -> Self {
        Outcome::Now(r, Vec::new())
    }
}

impl Master {
    pub(super) fn handle_message(&mut self, id: FusioneeId, msg: Message, fds: Vec<OwnedFd>) {
        match msg {
            Message::Request { serial, req } => {
                if serial == 0 {
                    return self.strike(id, Error::Malformed("serial 0 is reserved".into()));
                }
                match self.handle_request(id, serial, req, fds) {
                    Outcome::Now(result, fds) => {
                        let msg = Message::Reply { serial, result };
                        let b: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
                        self.send(id, &msg, &b);
                    }
                    Outcome::Later => {}
                }
            }
            Message::OneWay(reqs) => {
                let mut fds = Some(fds);
                for req in reqs {
                    if let Outcome::Now(Err(e), _) =
                        self.handle_request(id, 0, req, fds.take().unwrap_or_default())
                    {
                        warn!(fusionee = %id, "one-way request failed: {e}");
                    }
                }
            }
            Message::CallReturn { serial, result } => match self.pending.get(&serial) {
                Some(p) if p.callee == id => self.finish_pending(serial, result, fds),
                // Its caller left (or the call was destroyed) before the answer came.
                _ if self.orphans.get(&serial) == Some(&id) => {
                    self.orphans.remove(&serial);
                    tracing::debug!(fusionee = %id, %serial, "late answer to an abandoned call");
                }
                _ => self.strike(
                    id,
                    Error::Malformed(format!("answer to call {serial}, which it was not asked")),
                ),
            },
            other => self.strike(
                id,
                Error::Malformed(format!("unexpected packet from a slave: {}", kind(&other))),
            ),
        }
    }

    /// Handles one request; `serial` 0 means one-way (no reply will be sent).
    pub(crate) fn handle_request(
        &mut self,
        id: FusioneeId,
        serial: u32,
        req: Request,
        fds: Vec<OwnedFd>,
    ) -> Outcome {
        let unit = |r: Result<()>| -> Outcome { r.map(|()| Response::Unit).into() };
        match req {
            Request::Ping => Ok(Response::Unit).into(),
            // Too large for a packet, it goes in a memfd (`Master::send`).
            Request::Snapshot => serde_json::to_string(&self.snapshot())
                .map(Response::Json)
                .map_err(|e| Error::Invalid(e.to_string()))
                .into(),
            Request::GetRoot => Ok(Response::Bytes(self.root().to_vec())).into(),

            Request::CallCreate { name } => {
                if self.calls.values().filter(|c| c.owner == id).count() >= 4096 {
                    return Err(Error::Quota("calls".into())).into();
                }
                Ok(Response::Id(self.new_call(&name, id).0)).into()
            }
            Request::CallDestroy(call) => match self.calls.get(&call) {
                Some(c) if c.owner == id => unit(self.call_destroy(call)),
                Some(_) => Err(Error::Access(format!("call {call} is not yours"))).into(),
                None => Err(Error::NotFound(format!("call {call}"))).into(),
            },
            Request::CallLookup(name) => self
                .calls
                .iter()
                .find(|(_, c)| c.name == name)
                .map(|(&k, _)| Response::Id(k.0))
                .ok_or_else(|| Error::NotFound(format!("call {name:?}")))
                .into(),
            Request::CallExecute { call, arg, payload } => {
                match self.execute(id, serial, call, arg, payload, fds, serial == 0) {
                    Ok(Some((bytes, fds))) => Outcome::Now(Ok(Response::Bytes(bytes)), fds),
                    Ok(None) => Outcome::Later,
                    Err(e) => Err(e).into(),
                }
            }
            Request::CallSetQuota {
                call,
                caller,
                limit,
            } => match self.calls.get(&call) {
                Some(c) if c.owner == id => unit(self.call_set_quota(call, caller, limit)),
                Some(_) => Err(Error::Access(format!("call {call} is not yours"))).into(),
                None => Err(Error::NotFound(format!("call {call}"))).into(),
            },

            Request::ReactorCreate {
                name,
                msg_size,
                capacity,
                lossless,
            } => self
                .reactor_create_for(id, &name, msg_size as usize, capacity as usize, lossless)
                .map(|r| Response::Id(r.0))
                .into(),
            Request::ReactorDestroy(r) => unit(self.reactor_destroy_by(id, r)),
            Request::ReactorAttach { reactor, channel } => {
                match self.reactor_attach_slave(id, reactor, channel) {
                    Ok((a, bell)) => Outcome::Now(Ok(Response::Attached(a)), vec![bell]),
                    Err(e) => Err(e).into(),
                }
            }
            Request::ReactorDetach { reactor, channel } => {
                unit(self.reactor_detach_slave(id, reactor, channel))
            }
            Request::ReactorDispatch {
                reactor,
                channel,
                to_self,
                payload,
            } => match self.reactor_dispatch_from(id, reactor, channel, payload, to_self, serial) {
                Ok(true) => Ok(Response::Unit).into(),
                Ok(false) => Outcome::Later,
                Err(e) => Err(e).into(),
            },
            Request::ReactorSetDispatchCallback { reactor, call } => {
                unit(self.reactor_set_dispatch_callback_by(id, reactor, call))
            }

            Request::RefCreate(name) => {
                let mine = self.refs.refs.values().filter(|r| r.creator == id).count();
                if mine >= MAX_REFS_PER_SLAVE {
                    return Err(Error::Quota(format!("{mine} refs"))).into();
                }
                Ok(Response::Id(self.refs.create(&name, id).0)).into()
            }
            Request::RefUp { r, global } => unit(self.refs.up(r, id, global)),
            Request::RefDown { r, global } => match self.refs.down(r, id, global) {
                Ok(f) => {
                    self.carry_out(f);
                    Ok(Response::Unit).into()
                }
                Err(e) => Err(e).into(),
            },
            Request::RefStat(r) => match self.refs.refs.contains_key(&r) {
                true => Ok(Response::Count(self.refs.total(r))).into(),
                false => Err(Error::NotFound(format!("ref {r}"))).into(),
            },
            Request::RefZeroTrylock(r) => unit(self.refs.zero_trylock(r, id)),
            Request::RefZeroLock(r) => match self.refs.zero_lock(r, id, serial) {
                Ok(true) => Ok(Response::Unit).into(),
                Ok(false) => Outcome::Later,
                Err(e) => Err(e).into(),
            },
            Request::RefUnlock(r) => match self.refs.unlock(r, id) {
                Ok(f) => {
                    self.carry_out(f);
                    Ok(Response::Unit).into()
                }
                Err(e) => Err(e).into(),
            },
            Request::RefWatch { r, call, arg } => {
                if !self.calls.contains_key(&call) {
                    return Err(Error::NotFound(format!("call {call}"))).into();
                }
                unit(self.refs.watch(r, id, refs::Watch::Call(call, arg)))
            }
            Request::RefInherit { r, from } => unit(self.refs.inherit(r, from)),
            Request::RefDestroy(r) => match self.refs.destroy(r, id, false) {
                Ok(waiters) => {
                    for (w, s) in waiters {
                        self.reply(w, s, Err(Error::Destroyed));
                    }
                    Ok(Response::Unit).into()
                }
                Err(e) => Err(e).into(),
            },

            Request::PropertyCreate(name) => {
                let mine = self
                    .properties
                    .props
                    .values()
                    .filter(|p| p.creator == id)
                    .count();
                if mine >= MAX_PROPERTIES_PER_SLAVE {
                    return Err(Error::Quota(format!("{mine} properties"))).into();
                }
                Ok(Response::Id(self.properties.create(&name, id).0)).into()
            }
            Request::PropertyLease(p) | Request::PropertyPurchase(p) => {
                let want = if matches!(req, Request::PropertyLease(_)) {
                    Want::Lease
                } else {
                    Want::Purchase
                };
                match self.properties.acquire(p, id, serial, want, Instant::now()) {
                    Ok(Got::Now) => Ok(Response::Unit).into(),
                    Ok(Got::Queued) => Outcome::Later,
                    Err(e) => Err(e).into(),
                }
            }
            Request::PropertyCede(p) => match self.properties.cede(p, id, Instant::now()) {
                Ok(answers) => {
                    self.answer(answers);
                    Ok(Response::Unit).into()
                }
                Err(e) => Err(e).into(),
            },
            Request::PropertyHoldup(_) => Err(Error::Access(
                "only the master may hold a property up".into(),
            ))
            .into(),
            Request::PropertyDestroy(p) => match self.properties.destroy(p, id, false) {
                Ok(answers) => {
                    self.answer(answers);
                    Ok(Response::Unit).into()
                }
                Err(e) => Err(e).into(),
            },

            Request::ArenaEnter(name) => match self.arenas.enter(&name, id, serial) {
                Ok(Some(first)) => Ok(Response::Bool(first)).into(),
                Ok(None) => Outcome::Later,
                Err(e) => Err(e).into(),
            },
            Request::ArenaReady(name) => match self.arenas.ready(&name, id) {
                Ok(joined) => {
                    for (w, s, first) in joined {
                        self.reply(w, s, Ok(Response::Bool(first)));
                    }
                    Ok(Response::Unit).into()
                }
                Err(e) => Err(e).into(),
            },
            Request::ArenaSetField {
                arena,
                field,
                value,
            } => unit(self.arenas.set_field(&arena, id, &field, value)),
            Request::ArenaGetField { arena, field } => self
                .arenas
                .get_field(&arena, &field)
                .map(Response::Bytes)
                .into(),
            Request::ArenaExit(name) => match self.arenas.exit(&name, id) {
                Ok((last, joined)) => {
                    for (w, s, first) in joined {
                        self.reply(w, s, Ok(Response::Bool(first)));
                    }
                    Ok(Response::Bool(last)).into()
                }
                Err(e) => Err(e).into(),
            },

            Request::ShmAlloc { pool, size, zeroed } => {
                let Some(p) = self.pools.get_mut(&pool) else {
                    return Err(Error::NotFound(format!("pool {pool}"))).into();
                };
                // Read-only pools hold master state: a slave could not write a block there,
                // only use the master's memory up.
                if p.access() != crate::pool::PoolAccess::Writable {
                    return Err(Error::Access(format!("pool {pool} is read-only"))).into();
                }
                let size = size as usize;
                let r = if zeroed {
                    p.calloc(id, size)
                } else {
                    p.alloc(id, size)
                };
                r.map(Response::Block).into()
            }
            Request::ShmRealloc { block, size } => match self.pools.get_mut(&block.pool) {
                Some(p) if p.access() != crate::pool::PoolAccess::Writable => {
                    Err(Error::Access(format!("pool {} is read-only", block.pool))).into()
                }
                Some(p) => p
                    .realloc(id, block, size as usize)
                    .map(Response::Block)
                    .into(),
                None => Err(Error::NotFound(format!("pool {}", block.pool))).into(),
            },
            Request::ShmFree(block) => match self.pools.get_mut(&block.pool) {
                Some(p) => unit(p.free(id, block)),
                None => Err(Error::NotFound(format!("pool {}", block.pool))).into(),
            },
            Request::PoolOpen(pool) => match self.pools.get(&pool) {
                Some(p) => {
                    let fd = match p.fd().try_clone_to_owned() {
                        Ok(fd) => fd,
                        Err(e) => return Err(Error::from(e)).into(),
                    };
                    Outcome::Now(
                        Ok(Response::Pool(crate::wire::PoolInfo {
                            id: p.id(),
                            name: p.name().to_string(),
                            writable: p.access() == crate::pool::PoolAccess::Writable,
                        })),
                        vec![fd],
                    )
                }
                None => Err(Error::NotFound(format!("pool {pool}"))).into(),
            },

            Request::SkirmishCreate(name) => {
                let mine = self.lock_names.values().filter(|l| l.1 == id).count();
                if mine >= MAX_LOCKS_PER_SLAVE {
                    return Err(Error::Quota(format!("{mine} locks"))).into();
                }
                self.lock_alloc(&name, id).map(|l| Response::Id(l.0)).into()
            }
            Request::SkirmishDestroy(idx) => match self.lock_names.get(&idx.0).cloned() {
                Some((_, creator)) if creator == id => {
                    let pool = self.pools.get(&LOCK_POOL).expect("lock pool");
                    let _ = crate::skirmish::destroy_slot(pool.map(), self.lock_table.offset, idx);
                    self.lock_names.remove(&idx.0);
                    Ok(Response::Unit).into()
                }
                Some(_) => Err(Error::Access(format!("lock {idx} is not yours"))).into(),
                None => Err(Error::NotFound(format!("lock {idx}"))).into(),
            },

            Request::ObjectGet(obj) => self.object_info_for(id, obj).map(Response::Object).into(),
            Request::ObjectList(class) => Ok(Response::Ids(
                self.object_list(&class).into_iter().map(|o| o.0).collect(),
            ))
            .into(),
        }
    }

    pub(crate) fn answer(&mut self, answers: super::property::Answers) {
        for (who, serial, result) in answers {
            if who != MASTER_ID {
                self.reply(who, serial, result.map(|()| Response::Unit));
            }
        }
    }
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Hello { .. } => "Hello",
        Message::Welcome(_) => "Welcome",
        Message::Refused(_) => "Refused",
        Message::Request { .. } => "Request",
        Message::Reply { .. } => "Reply",
        Message::OneWay(_) => "OneWay",
        Message::Event(_) => "Event",
        Message::CallReturn { .. } => "CallReturn",
    }
}
