//! The object registry: ids, lifecycle, owners, a reactor and a ref per object.
//!
//! An object belongs to a class (DirectFB's object pool: windows, surfaces, layers). It is
//! created in `Init` (invisible to other fusionees), becomes `Active`, and when its ref's
//! total reaches zero — including when a dead slave's local references are dropped — it
//! moves to `Deinit`, its class's destructor runs in the master, and its reactor and ref go.
//! Destroying a class destroys the objects still referenced as *zombies* (the destructor is
//! told), as DirectFB does on shutdown.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use super::refs::Watch;
use super::Master;
use crate::pool::ShmHandle;
use crate::wire::{FusioneeId, ObjectId, ObjectInfo, ObjectState, MASTER_ID};
use crate::{Error, Result};

/// Runs when an object dies: its description, and whether it died as a zombie (its class
/// was destroyed while references remained).
pub type Destructor = Box<dyn FnMut(&ObjectInfo, bool)>;

struct Class {
    destructor: Destructor,
    objects: BTreeSet<ObjectId>,
}

/// All classes and objects of a world.
#[derive(Default)]
pub(crate) struct Objects {
    classes: BTreeMap<String, Class>,
    pub objects: BTreeMap<ObjectId, ObjectInfo>,
    next: ObjectId,
}

impl Objects {
    pub fn class_names(&self) -> Vec<String> {
        self.classes.keys().cloned().collect()
    }

    pub fn fusionee_gone(&mut self, dead: FusioneeId) {
        for o in self.objects.values_mut() {
            o.owners.retain(|w| *w != dead);
        }
    }
}

impl Master {
    /// Creates an object class whose objects `destructor` finalises.
    pub fn object_class_create(
        &mut self,
        name: &str,
        destructor: impl FnMut(&ObjectInfo, bool) + 'static,
    ) -> Result<()> {
        if self.objects.classes.contains_key(name) {
            return Err(Error::Busy);
        }
        self.objects.classes.insert(
            name.to_string(),
            Class {
                destructor: Box::new(destructor),
                objects: BTreeSet::new(),
            },
        );
        Ok(())
    }

    /// Creates an object in `Init` state, owned by `owner`, with an optional published
    /// data block. It gets a reactor (`msg_size` bytes per message) and a ref.
    pub fn object_create(
        &mut self,
        class: &str,
        owner: FusioneeId,
        msg_size: usize,
        data: Option<ShmHandle>,
    ) -> Result<ObjectId> {
        if !self.objects.classes.contains_key(class) {
            return Err(Error::NotFound(format!("object class {class:?}")));
        }
        self.objects.next = self.objects.next.next();
        let id = self.objects.next;
        let reactor = self.reactor_create(&format!("{class}/{id}"), msg_size, 64, false)?;
        let r = self.refs.create(&format!("{class}/{id}"), MASTER_ID);
        self.refs.watch(r, MASTER_ID, Watch::Object(id))?;
        let mut owners = vec![MASTER_ID];
        if owner != MASTER_ID {
            owners.push(owner);
        }
        self.objects.objects.insert(
            id,
            ObjectInfo {
                id,
                class: class.to_string(),
                state: ObjectState::Init,
                reactor,
                r#ref: r,
                owners,
                data,
            },
        );
        self.objects
            .classes
            .get_mut(class)
            .expect("checked")
            .objects
            .insert(id);
        Ok(id)
    }

    /// Makes an object visible and alive.
    pub fn object_activate(&mut self, id: ObjectId) -> Result<()> {
        let o = self
            .objects
            .objects
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("object {id}")))?;
        if o.state != ObjectState::Init {
            return Err(Error::Invalid(format!("object {id} is {:?}", o.state)));
        }
        o.state = ObjectState::Active;
        Ok(())
    }

    /// Adds an owner (a fusionee allowed to change the object).
    pub fn object_add_owner(&mut self, id: ObjectId, owner: FusioneeId) -> Result<()> {
        let o = self
            .objects
            .objects
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("object {id}")))?;
        if !o.owners.contains(&owner) {
            o.owners.push(owner);
        }
        Ok(())
    }

    /// Whether `who` owns object `id`.
    pub fn object_check_owner(&self, id: ObjectId, who: FusioneeId) -> bool {
        self.objects
            .objects
            .get(&id)
            .is_some_and(|o| o.owners.contains(&who))
    }

    /// An object's description.
    pub fn object_get(&self, id: ObjectId) -> Option<&ObjectInfo> {
        self.objects.objects.get(&id)
    }

    pub(crate) fn object_info_for(&self, who: FusioneeId, id: ObjectId) -> Result<ObjectInfo> {
        match self.objects.objects.get(&id) {
            Some(o) if o.state == ObjectState::Active || o.owners.contains(&who) => Ok(o.clone()),
            _ => Err(Error::NotFound(format!("object {id}"))),
        }
    }

    pub(crate) fn object_list(&self, class: &str) -> Vec<ObjectId> {
        self.objects
            .classes
            .get(class)
            .map(|c| {
                c.objects
                    .iter()
                    .copied()
                    .filter(|id| {
                        self.objects
                            .objects
                            .get(id)
                            .is_some_and(|o| o.state == ObjectState::Active)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The ref of an active object reached zero.
    pub(crate) fn object_zero(&mut self, id: ObjectId) {
        let active = self
            .objects
            .objects
            .get(&id)
            .is_some_and(|o| o.state == ObjectState::Active);
        if active {
            self.object_finish(id, false);
        }
    }

    /// Destroys an object now, whatever its count.
    pub fn object_destroy(&mut self, id: ObjectId) -> Result<()> {
        if !self.objects.objects.contains_key(&id) {
            return Err(Error::NotFound(format!("object {id}")));
        }
        self.object_finish(id, false);
        Ok(())
    }

    fn object_finish(&mut self, id: ObjectId, zombie: bool) {
        let Some(o) = self.objects.objects.get_mut(&id) else {
            return;
        };
        o.state = ObjectState::Deinit;
        let info = o.clone();
        if let Some(c) = self.objects.classes.get_mut(&info.class) {
            (c.destructor)(&info, zombie);
            c.objects.remove(&id);
        }
        self.objects.objects.remove(&id);
        let _ = self.reactor_destroy(info.reactor);
        let _ = self.refs.destroy(info.r#ref, MASTER_ID, true);
    }

    /// Destroys a class; objects still referenced die as zombies.
    pub fn object_class_destroy(&mut self, name: &str) -> Result<()> {
        let ids: Vec<ObjectId> = self
            .objects
            .classes
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("object class {name:?}")))?
            .objects
            .iter()
            .copied()
            .collect();
        for id in ids {
            let zombie = self
                .objects
                .objects
                .get(&id)
                .is_some_and(|o| self.refs.total(o.r#ref) > 0);
            if zombie {
                warn!(
                    object = %id,
                    class = name,
                    "destroyed as a zombie (still referenced)"
                );
            }
            self.object_finish(id, zombie);
        }
        self.objects.classes.remove(name);
        Ok(())
    }
}
