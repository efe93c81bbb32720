//! The transition engine: one patch at a time moves from its old state to a target state, through
//! explicit phases, and may be reversed on the way.
//!
//! A transition completes when every thread has switched to the target state. Until threads run
//! patched functions under the consistency model, no thread can hold a transition back, so
//! [`Transition::try_complete`] completes at once.

use std::fmt;

use crate::callback::{self, UnpatchReason};
use crate::core::Inner;
use crate::messages;

/// Where a transition is heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionTarget {
    /// Patching: threads move to the patch's code.
    Patched,
    /// Unpatching: threads move back to the code below the patch.
    Unpatched,
}

impl TransitionTarget {
    fn opposite(self) -> Self {
        match self {
            TransitionTarget::Patched => TransitionTarget::Unpatched,
            TransitionTarget::Unpatched => TransitionTarget::Patched,
        }
    }
}

impl fmt::Display for TransitionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransitionTarget::Patched => "patching",
            TransitionTarget::Unpatched => "unpatching",
        })
    }
}

/// The phase a transition is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionPhase {
    /// Set up; `pre_patch` or `pre_unpatch` callbacks are running.
    Initializing,
    /// Threads are switching to the target state.
    Started,
    /// Every thread has switched; the closing callbacks are running.
    Completing,
}

/// The transition in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transition {
    /// The instance of the patch in transition.
    pub(crate) patch: u64,
    pub(crate) target: TransitionTarget,
    pub(crate) phase: TransitionPhase,
    /// What `post_unpatch` callbacks are told if the transition completes as an unpatching.
    unpatch_reason: UnpatchReason,
}

impl Transition {
    /// Makes `patch` the patch in transition, towards `target`.
    pub(crate) fn init(inner: &mut Inner, patch: u64, target: TransitionTarget) {
        let Some(index) = inner.index_of(patch) else {
            return;
        };
        messages::initializing(inner.list[index].desc.name, target);
        inner.transition = Some(Transition {
            patch,
            target,
            phase: TransitionPhase::Initializing,
            unpatch_reason: UnpatchReason::Disabled,
        });
    }

    /// Lets threads start switching.
    pub(crate) fn start(inner: &mut Inner) {
        let Some((t, index)) = current(inner) else {
            return;
        };
        messages::starting(inner.list[index].desc.name, t.target);
        set_phase(inner, TransitionPhase::Started);
    }

    /// Completes the transition if every thread has switched; returns whether it completed.
    pub(crate) fn try_complete(inner: &mut Inner) -> bool {
        if current(inner).is_none() {
            return false;
        }
        complete(inner);
        true
    }

    /// Cancels a patching transition whose setup failed: it completes as an unpatching at once.
    pub(crate) fn cancel(inner: &mut Inner) {
        let Some((_, index)) = current(inner) else {
            return;
        };
        messages::canceling(inner.list[index].desc.name);
        if let Some(t) = inner.transition.as_mut() {
            t.target = TransitionTarget::Unpatched;
            t.unpatch_reason = UnpatchReason::Cancelled;
        }
        complete(inner);
    }

    /// Turns the transition around: patching becomes unpatching and the other way.
    pub(crate) fn reverse(inner: &mut Inner) {
        let Some((t, index)) = current(inner) else {
            return;
        };
        messages::reversing(inner.list[index].desc.name, t.target);
        let target = t.target.opposite();
        inner.list[index].enabled = target == TransitionTarget::Patched;
        if let Some(t) = inner.transition.as_mut() {
            t.target = target;
            if target == TransitionTarget::Unpatched {
                t.unpatch_reason = UnpatchReason::Reversed;
            }
        }
        Transition::start(inner);
        Transition::try_complete(inner);
    }
}

/// The transition and the list index of its patch.
fn current(inner: &Inner) -> Option<(Transition, usize)> {
    let t = inner.transition?;
    inner.index_of(t.patch).map(|index| (t, index))
}

fn set_phase(inner: &mut Inner, phase: TransitionPhase) {
    if let Some(t) = inner.transition.as_mut() {
        t.phase = phase;
    }
}

/// Every thread has switched: settle the functions, run the closing callbacks, and update the
/// list (SPEC §3, §4 step 6).
fn complete(inner: &mut Inner) {
    let Some((t, index)) = current(inner) else {
        return;
    };
    set_phase(inner, TransitionPhase::Completing);
    let desc = inner.list[index].desc;
    messages::completing(desc.name, t.target);

    let replacing = t.target == TransitionTarget::Patched && desc.replace;
    if replacing {
        // The replaced patches are unpatched silently: no callbacks for them.
        for older in &mut inner.list[..index] {
            older.enabled = false;
            older.objects.iter_mut().for_each(|o| o.patched = false);
        }
    }
    if t.target == TransitionTarget::Unpatched {
        let patch = &mut inner.list[index];
        patch.objects.iter_mut().for_each(|o| o.patched = false);
    }

    for (o, object) in desc.objects.iter().enumerate() {
        if !inner.is_loaded(object.name) {
            continue;
        }
        match t.target {
            TransitionTarget::Patched => callback::run_post_patch(&mut inner.list, index, o),
            TransitionTarget::Unpatched => {
                callback::run_post_unpatch(&mut inner.list, index, o, t.unpatch_reason)
            }
        }
    }
    messages::complete(desc.name, t.target);
    inner.transition = None;

    match t.target {
        TransitionTarget::Unpatched => inner.remove_patch(index),
        TransitionTarget::Patched if replacing => {
            for _ in 0..index {
                inner.remove_patch(0);
            }
        }
        TransitionTarget::Patched => {}
    }
}
