//! Calls a slave owns (its handlers run here) and calls it makes: synchronous through the call slot, with file descriptors, typed, one-way and batched.

use super::*;

impl Slave {
    /// Creates a call this slave owns; `handler` runs in this process.
    pub fn call_create(
        &mut self,
        name: &str,
        handler: impl FnMut(CallIn) -> CallOutcome + Send + 'static,
    ) -> Result<CallId> {
        let id = self.id_of(Request::CallCreate { name: name.into() }, CallId)?;
        self.handlers.insert(id, Box::new(handler));
        Ok(id)
    }

    /// Destroys a call this slave owns.
    pub fn call_destroy(&mut self, call: CallId) -> Result<()> {
        self.unit(Request::CallDestroy(call))?;
        self.handlers.remove(&call);
        Ok(())
    }

    /// Finds a call by name.
    pub fn call_lookup(&mut self, name: &str) -> Result<CallId> {
        self.id_of(Request::CallLookup(name.into()), CallId)
    }

    /// Executes a call and waits for its answer.
    ///
    /// Payloads and answers of at most [`crate::slot::SLOT_PAYLOAD`] bytes travel through
    /// the call slot in shared memory (the fast path); larger ones over the socket.
    /// Descriptors an answer carries are dropped: use [`Slave::call_execute_fds`] for those.
    pub fn call_execute(&mut self, call: CallId, arg: i32, payload: &[u8]) -> Result<Vec<u8>> {
        if payload.len() > slot::SLOT_PAYLOAD {
            return self
                .call_execute_fds(call, arg, payload, &[])
                .map(|(b, _)| b);
        }
        self.flush()?;
        if self.gone {
            return Err(Error::MasterGone);
        }
        self.serial = self.serial.wrapping_add(1).max(1);
        let socket_first = std::mem::take(&mut self.sent_on_socket);
        let traced = self.trace_calls;
        if traced {
            slot::stamp(&self.control, slot::Stage::Start);
        }
        slot::post(&self.control, self.serial, call, arg, payload, socket_first)?;
        if traced {
            slot::stamp(&self.control, slot::Stage::Posted);
        }
        // A master watching the slot sees the request without the doorbell.
        let rung = !slot::master_listens(&self.control);
        if rung {
            sys::eventfd_signal(self.doorbell.as_fd());
        }
        if traced {
            slot::stamp(&self.control, slot::Stage::Rung);
        }
        self.wait_for_answer(rung)?;
        if traced {
            slot::stamp(&self.control, slot::Stage::Received);
        }
        slot::take_answer(&self.control)
    }

    /// Waits for the call slot's answer: without sleeping while that is likely to pay (a
    /// quick answer then costs no wake-up at all), else asleep on the wake-up eventfd.
    ///
    /// The spin adapts to the master: it spins, then yields the CPU (the master may need
    /// this very core), for [`SPIN`] while the master has not taken the request yet — long
    /// enough for a master woken by the doorbell to take it — and on while it works on it,
    /// up to [`SPIN_TAKEN`]; a master that took longer than that [`SLEEPS`] times in a row
    /// (descheduled, or busy with slow calls) is waited for asleep after [`SPIN_HOT`], until
    /// an answer comes while spinning again (every [`PROBE_EVERY`]th call spins in full).
    ///
    /// A request posted without the doorbell (`rung` false: the master was listening) that
    /// the master has still not taken when the slave is about to sleep gets the doorbell
    /// then: the slave never sleeps on a request nobody may be looking at.
    fn wait_for_answer(&mut self, rung: bool) -> Result<()> {
        let start = Instant::now();
        let mut spins = 0u32;
        // Now and then the full spin again, to notice a master that answers quickly again.
        let hot_only = self.slept_in_a_row >= SLEEPS && self.serial % PROBE_EVERY != 0;
        while !slot::answered(&self.control) {
            spins = spins.wrapping_add(1);
            if spins % 32 == 0 {
                let waited = start.elapsed();
                let limit = if hot_only {
                    SPIN_HOT
                } else if slot::taken(&self.control) {
                    SPIN_TAKEN
                } else {
                    SPIN
                };
                if waited >= limit {
                    self.slept_in_a_row = self.slept_in_a_row.saturating_add(1);
                    if !rung && slot::pending(&self.control) {
                        sys::eventfd_signal(self.doorbell.as_fd());
                    }
                    return self.sleep_for_answer();
                }
                if waited >= SPIN_HOT {
                    std::thread::yield_now();
                    continue;
                }
            }
            std::hint::spin_loop();
        }
        self.slept_in_a_row = 0;
        Ok(())
    }

