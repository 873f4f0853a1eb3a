//! Reactors from the slave's side: creating them, attaching reactions (the broadcast ring read in this process), detaching, dispatching.

use super::*;

impl Slave {
    /// Creates a reactor.
    pub fn reactor_create(
        &mut self,
        name: &str,
        msg_size: u32,
        capacity: u32,
        lossless: bool,
    ) -> Result<ReactorId> {
        self.id_of(
            Request::ReactorCreate {
                name: name.into(),
                msg_size,
                capacity,
                lossless,
            },
            ReactorId,
        )
    }

    /// Destroys a reactor we created.
    pub fn reactor_destroy(&mut self, r: ReactorId) -> Result<()> {
        self.unit(Request::ReactorDestroy(r))
    }

    /// Attaches a reaction to a channel; it runs in [`Slave::dispatch`].
    /// Returns an id for [`Slave::detach`].
    pub fn attach(
        &mut self,
        r: ReactorId,
        channel: u32,
        reaction: impl FnMut(&Delivery<'_>) -> Reaction + Send + 'static,
    ) -> Result<ReactionId> {
        let (resp, mut fds) = self.request_fds(
            Request::ReactorAttach {
                reactor: r,
                channel,
            },
            &[],
        )?;
        let att = match resp {
            Response::Attached(a) => a,
            other => return Err(unexpected(other)),
        };
        if !self.attachments.contains_key(&r) {
            let ring = self.pool_map(att.pool)?;
            let block = CursorBlock::new(self.control.clone(), att.cursor_offset as usize)?;
            let reader = RingReader::resume(ring, att.ring_offset as usize, block)?;
            // The reactor's bell: rung once per dispatch for all sleeping subscribers.
            let bell = fds
                .pop()
                .ok_or_else(|| Error::Malformed("attachment without its bell".into()))?;
            self.poller.add_edge(bell.as_fd(), TOKEN_BELL)?;
            // Asleep until dispatched: the first message rings our fd, whoever polls it.
            if !reader.prepare_sleep(SleepMode::EventFd) {
                sys::eventfd_signal(self.wake.as_fd());
            }
            self.attachments.insert(
                r,
                Attachment {
                    reader,
                    reactions: Vec::new(),
                    bell,
                },
            );
        }
        self.next_reaction = self.next_reaction.next();
        let id = self.next_reaction;
        self.attachments
            .get_mut(&r)
            .expect("inserted")
            .reactions
            .push((id, channel, Box::new(reaction)));
        Ok(id)
    }

    /// Detaches a reaction.
    pub fn detach(&mut self, r: ReactorId, reaction: ReactionId) -> Result<()> {
        let a = self
            .attachments
            .get_mut(&r)
            .ok_or_else(|| Error::NotFound(format!("attachment to reactor {r}")))?;
        let i = a
            .reactions
            .iter()
            .position(|(id, _, _)| *id == reaction)
            .ok_or_else(|| Error::NotFound(format!("reaction {reaction}")))?;
        let (_, channel, _) = a.reactions.remove(i);
        if a.reactions.is_empty() {
            self.drop_attachment(r);
        }
        self.unit(Request::ReactorDetach {
            reactor: r,
            channel,
        })
    }

    /// Forgets a reactor we no longer listen to. Its bell leaves our epoll explicitly: the
    /// master keeps the eventfd open, so closing our copy alone would not unregister it.
    pub(super) fn drop_attachment(&mut self, r: ReactorId) {
        if let Some(a) = self.attachments.remove(&r) {
            self.poller.delete(a.bell.as_fd());
        }
    }

    /// Dispatches a message on a reactor's channel; with `to_self` our own reactions get it too.
    /// On a lossless reactor this waits until the message fits.
    pub fn dispatch_message(
        &mut self,
        r: ReactorId,
        channel: u32,
        payload: &[u8],
        to_self: bool,
    ) -> Result<()> {
        self.unit(Request::ReactorDispatch {
            reactor: r,
            channel,
            to_self,
            payload: payload.to_vec(),
        })
    }

    /// Has `call` executed (one-way, arg = channel) when everyone read a message.
    pub fn reactor_set_dispatch_callback(
        &mut self,
        r: ReactorId,
        call: Option<CallId>,
    ) -> Result<()> {
        self.unit(Request::ReactorSetDispatchCallback { reactor: r, call })
    }
}
