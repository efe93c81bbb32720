//! A dry run of an enable: what [`Runtime::enable`] would do with a patch now, computed from the
//! patch list without changing it, running no callback and logging nothing.

use crate::core::{Inner, Runtime};
use crate::descriptor::{ObjectName, PatchDesc};
use crate::error::{EnableError, Reentered};
use crate::func::FuncDesc;
use crate::state::ConflictReason;

/// What enabling a patch now would do. See [`Runtime::plan`].
#[derive(Debug)]
pub struct Plan {
    /// The patch.
    pub patch: &'static str,
    /// The error `enable` would answer, if it would refuse the patch: then nothing below would
    /// happen.
    pub refusal: Option<EnableError>,
    /// The verdict on every state the patch declares, in declaration order, then on every
    /// installed state a cumulative patch would drop.
    pub states: Vec<PlannedState>,
    /// The callbacks that would run, in order: each loaded object's `pre_patch` as the enable
    /// starts, then each loaded object's `post_patch` once the transition completes.
    pub callbacks: Vec<PlannedCallback>,
    /// The functions whose code would change, per loaded object, in declaration order; then the
    /// functions a cumulative patch would restore to the original.
    pub functions: Vec<PlannedFunction>,
    /// The patches that would leave the list, silently, once a cumulative patch's transition
    /// completes.
    pub removes: Vec<&'static str>,
}

/// One state in a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedState {
    /// The state's id.
    pub id: u64,
    /// The version the patch declares; `None` for an installed state it does not declare.
    pub version: Option<u32>,
    /// The last patch on the list that declares the state, with its version.
    pub installed: Option<(&'static str, u32)>,
    /// What the enable would make of it.
    pub verdict: StateVerdict,
}

/// What an enable would make of one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateVerdict {
    /// No patch on the list declares it: it is created, with whatever data the patch's
    /// callbacks set.
    New,
    /// Installed at the same or a lower version. The patch's callbacks may take its data over;
    /// data not taken over stays with its patch, and is dropped when that patch leaves (at once
    /// for the patches a cumulative patch removes).
    Compatible {
        /// Whether the installed state holds data to take over.
        has_data: bool,
    },
    /// The enable would be refused for it.
    Incompatible(ConflictReason),
}

/// A callback an enable would run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedCallback {
    /// The object it runs for.
    pub object: ObjectName,
    /// Which callback.
    pub callback: CallbackKind,
}

/// The callbacks of an enable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackKind {
    /// `pre_patch`, as the enable starts.
    PrePatch,
    /// `post_patch`, once the transition completes.
    PostPatch,
}

/// A function whose code an enable would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFunction {
    /// The object it belongs to.
    pub object: ObjectName,
    /// The function's name.
    pub name: &'static str,
    /// How its code changes.
    pub change: FunctionChange,
}

/// How an enable changes a function's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FunctionChange {
    /// The original runs now; the patch's code will.
    Patched,
    /// Another patch's code runs now; the patch's code will.
    Repatched {
        /// The patch whose code runs now, when it is one of this runtime's.
        current: Option<&'static str>,
    },
    /// A patch that the cumulative patch removes replaced it and the cumulative patch does
    /// not: the original will run again.
    Restored {
        /// The patch whose code runs now, when it is one of this runtime's.
        current: Option<&'static str>,
    },
}

impl Runtime {
    /// What [`Runtime::enable`] of `desc` would do now: whether it would be refused (with the
    /// same error), the verdict on each state, the callbacks that would run in order, the
    /// functions that would change and the patches a cumulative patch would remove. Changes
    /// nothing, runs no callback and logs nothing.
    ///
    /// ```
    /// use livepatch::prelude::*;
    /// use livepatch::{CallbackKind, ObjectName};
    ///
    /// #[livepatch]
    /// pub mod fix {
    ///     use super::*;
    ///
    ///     #[post_patch]
    ///     fn announce(_cx: &mut PostPatch<'_>) {}
    /// }
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let rt = Runtime::new();
    ///     let plan = rt.plan(&fix::PATCH)?;
    ///     assert!(plan.refusal.is_none());
    ///     assert_eq!(plan.callbacks.len(), 1);
    ///     assert_eq!(plan.callbacks[0].object, ObjectName::Program);
    ///     assert_eq!(plan.callbacks[0].callback, CallbackKind::PostPatch);
    ///     assert!(rt.patches().is_empty());
    ///     Ok(())
    /// }
    /// ```
    pub fn plan(&self, desc: &'static PatchDesc) -> Result<Plan, Reentered> {
        self.locked(|inner| plan_locked(inner, desc))
    }
}

