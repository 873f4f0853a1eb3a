//! Refs: local and global counts, zero locks, watches and inheritance.

use super::*;

impl Slave {
    /// Creates a ref.
    pub fn ref_create(&mut self, name: &str) -> Result<RefId> {
        self.id_of(Request::RefCreate(name.into()), RefId)
    }

    /// Increases a ref; a local count is dropped by the master if we die.
    pub fn ref_up(&mut self, r: RefId, global: bool) -> Result<()> {
        self.unit(Request::RefUp { r, global })
    }

    /// Decreases a ref.
    pub fn ref_down(&mut self, r: RefId, global: bool) -> Result<()> {
        self.unit(Request::RefDown { r, global })
    }

    /// A ref's total count.
    pub fn ref_stat(&mut self, r: RefId) -> Result<i64> {
        match self.request(Request::RefStat(r))? {
            Response::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Locks a ref whose count is zero (`Busy` otherwise).
    pub fn ref_zero_trylock(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefZeroTrylock(r))
    }

    /// Waits until a ref's count is zero, then locks it.
    pub fn ref_zero_lock(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefZeroLock(r))
    }

    /// Unlocks a zero-locked ref.
    pub fn ref_unlock(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefUnlock(r))
    }

    /// Executes `call` with `arg` in its owner when the ref's count reaches zero.
    pub fn ref_watch(&mut self, r: RefId, call: CallId, arg: i32) -> Result<()> {
        self.unit(Request::RefWatch { r, call, arg })
    }

    /// Counts `from`'s references in `r` too.
    pub fn ref_inherit(&mut self, r: RefId, from: RefId) -> Result<()> {
        self.unit(Request::RefInherit { r, from })
    }

    /// Destroys a ref we created.
    pub fn ref_destroy(&mut self, r: RefId) -> Result<()> {
        self.unit(Request::RefDestroy(r))
    }
}
