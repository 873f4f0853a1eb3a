//! Arenas: entering, the initializer's ready, shared fields, leaving.

use super::*;

impl Slave {
    /// Enters an arena; `Ok(true)` when we are first and must initialise it, then call
    /// [`Slave::arena_ready`]. Waits while someone else initialises it.
    pub fn arena_enter(&mut self, name: &str) -> Result<bool> {
        self.bool_of(Request::ArenaEnter(name.into()))
    }

    /// Marks an arena we initialised as ready.
    pub fn arena_ready(&mut self, name: &str) -> Result<()> {
        self.unit(Request::ArenaReady(name.into()))
    }

    /// Sets an arena's shared field.
    pub fn arena_set_field(&mut self, arena: &str, field: &str, value: &[u8]) -> Result<()> {
        self.unit(Request::ArenaSetField {
            arena: arena.into(),
            field: field.into(),
            value: value.to_vec(),
        })
    }

    /// Reads an arena's shared field.
    pub fn arena_get_field(&mut self, arena: &str, field: &str) -> Result<Vec<u8>> {
        self.bytes_of(Request::ArenaGetField {
            arena: arena.into(),
            field: field.into(),
        })
    }

    /// Leaves an arena; `Ok(true)` when we were the last.
    pub fn arena_exit(&mut self, name: &str) -> Result<bool> {
        self.bool_of(Request::ArenaExit(name.into()))
    }
}