fn plan_locked(inner: &Inner, desc: &'static PatchDesc) -> Plan {
    let refusal = crate::core::admission(inner, desc).err();
    let installed = inner.list.iter().map(|p| p.desc);
    let conflicts = crate::state::conflicts(desc, installed);
    let last_declaring = |id: u64| {
        inner.list.iter().rev().find_map(|p| {
            let index = p.state_index(id)?;
            Some((p, index))
        })
    };
    let verdict = |id: u64, has_data: bool| match conflicts.iter().find(|c| c.id == id) {
        Some(c) => StateVerdict::Incompatible(c.reason),
        None => StateVerdict::Compatible { has_data },
    };
    let mut states: Vec<PlannedState> = desc
        .states
        .iter()
        .map(|state| {
            let found = last_declaring(state.id);
            PlannedState {
                id: state.id,
                version: Some(state.version),
                installed: found.map(|(p, i)| (p.desc.name, p.desc.states[i].version)),
                verdict: match found {
                    None => StateVerdict::New,
                    Some((p, i)) => verdict(state.id, p.states[i].data.is_some()),
                },
            }
        })
        .collect();
    for conflict in &conflicts {
        if conflict.reason == ConflictReason::DroppedByCumulative
            && !states.iter().any(|s| s.id == conflict.id)
        {
            states.push(PlannedState {
                id: conflict.id,
                version: None,
                installed: Some((conflict.installed_patch, conflict.installed_version)),
                verdict: StateVerdict::Incompatible(conflict.reason),
            });
        }
    }

    let loaded: Vec<_> = desc
        .objects
        .iter()
        .filter(|o| inner.is_loaded(o.name))
        .collect();
    let pre = loaded
        .iter()
        .filter(|o| o.callbacks.pre_patch.is_some())
        .map(|o| (o.name, CallbackKind::PrePatch));
    let post = loaded
        .iter()
        .filter(|o| o.callbacks.post_patch.is_some())
        .map(|o| (o.name, CallbackKind::PostPatch));
    let callbacks = pre
        .chain(post)
        .map(|(object, callback)| PlannedCallback { object, callback })
        .collect();

    let current = |func: &FuncDesc| {
        let owner = func.slot().effective_owner()?;
        Some(
            (owner.runtime == inner.runtime)
                .then(|| {
                    inner
                        .index_of(owner.instance)
                        .map(|i| inner.list[i].desc.name)
                })
                .flatten(),
        )
    };
    let mut functions: Vec<PlannedFunction> = loaded
        .iter()
        .flat_map(|o| o.functions)
        .map(|func| PlannedFunction {
            object: func.object(),
            name: func.name(),
            change: match current(func) {
                None => FunctionChange::Patched,
                Some(current) => FunctionChange::Repatched { current },
            },
        })
        .collect();
    let mut removes = Vec::new();
    if desc.replace {
        removes = inner.list.iter().map(|p| p.desc.name).collect();
        let replaced_by_new = |func: &FuncDesc| {
            loaded
                .iter()
                .flat_map(|o| o.functions)
                .any(|mine| mine.slot().id() == func.slot().id())
        };
        let mut restored = Vec::new();
        for func in inner.list.iter().flat_map(|p| p.patched_functions()) {
            let id = func.slot().id();
            if replaced_by_new(func) || restored.contains(&id) {
                continue;
            }
            restored.push(id);
            if let Some(current) = current(func) {
                functions.push(PlannedFunction {
                    object: func.object(),
                    name: func.name(),
                    change: FunctionChange::Restored { current },
                });
            }
        }
    }
    Plan {
        patch: desc.name,
        refusal,
        states,
        callbacks,
        functions,
        removes,
    }
}
