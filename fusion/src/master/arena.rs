//! Arenas: named rendezvous with shared fields (DirectFB's `fusion_arena_*`).
//!
//! The first fusionee to enter an arena is told so and initialises it (sets its fields);
//! others who enter meanwhile wait until it calls ready, then join. The last one to leave is
//! told so and shuts it down. If the initialiser dies half-way, its half-made fields are
//! dropped and the next waiter becomes the initialiser — DirectFB left such an arena locked.

use std::collections::{BTreeMap, BTreeSet};

use crate::wire::FusioneeId;
use crate::{Error, Result};

#[derive(Debug)]
pub(crate) struct ArenaEntry {
    pub initializing: Option<FusioneeId>,
    pub members: BTreeSet<FusioneeId>,
    pub fields: BTreeMap<String, Vec<u8>>,
    pub waiters: Vec<(FusioneeId, u32)>,
}

/// Replies owed: (fusionee, serial, first?).
pub(crate) type Joined = Vec<(FusioneeId, u32, bool)>;

/// All arenas of a world.
#[derive(Debug, Default)]
pub(crate) struct Arenas {
    pub arenas: BTreeMap<String, ArenaEntry>,
}

impl Arenas {
    /// `Some(first)` when entered now, `None` when queued behind an initialiser.
    pub fn enter(&mut self, name: &str, who: FusioneeId, serial: u32) -> Result<Option<bool>> {
        if name.is_empty() || name.len() > 128 {
            return Err(Error::Invalid("arena name must be 1-128 bytes".into()));
        }
        match self.arenas.get_mut(name) {
            None => {
                self.arenas.insert(
                    name.to_string(),
                    ArenaEntry {
                        initializing: Some(who),
                        members: BTreeSet::from([who]),
                        fields: BTreeMap::new(),
                        waiters: Vec::new(),
                    },
                );
                Ok(Some(true))
            }
            Some(a) if a.members.contains(&who) => Err(Error::Busy),
            Some(a) if a.initializing.is_some() => {
                a.waiters.push((who, serial));
                Ok(None)
            }
            Some(a) => {
                a.members.insert(who);
                Ok(Some(false))
            }
        }
    }

    pub fn ready(&mut self, name: &str, who: FusioneeId) -> Result<Joined> {
        let a = self
            .arenas
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("arena {name:?}")))?;
        if a.initializing != Some(who) {
            return Err(Error::Access(format!(
                "arena {name:?} is not being initialised by {who}"
            )));
        }
        a.initializing = None;
        let waiters = std::mem::take(&mut a.waiters);
        Ok(waiters
            .into_iter()
            .map(|(w, s)| {
                a.members.insert(w);
                (w, s, false)
            })
            .collect())
    }

    pub fn set_field(
        &mut self,
        name: &str,
        who: FusioneeId,
        field: &str,
        value: Vec<u8>,
    ) -> Result<()> {
        let a = self
            .arenas
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("arena {name:?}")))?;
        if !a.members.contains(&who) {
            return Err(Error::Access(format!(
                "{who} has not entered arena {name:?}"
            )));
        }
        if a.fields.len() >= 1024 && !a.fields.contains_key(field) {
            return Err(Error::Quota("arena fields".into()));
        }
        a.fields.insert(field.to_string(), value);
        Ok(())
    }

    pub fn get_field(&self, name: &str, field: &str) -> Result<Vec<u8>> {
        self.arenas
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("arena {name:?}")))?
            .fields
            .get(field)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("field {field:?} of arena {name:?}")))
    }

    /// Leaves; `Ok(true)` for the last one out (the arena is gone).
    pub fn exit(&mut self, name: &str, who: FusioneeId) -> Result<(bool, Joined)> {
        let a = self
            .arenas
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("arena {name:?}")))?;
        if !a.members.remove(&who) {
            return Err(Error::Access(format!(
                "{who} has not entered arena {name:?}"
            )));
        }
        let joined = self.after_removal(name, who);
        Ok((!self.arenas.contains_key(name), joined))
    }

    fn after_removal(&mut self, name: &str, who: FusioneeId) -> Joined {
        let Some(a) = self.arenas.get_mut(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if a.initializing == Some(who) {
            a.fields.clear();
            a.initializing = None;
            if !a.waiters.is_empty() {
                let (w, s) = a.waiters.remove(0);
                a.initializing = Some(w);
                a.members.insert(w);
                out.push((w, s, true));
            }
        }
        if a.members.is_empty() && a.waiters.is_empty() {
            self.arenas.remove(name);
        }
        out
    }

    pub fn fusionee_gone(&mut self, dead: FusioneeId) -> Joined {
        let names: Vec<String> = self.arenas.keys().cloned().collect();
        let mut out = Vec::new();
        for n in names {
            if let Some(a) = self.arenas.get_mut(&n) {
                a.waiters.retain(|(w, _)| *w != dead);
                a.members.remove(&dead);
            }
            out.extend(self.after_removal(&n, dead));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_initialises_others_wait_last_shuts_down() {
        let mut a = Arenas::default();
        assert_eq!(a.enter("core", FusioneeId(2), 1).unwrap(), Some(true));
        assert_eq!(a.enter("core", FusioneeId(3), 5).unwrap(), None);
        a.set_field("core", FusioneeId(2), "root", vec![1]).unwrap();
        assert_eq!(
            a.ready("core", FusioneeId(2)).unwrap(),
            vec![(FusioneeId(3), 5, false)]
        );
        assert_eq!(a.get_field("core", "root").unwrap(), vec![1]);
        assert!(!a.exit("core", FusioneeId(2)).unwrap().0);
        assert!(a.exit("core", FusioneeId(3)).unwrap().0);
        assert!(a.get_field("core", "root").is_err());
    }

    #[test]
    fn dead_initialiser_hands_over() {
        let mut a = Arenas::default();
        a.enter("core", FusioneeId(2), 1).unwrap();
        a.set_field("core", FusioneeId(2), "half", vec![0]).unwrap();
        a.enter("core", FusioneeId(3), 8).unwrap();
        assert_eq!(
            a.fusionee_gone(FusioneeId(2)),
            vec![(FusioneeId(3), 8, true)]
        );
        assert!(a.get_field("core", "half").is_err());
    }
}
