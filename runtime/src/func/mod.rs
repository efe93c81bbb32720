//! Patchable functions and the per-thread consistency model (SPEC §7).
//!
//! - [`slot`]: the slot each `#[patchable]` function calls through, its stack of replacements,
//!   and the call path.
//! - [`protocol`]: the switch protocol between a thread entering a function and a transition
//!   switching it, as logic over atomics (model-checked with loom).
//! - [`thread`]: thread records, their registry, and the lanes of concurrent transitions.
//! - [`barrier`]: the process-wide memory barrier.
//! - `current`: the current thread's record, found on the call path without a call.
//!
//! This module's functions are the transition side's interface: the runtime's `transition` and
//! `object` code call them with the patch list locked.

pub(crate) mod barrier;
mod current;
pub(crate) mod protocol;
pub(crate) mod slot;
mod sync;
#[cfg(test)]
mod tests;
pub(crate) mod thread;

pub use barrier::uses_membarrier;
pub use slot::{FuncDesc, FuncSlot, Replacement, SameType};

use slot::{InTransition, Owner, SlotOps};
use thread::Lane;

/// Applies `owner`'s replacements `funcs` (of one object) to their slots, publishing each slot
/// under `transition`. Fails, changing nothing, when a slot is being changed by a transition of
/// another runtime.
pub(crate) fn apply(
    owner: Owner,
    funcs: &[FuncDesc],
    transition: Option<InTransition>,
) -> Result<(), &'static str> {
    changed_by_other(owner.runtime, funcs.iter().map(FuncDesc::slot))?;
    for func in funcs {
        func.replacement.push(owner);
        func.slot().publish(owner.runtime, transition);
    }
    Ok(())
}

/// Fails with the name of the first of `slots` that a transition of a runtime other than
/// `runtime` is changing: one slot's word holds one transition at a time.
pub(crate) fn changed_by_other(
    runtime: u64,
    slots: impl IntoIterator<Item = &'static dyn SlotOps>,
) -> Result<(), &'static str> {
    match slots.into_iter().find(|s| s.changed_by_other(runtime)) {
        Some(busy) => Err(busy.name()),
        None => Ok(()),
    }
}

/// Removes `owner`'s entries from the slots of `funcs`, publishing each under `transition`.
pub(crate) fn revert(owner: Owner, funcs: &[FuncDesc], transition: Option<InTransition>) {
    for func in funcs {
        func.slot().remove(owner);
        func.slot().publish(owner.runtime, transition);
    }
}

/// For a replace patch `owner`: every slot among `slots` that another patch of the same runtime
/// replaced and `owner` does not gets a nop entry, restoring the original for threads that
/// switch. Fails, adding none, with the name of such a slot that another runtime's transition
/// is changing.
pub(crate) fn add_nops(
    owner: Owner,
    slots: impl IntoIterator<Item = &'static dyn SlotOps>,
    transition: Option<InTransition>,
) -> Result<Vec<&'static dyn SlotOps>, &'static dyn SlotOps> {
    let mut wanted: Vec<&'static dyn SlotOps> = Vec::new();
    for slot in slots {
        let owners = slot.owners();
        let replaced_by_older = owners
            .iter()
            .any(|o| o.runtime == owner.runtime && o.instance != owner.instance);
        let listed = wanted.iter().any(|w| std::ptr::addr_eq(*w, slot));
        if replaced_by_older && !owners.contains(&owner) && !listed {
            wanted.push(slot);
        }
    }
    if let Some(busy) = wanted.iter().find(|s| s.changed_by_other(owner.runtime)) {
        return Err(*busy);
    }
    for slot in &wanted {
        slot.push_nop(owner);
        slot.publish(owner.runtime, transition);
    }
    Ok(wanted)
}

/// The function side of one transition: its lane, and the driver that completes it.
#[derive(Debug)]
pub(crate) struct FuncTransition {
    pub(crate) lane: Lane,
    pub(crate) owner: Owner,
}

impl FuncTransition {
    pub(crate) fn in_transition(&self) -> InTransition {
        InTransition {
            owner: self.owner,
            lane: self.lane.index(),
            generation: self.lane.generation(),
        }
    }

    /// Switches every thread that can be switched; returns how many still cannot.
    pub(crate) fn switch_threads(&self) -> usize {
        let records = thread::threads();
        let cores: Vec<&protocol::ThreadCore> = records.iter().map(|r| &r.core).collect();
        let (lane, generation) = (self.lane.index(), self.lane.generation());
        let changed = |id: usize| slot::is_changed(id, lane, generation);
        protocol::switch_threads(
            &cores,
            lane,
            self.lane.control(),
            &changed,
            &barrier::heavy,
            &|i| records[i].thread.unpark(),
        )
    }
}

pub(crate) use slot::{InTransition as FuncInTransition, Owner as FuncOwner, SlotOps as Slot};
