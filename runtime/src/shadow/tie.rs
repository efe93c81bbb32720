//! Shadow variables tied to a system state: freed when the runtime releases the state.
//!
//! How a tie stays exact without the runtime knowing about shadow variables: the runtime publishes
//! the list's new status before an operation leaves its lock, and reports a release
//! ([`release`]) after that. A tied allocation checks in the published status that some patch on
//! the list declares the state, *after* inserting the variable. Either that check sees the
//! release's status (it fails, and the variable is taken out again), or it comes before it, and
//! then so does the insertion, and the release, reported later, finds the variable. The check
//! takes no lock of the runtime, so ties made from another runtime's callbacks cannot deadlock.
//! Inside a callback of the same runtime the published status is the one before the operation
//! in progress; any release that operation makes is reported when it ends, so the variable is
//! found then and the check is skipped.
//!
//! A release may be reported late: after its operation left the lock, another operation may have
//! declared the state again and a variable been tied under that declaration. Such a variable must
//! outlive the late report. So a tie also records the state's *generation*: a runtime that
//! announces a release under its lock ([`releasing`]) ends the generation, and the report then
//! frees only the variables of the generations it ended. A tied allocation reads the generation
//! before its first check and again after inserting; if it changed, a release came in between and
//! the variable is taken out again, as when the state is no longer declared. A release reported
//! without a generation (a runtime that goes away) frees every generation.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::node::{Class, ClassRef, Shadow, Tie};
use super::shard::Miss;
use super::table::{Insert, ShadowTable, TableInner, key, with_ctor};
use super::{ObjAddr, ShadowError, ShadowId};
use crate::core::Runtime;
use crate::descriptor::{StateHandle, StateLabel};

/// Every table that has held a tied variable; a release searches them.
static TABLES: Mutex<Vec<Weak<TableInner>>> = Mutex::new(Vec::new());

/// The classes of tied variables in use, one per data type and tie, shared by their variables.
static CLASSES: Mutex<Vec<Weak<Class>>> = Mutex::new(Vec::new());

/// The generation of each state of each runtime: how many times the runtime has announced, under
/// its lock, that it releases the state ([`releasing`]). Absent means 0.
static GENERATIONS: Mutex<BTreeMap<(u64, u64), u64>> = Mutex::new(BTreeMap::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // No user code runs under these locks; a poisoned one is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn register(table: Weak<TableInner>) {
    let mut tables = lock(&TABLES);
    tables.retain(|t| t.strong_count() > 0);
    tables.push(table);
}

/// The current generation of `state` on `runtime`.
fn generation(runtime: u64, state: u64) -> u64 {
    lock(&GENERATIONS)
        .get(&(runtime, state))
        .copied()
        .unwrap_or(0)
}

/// Ends the current generation of `state` on `runtime` and returns it: variables tied from now on
/// belong to the next one, which a late report of this release ([`release`] with this
/// generation) leaves alone.
pub(super) fn releasing(runtime: u64, state: u64) -> u64 {
    let mut generations = lock(&GENERATIONS);
    let current = generations.entry((runtime, state)).or_insert(0);
    *current += 1;
    *current - 1
}

/// Forgets the generations of every state of `runtime`, which is gone.
pub(super) fn forget(runtime: u64) {
    lock(&GENERATIONS).retain(|&(r, _), _| r != runtime);
}

/// Whether any generation of a state of `runtime` is kept.
#[cfg(test)]
pub(super) fn has_generations(runtime: u64) -> bool {
    lock(&GENERATIONS).keys().any(|&(r, _)| r == runtime)
}

/// The class shared by variables of type `T` tied to `tie`.
fn class<T: Send + Sync + 'static>(tie: Tie) -> Arc<Class> {
    let mut classes = lock(&CLASSES);
    classes.retain(|c| c.strong_count() > 0);
    let same = |c: &Arc<Class>| c.is::<T>() && c.tie() == Some(tie);
    if let Some(found) = classes.iter().filter_map(Weak::upgrade).find(same) {
        return found;
    }
    let made = Arc::new(Class::tied::<T>(tie));
    classes.push(Arc::downgrade(&made));
    made
}

/// Frees every variable tied to `state` of `runtime`, in every table, if tied in a generation up
/// to `upto` (any generation if `None`): out of the tables first, then their data dropped, outside
/// every lock, a panicking `Drop` logged and contained.
pub(super) fn release(runtime: u64, state: u64, upto: Option<u64>) {
    let doomed = |tie: Option<Tie>| {
        tie.is_some_and(|t| {
            t.runtime == runtime && t.state == state && upto.is_none_or(|u| t.generation <= u)
        })
    };
    let tables: Vec<Arc<TableInner>> = lock(&TABLES).iter().filter_map(Weak::upgrade).collect();
    for table in tables {
        for shard in table.shards() {
            let mut guard = shard.write();
            if guard.tied() == 0 {
                continue;
            }
            guard.remove_all(|h| doomed(h.class().tie()));
            // A release drops the data of what it frees (unless a handle holds it) before it
            // returns, so it waits for lookups still reading the shard.
            for node in guard.finish_now() {
                node.drop_contained();
            }
        }
    }
}

/// A view of a table whose allocations are tied to a state of a runtime: see
/// [`ShadowTable::tied`].
#[derive(Clone, Copy, Debug)]
pub struct Tied<'a> {
    table: &'a ShadowTable,
    runtime: &'a Runtime,
    state: u64,
    /// How errors name the state.
    label: StateLabel,
}

