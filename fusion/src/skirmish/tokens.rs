//! Owner tokens: what a skirmish's lock word holds while it is taken.
//!
//! A token names one thread of one fusionee in one lock table. The lock word carries it, so
//! both "is it free?" and "is it mine?" (recursion, dismiss) are answered by the word alone:
//! the uncontended paths are one compare-and-swap each with no owner-tid or count store,
//! which is what brings a skirmish near a bare futex mutex.
//!
//! # The token table
//!
//! [`TOKENS`] entries of [`TOKEN_SIZE`] bytes follow the lock slots of a [`Table`]:
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | +0 | `owner: u32` | the fusionee the token belongs to; 0 = free |
//! | +4 | `tid: u32` | kernel tid of the thread that claimed it (introspection) |
//!
//! Token 0 is never handed out (a free lock word has owner bits 0). A thread claims an entry
//! the first time it locks through a handle of some fusionee: a compare-and-swap `0 → id`
//! from a spot picked by its tid. The token is kept in a thread-local: the last one used in
//! a cell the fast path compares with the handle's `Key`, all of them in a list the slow
//! path searches.
//!
//! # Giving tokens back
//!
//! - A thread that exits frees its tokens, except one still in some lock word (it exited
//!   holding a lock: the lock stays held by it, as a non-robust mutex would, until the master
//!   releases its fusionee's locks).
//! - The master frees every token of a fusionee whose process is gone, together with its
//!   locks ([`super::release_dead`]).
//! - A forked child forgets its parent's tokens without freeing them (they are the
//!   parent's).
//!
//! The list holds a [`Weak`] to each mapping: while a key is in the thread-local, the
//! mapping's `Arc` allocation (whose address the key holds) cannot be reused for another.
//!
//! Like the lock slots, the table is writable by every fusionee and untrusted: garbage can
//! make a thread claim another entry or a lock stall, never a panic or an out-of-bounds
//! access. Written by hand: no crate keeps per-thread ids in shared memory across
//! processes.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use super::{my_tid, Table, OWNER_MASK};
use crate::id::FusioneeId;
use crate::sys::Mapping;
use crate::{Error, Result};

/// Entries in a token table (token 0 is reserved, so one fewer can be handed out).
pub const TOKENS: u32 = 4096;

/// Size of one token entry, in bytes.
pub const TOKEN_SIZE: usize = 8;

const OFF_OWNER: usize = 0;
const OFF_TID: usize = 4;

/// What a handle's tokens are looked up by: its mapping (the `Arc`'s address), its token
/// table and its fusionee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    map: usize,
    tokens: usize,
    me: u32,
}

impl Key {
    /// The key of fusionee `me`'s handles on `table` in `map`.
    pub(super) fn new(map: &Arc<Mapping>, table: Table, me: u32) -> Self {
        Self {
            map: Arc::as_ptr(map) as usize,
            tokens: table.tokens_offset().unwrap_or(usize::MAX),
            me,
        }
    }

    const NONE: Key = Key {
        map: 0,
        tokens: 0,
        me: 0,
    };
}

/// A token this thread claimed.
struct Claim {
    key: Key,
    map: Weak<Mapping>,
    table: Table,
    token: u32,
}

/// This thread's claims; dropping it (at thread exit) gives them back.
struct Claims(RefCell<Vec<Claim>>);

impl Drop for Claims {
    fn drop(&mut self) {
        for c in self.0.get_mut().drain(..) {
            if let Some(map) = c.map.upgrade() {
                give_back(&map, c.table, c.key.me, c.token);
            }
        }
    }
}

thread_local! {
    /// The token used last, and its key: what the fast paths check.
    static LAST: Cell<(Key, u32)> = const { Cell::new((Key::NONE, 0)) };
    static CLAIMS: Claims = const { Claims(RefCell::new(Vec::new())) };
}

/// Forgets this thread's tokens without giving them back (in a forked child: they are the
/// parent's). Allocation-free, as an at-fork handler must be.
pub(super) fn forget() {
    LAST.set((Key::NONE, 0));
    let _ = CLAIMS.try_with(|c| {
        if let Ok(mut v) = c.0.try_borrow_mut() {
            std::mem::forget(std::mem::take(&mut *v));
        }
    });
}

/// The calling thread's token for `key`, if it is the one it used last.
#[inline(always)]
pub(super) fn cached(key: Key) -> Option<u32> {
    let (k, t) = LAST.get();
    (k == key).then_some(t)
}