    /// Times the stages of this slave's synchronous calls through the call slot (for
    /// `fusion-bench --explain`); [`Slave::call_trace`] reads the last call's.
    pub fn set_call_tracing(&mut self, on: bool) {
        self.trace_calls = on;
        slot::set_tracing(&self.control, on);
    }

    /// The last traced call's stage times (`CLOCK_MONOTONIC` ns, in [`slot::Stage`]
    /// order; 0 for a stage not reached).
    pub fn call_trace(&self) -> [u64; 8] {
        slot::trace(&self.control)
    }

    /// Sleeps until the call slot is answered, serving calls to our own handlers and
    /// noticing the master's death meanwhile.
    pub(super) fn sleep_for_answer(&mut self) -> Result<()> {
        loop {
            if slot::prepare_sleep(&self.control) {
                let _ = sys::poll_readable(&[self.wake.as_fd(), self.sock.as_fd()], None);
                sys::eventfd_drain(self.wake.as_fd());
            }
            if slot::answered(&self.control) {
                return Ok(());
            }
            self.read_socket();
            if self.gone {
                return Err(Error::MasterGone);
            }
        }
    }

    /// Executes a call with descriptors; returns the answer and the descriptors it carried.
    pub fn call_execute_fds(
        &mut self,
        call: CallId,
        arg: i32,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        let (resp, fds) = self.request_fds(
            Request::CallExecute {
                call,
                arg,
                payload: payload.to_vec(),
            },
            fds,
        )?;
        match resp {
            Response::Bytes(b) => Ok((b, fds)),
            other => Err(unexpected(other)),
        }
    }

    /// Executes a call with a typed argument and a typed answer.
    pub fn call_typed<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &mut self,
        call: CallId,
        arg: i32,
        value: &A,
    ) -> Result<R> {
        crate::call::decode(&self.call_execute(call, arg, &crate::call::encode(value)?)?)
    }

    /// Executes a call one-way, now (queued calls go first).
    pub fn call_oneway(&mut self, call: CallId, arg: i32, payload: &[u8]) -> Result<()> {
        self.call_queue(call, arg, payload)?;
        self.flush()
    }

    /// Queues a one-way call; queued calls go out together when the batch fills, before any
    /// synchronous request, or on [`Slave::flush`].
    pub fn call_queue(&mut self, call: CallId, arg: i32, payload: &[u8]) -> Result<()> {
        if self.gone {
            return Err(Error::MasterGone);
        }
        if payload.len() > wire::MAX_PAYLOAD {
            return Err(Error::Invalid("payload too large".into()));
        }
        if self.batch_bytes + payload.len() + 32 > BATCH_BYTES {
            self.flush()?;
        }
        self.batch_bytes += payload.len() + 32;
        self.batch.push(Request::CallExecute {
            call,
            arg,
            payload: payload.to_vec(),
        });
        if self.batch.len() >= BATCH_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// Answers a call our handler deferred with [`CallOutcome::Later`].
    pub fn call_return(
        &mut self,
        serial: CallSerial,
        result: Result<Vec<u8>>,
        fds: &[BorrowedFd<'_>],
    ) -> Result<()> {
        self.send(&Message::CallReturn { serial, result }, fds)
    }

    /// Limits how many calls `caller` (0: everyone) may have pending on our `call`.
    pub fn call_set_quota(&mut self, call: CallId, caller: FusioneeId, limit: u32) -> Result<()> {
        self.unit(Request::CallSetQuota {
            call,
            caller,
            limit,
        })
    }
}
