//! What a user can read about the runtime (the kernel's sysfs files, SPEC §9).
//!
//! The runtime publishes a fresh snapshot at the end of every operation, so reading never waits
//! for a callback and works from inside one (it then shows the list as it was before the
//! operation that runs the callback).

use std::sync::Arc;

use crate::core::{Inner, Runtime};
use crate::descriptor::ObjectName;
use crate::transition::{TransitionPhase, TransitionTarget};

/// One patch on the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchStatus {
    /// The patch's name.
    pub name: &'static str,
    /// The `enabled` switch: the target of the patch's transition, or its settled state.
    pub enabled: bool,
    /// Whether this patch is the one in transition.
    pub transition: bool,
    /// Whether the patch is cumulative.
    pub replace: bool,
    /// Whether a forced transition marked the patch (SPEC §6): some thread may still run its
    /// code. Such a patch leaves the list when that transition completes; see
    /// [`Runtime::forced_patches`].
    pub forced: bool,
    /// The 1-based position of the patch on the list.
    pub stack_order: usize,
    /// The patch's objects, in declaration order.
    pub objects: Vec<ObjectStatus>,
    /// The patch's states, in declaration order.
    pub states: Vec<StateStatus>,
}

/// One object of a patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectStatus {
    /// The object.
    pub name: ObjectName,
    /// Whether the patch is applied to it.
    pub patched: bool,
}

/// One state of a patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateStatus {
    /// The state's id.
    pub id: u64,
    /// The version the patch declares.
    pub version: u32,
    /// Whether the state holds data.
    pub has_data: bool,
}

/// The transition in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionStatus {
    /// The patch in transition.
    pub patch: &'static str,
    /// Where it is heading.
    pub target: TransitionTarget,
    /// How far it is.
    pub phase: TransitionPhase,
}

/// Everything readable, as of the end of the last operation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    patches: Vec<PatchStatus>,
    transition: Option<TransitionStatus>,
    loaded: Vec<String>,
    forced: Vec<&'static str>,
}

impl Snapshot {
    pub(crate) fn in_transition(&self) -> bool {
        self.transition.is_some()
    }

    pub(crate) fn of(inner: &Inner) -> Arc<Snapshot> {
        let transition = crate::transition::current(inner).and_then(|(target, index)| {
            Some(TransitionStatus {
                patch: inner.list[index].desc.name(),
                target,
                phase: inner.transition.as_ref()?.phase,
            })
        });
        let patches = inner
            .list
            .iter()
            .enumerate()
            .map(|(i, p)| PatchStatus {
                name: p.desc.name(),
                enabled: p.enabled,
                transition: inner.in_transition(p.instance),
                forced: p.forced,
                replace: p.desc.is_replace(),
                stack_order: i + 1,
                objects: p
                    .desc
                    .object_descs()
                    .iter()
                    .zip(&p.objects)
                    .map(|(d, o)| ObjectStatus {
                        name: d.name(),
                        patched: o.patched,
                    })
                    .collect(),
                states: p
                    .desc
                    .state_descs()
                    .iter()
                    .zip(&p.states)
                    .map(|(d, s)| StateStatus {
                        id: d.id(),
                        version: d.version(),
                        has_data: s.data.is_some(),
                    })
                    .collect(),
            })
            .collect();
        Arc::new(Snapshot {
            patches,
            transition,
            loaded: inner.loaded.iter().cloned().collect(),
            forced: inner.forced.clone(),
        })
    }
}

impl Runtime {
    /// Every patch on the list, in list order.
    pub fn patches(&self) -> Vec<PatchStatus> {
        self.snapshot().patches.clone()
    }

    /// The patch of that name, if it is on the list.
    pub fn patch(&self, name: &str) -> Option<PatchStatus> {
        self.snapshot()
            .patches
            .iter()
            .find(|p| p.name == name)
            .cloned()
    }

    /// The descriptor of the patch of that name on the list, if it is on it: what it holds
    /// (its states' data types, its callbacks, its functions), which its status does not say.
    pub fn patch_desc(&self, name: &str) -> Option<&'static crate::PatchDesc> {
        self.locked(|inner| {
            inner
                .list
                .iter()
                .find(|p| p.desc.name() == name)
                .map(|p| p.desc)
        })
        .ok()
        .flatten()
    }

    /// The transition in progress, if any.
    pub fn transition(&self) -> Option<TransitionStatus> {
        self.snapshot().transition.clone()
    }

    /// The names of the patches a [`Runtime::force`] ever marked forced, in the order marked, on
    /// the list or gone from it: some thread may have been running their code when the
    /// transition was forced, and may still be, so nothing they hold (a patch library's code,
    /// for one) may ever be freed, as the kernel never frees a forced patch's module.
    pub fn forced_patches(&self) -> Vec<&'static str> {
        self.snapshot().forced.clone()
    }

    /// The named objects that are loaded, sorted by name.
    pub fn loaded_objects(&self) -> Vec<String> {
        self.snapshot().loaded.clone()
    }

    /// Whether a patch on the list declares state `id`, as of the end of the last operation.
    pub(crate) fn declares_state(&self, id: u64) -> bool {
        self.snapshot()
            .patches
            .iter()
            .any(|p| p.states.iter().any(|s| s.id == id))
    }

    /// Whether a named object is loaded (the program itself always is).
    pub fn is_object_loaded(&self, name: &str) -> bool {
        name == crate::PROGRAM_OBJECT_NAME || self.snapshot().loaded.iter().any(|o| o == name)
    }
}