impl ShadowTable {
    /// A view of this table whose allocations are tied to state `state` of `runtime`: the
    /// variables they create are freed (their data dropped once no handle holds it) when the
    /// runtime releases the state, that is when no patch on its list declares the state any more
    /// (after a disable, a replace by a patch that does not declare it, or a cancelled enable).
    /// While any patch declares the state they are kept, so a replacing patch that declares it
    /// takes them over.
    ///
    /// An allocation through the view fails with [`ShadowError::StateNotDeclared`] if no patch on
    /// the runtime's list declares the state, checked before the constructor runs and again once
    /// the variable is in the table: if the state was released in between (while the constructor
    /// ran), the new variable is freed at once. From a callback of the same runtime, the
    /// operation in progress holds the list, so the check is skipped there: tie only to a state
    /// of the callback's own patch, which any release at the end of the operation will cover.
    ///
    /// A runtime that is dropped releases the states of every patch still on its list, so their
    /// tied variables go with it.
    ///
    /// Lookups and frees need no view: a tied variable is found and freed like any other.
    ///
    /// ```
    /// use livepatch::prelude::*;
    ///
    /// const SV_SEEN: ShadowId<u32> = ShadowId::new(0x10);
    ///
    /// #[livepatch(states = [
    ///     /// Whose requests the patch audits.
    ///     AUDIT { id: 1, version: 1 },
    /// ])]
    /// pub mod audit {}
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let rt = Runtime::new();
    ///     let table = ShadowTable::new();
    ///     let obj = 0u8;
    ///     rt.enable(&audit::PATCH)?;
    ///     table.tied(&rt, audit::AUDIT).get_or_alloc(&obj, SV_SEEN, 1)?;
    ///     assert_eq!(table.get(&obj, SV_SEEN).as_deref(), Some(&1));
    ///     rt.disable("audit")?;
    ///     assert!(table.get(&obj, SV_SEEN).is_none());
    ///     Ok(())
    /// }
    /// ```
    pub fn tied<'a, S, P>(&'a self, runtime: &'a Runtime, state: StateHandle<S, P>) -> Tied<'a> {
        Tied {
            table: self,
            runtime,
            state: state.id(),
            label: state.label(),
        }
    }
}

impl Tied<'_> {
    /// As [`ShadowTable::alloc`], tied to the state. Fails if no patch on the runtime's list
    /// declares the state (see [`ShadowTable::tied`]).
    pub fn alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        value: T,
    ) -> Result<Option<Shadow<T>>, ShadowError> {
        let key = key(obj, id);
        let inserted = self.insert(None, |inner, tie, miss| {
            Ok(inner.insert_value(key, tie, miss, value))
        })?;
        Ok(inserted.into_new(key))
    }

    /// As [`ShadowTable::alloc_with`], tied to the state; fails as [`Tied::alloc`] does, or with
    /// the constructor's error.
    pub fn alloc_with<T, E>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Option<Shadow<T>>, ShadowError<E>>
    where
        T: Send + Sync + 'static,
        E: Display,
    {
        let key = key(obj, id);
        Ok(self.insert(None, with_ctor(key, ctor))?.into_new(key))
    }

    /// As [`ShadowTable::get_or_alloc`]; a new variable is tied to the state, an existing one is
    /// returned as it is.
    pub fn get_or_alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        value: T,
    ) -> Result<Shadow<T>, ShadowError> {
        let key = key(obj, id);
        self.table.get_or_insert(key, |miss| {
            self.insert(miss, |inner, tie, miss| {
                Ok(inner.insert_value(key, tie, miss, value))
            })
        })
    }

    /// As [`ShadowTable::get_or_alloc_with`]; a new variable is tied to the state, an existing one
    /// is returned as it is.
    pub fn get_or_alloc_with<T, E>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Shadow<T>, ShadowError<E>>
    where
        T: Send + Sync + 'static,
        E: Display,
    {
        let key = key(obj, id);
        self.table
            .get_or_insert(key, |miss| self.insert(miss, with_ctor(key, ctor)))
    }

    /// Whether a patch on the runtime's list declares the state, or this thread is inside an
    /// operation of the runtime (a callback), which reports its releases when it ends.
    fn declared(&self) -> bool {
        self.runtime.held_by_current_thread() || self.runtime.declares_state(self.state)
    }

    /// Inserts, with `insert`, a variable tied to the state, if a patch declares the state
    /// before and after, and the state's generation did not end in between; `miss` is what a
    /// lookup just before saw, if it missed.
    fn insert<T, E>(
        &self,
        miss: Option<Miss>,
        insert: impl FnOnce(&TableInner, ClassRef, Option<Miss>) -> Result<Insert<T>, ShadowError<E>>,
    ) -> Result<Insert<T>, ShadowError<E>>
    where
        T: Send + Sync + 'static,
    {
        let not_declared = ShadowError::StateNotDeclared { state: self.label };
        let runtime = self.runtime.id();
        // Read before the check, so that a release announced after it ends this generation.
        let current = generation(runtime, self.state);
        if self.state == 0 || !self.declared() {
            return Err(not_declared);
        }
        self.table.register();
        let tie = Tie {
            runtime,
            state: self.state,
            generation: current,
        };
        let inserted = insert(&self.table.inner, ClassRef::Shared(class::<T>(tie)), miss)?;
        if let Insert::New(shadow) = &inserted
            && (!self.declared() || generation(runtime, self.state) != current)
        {
            // Released between the two checks, possibly before the release searched this
            // table: take the variable out again (unless the release already did).
            if let Some(node) = self.table.inner.remove(shadow) {
                node.drop_contained();
            }
            return Err(not_declared);
        }
        Ok(inserted)
    }
}