/// The calling thread's token for `key` if it has one (without claiming).
pub(super) fn find(key: Key) -> Option<u32> {
    if let Some(t) = cached(key) {
        return Some(t);
    }
    CLAIMS
        .try_with(|c| {
            let c = c.0.try_borrow().ok()?;
            let t = c.iter().find(|c| c.key == key)?.token;
            LAST.set((key, t));
            Some(t)
        })
        .ok()
        .flatten()
}

/// The calling thread's token for `key`, claiming one in the table when it has none (or
/// lost it: the master freed it).
#[cold]
pub(super) fn claim(map: &Arc<Mapping>, table: Table, key: Key) -> Result<u32> {
    CLAIMS
        .try_with(|c| {
            let mut claims =
                c.0.try_borrow_mut()
                    .map_err(|_| Error::Invalid("skirmish token list busy".into()))?;
            // Forget mappings that are gone; the cell may name one of them.
            if claims.iter().any(|c| c.map.strong_count() == 0) {
                claims.retain(|c| c.map.strong_count() > 0);
                let (k, _) = LAST.get();
                if !claims.iter().any(|c| c.key == k) {
                    LAST.set((Key::NONE, 0));
                }
            }
            if let Some(i) = claims.iter().position(|c| c.key == key) {
                let token = claims[i].token;
                if owner(map, table, token) == Some(key.me) {
                    LAST.set((key, token));
                    return Ok(token);
                }
                claims.swap_remove(i);
            }
            let token = take_free(map, table, key.me)?;
            claims.push(Claim {
                key,
                map: Arc::downgrade(map),
                table,
                token,
            });
            LAST.set((key, token));
            Ok(token)
        })
        .map_err(|_| Error::Invalid("skirmish tokens used while the thread exits".into()))?
}

/// The entry words of `token`, if it lies in the table and the mapping.
fn entry(map: &Mapping, table: Table, token: u32) -> Option<(&AtomicU32, &AtomicU32)> {
    if token == 0 || token >= TOKENS {
        return None;
    }
    let off = table
        .tokens_offset()?
        .checked_add(token as usize * TOKEN_SIZE)?;
    Some((
        map.atomic_u32(off + OFF_OWNER)?,
        map.atomic_u32(off + OFF_TID)?,
    ))
}

/// The fusionee `token` belongs to (`None`: free, or not a token of this table).
pub(super) fn owner(map: &Mapping, table: Table, token: u32) -> Option<u32> {
    let (owner, _) = entry(map, table, token)?;
    Some(owner.load(Ordering::Acquire)).filter(|&o| o != 0)
}

/// The owning fusionee and thread of the lock word `word` (its owner bits a token).
pub(super) fn holder(map: &Mapping, table: Table, word: u32) -> Option<(FusioneeId, u32)> {
    let (owner, tid) = entry(map, table, word & OWNER_MASK)?;
    let o = owner.load(Ordering::Acquire);
    (o != 0).then(|| (FusioneeId(o), tid.load(Ordering::Relaxed)))
}

/// Claims a free entry for fusionee `me`, scanning from a spot picked by the thread's tid.
fn take_free(map: &Mapping, table: Table, me: u32) -> Result<u32> {
    let tid = my_tid();
    let usable = TOKENS - 1;
    for i in 0..usable {
        let token = 1 + (tid.wrapping_add(i)) % usable;
        let Some((owner, t)) = entry(map, table, token) else {
            return Err(Error::Invalid(format!(
                "skirmish token table at {:?} lies outside the mapping",
                table.tokens_offset()
            )));
        };
        if owner.load(Ordering::Relaxed) == 0
            && owner
                .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            t.store(tid, Ordering::Relaxed);
            return Ok(token);
        }
    }
    Err(Error::Invalid(format!(
        "all {usable} skirmish owner tokens are taken (one per thread and fusionee that locks)"
    )))
}

/// Gives `token` back unless a lock word of the table still holds it.
fn give_back(map: &Mapping, table: Table, me: u32, token: u32) {
    if super::held_by_token(map, table, token) {
        return;
    }
    if let Some((owner, tid)) = entry(map, table, token) {
        if owner.load(Ordering::Relaxed) == me {
            tid.store(0, Ordering::Relaxed);
            let _ = owner.compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

/// Master: frees every token of fusionee `dead` (after its locks were released).
pub(super) fn free_all(map: &Mapping, table: Table, dead: u32) {
    for token in 1..TOKENS {
        let Some((owner, tid)) = entry(map, table, token) else {
            return;
        };
        if owner.load(Ordering::Relaxed) == dead {
            tid.store(0, Ordering::Relaxed);
            let _ = owner.compare_exchange(dead, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}
