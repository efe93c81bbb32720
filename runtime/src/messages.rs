//! Every message the runtime logs, in one place, with the levels and texts of the kernel's
//! livepatch core. Events go to `tracing` with target `livepatch`, so a patch's own callbacks,
//! logging under their own target, interleave with them in one trace. Besides the kernel's text,
//! each event carries what it is about as fields: `patch`, `object`, `direction` (`patching` or
//! `unpatching`) and, for a failure, `error`.

use std::sync::Arc;

use tracing::Span;

use crate::descriptor::{DataType, ObjectName, StateDesc};
use crate::error::{CallbackError, Chain};
use crate::transition::TransitionTarget;

/// The `tracing` target of every runtime message.
pub const TARGET: &str = "livepatch";

/// Logs one event under [`TARGET`]. A subscriber is user code: should it panic, the event is
/// lost and the operation that logged it goes on whole.
macro_rules! event {
    ($level:ident, $($message:tt)+) => {
        $crate::messages::emit(|| tracing::$level!(target: $crate::messages::TARGET, $($message)+))
    };
}
pub(crate) use event;

/// Runs `log`, containing a panic of the subscriber.
pub(crate) fn emit(log: impl FnOnce()) {
    // Nowhere is left to report such a panic: the subscriber is what panicked.
    let _ = crate::callback::contained(log);
}

/// A span of the runtime's (an operation, or a transition), whose every call into the
/// subscriber (creating, entering, leaving and closing it) is contained as an event's is.
/// Clones share the one span.
#[derive(Clone)]
pub(crate) struct Scope(Arc<ContainedSpan>);

struct ContainedSpan(Span);

impl Drop for ContainedSpan {
    fn drop(&mut self) {
        let span = std::mem::replace(&mut self.0, Span::none());
        emit(|| drop(span));
    }
}

impl Scope {
    /// The span `make` creates, or none if the subscriber panicked creating it.
    pub(crate) fn new(make: impl FnOnce() -> Span) -> Scope {
        let span = crate::callback::contained(make).unwrap_or_else(|_| Span::none());
        Scope(Arc::new(ContainedSpan(span)))
    }

    /// Enters the span until the guard drops.
    pub(crate) fn enter(&self) -> Entered {
        let entered = crate::callback::contained(|| {
            self.0
                .0
                .with_subscriber(|(id, dispatch)| dispatch.enter(id))
                .is_some()
        })
        .unwrap_or(false);
        Entered {
            scope: self.clone(),
            entered,
        }
    }
}

/// The span of an operation of the runtime's API, named after it, with the operation's fields.
macro_rules! operation {
    ($name:literal $(, $($field:tt)+)?) => {
        $crate::messages::Scope::new(|| {
            tracing::info_span!(target: $crate::messages::TARGET, $name $(, $($field)+)?)
        })
        .enter()
    };
}
pub(crate) use operation;

/// The span of a transition: a root of its own, entered by whichever thread works on it.
pub(crate) fn transition_scope(patch: &str, target: TransitionTarget) -> Scope {
    Scope::new(|| {
        tracing::info_span!(
            target: TARGET,
            parent: None,
            "transition",
            patch,
            direction = %target
        )
    })
}

/// A span entered, left when this drops.
pub(crate) struct Entered {
    scope: Scope,
    entered: bool,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self.entered {
            let span = &self.scope.0.0;
            emit(|| {
                span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
            });
        }
    }
}

pub(crate) fn enabling(patch: &str) {
    event!(info, patch, "enabling patch '{patch}'");
}

pub(crate) fn not_compatible(patch: &str) {
    event!(
        error,
        patch,
        "Livepatch patch ({patch}) is not compatible with the already installed livepatches."
    );
}

pub(crate) fn initializing(patch: &str, target: TransitionTarget) {
    event!(debug, patch, direction = %target, "'{patch}': initializing {target} transition");
}

pub(crate) fn starting(patch: &str, target: TransitionTarget) {
    event!(info, patch, direction = %target, "'{patch}': starting {target} transition");
}

pub(crate) fn completing(patch: &str, target: TransitionTarget) {
    event!(debug, patch, direction = %target, "'{patch}': completing {target} transition");
}

pub(crate) fn complete(patch: &str, target: TransitionTarget) {
    event!(info, patch, direction = %target, "'{patch}': {target} complete");
}

pub(crate) fn reversing(patch: &str, from: TransitionTarget) {
    let path = match from {
        TransitionTarget::Patched => "patching to unpatching",
        TransitionTarget::Unpatched => "unpatching to patching",
    };
    event!(debug, patch, direction = %from.opposite(), "'{patch}': reversing transition from {path}");
}

pub(crate) fn pre_patch_failed(patch: &str, object: ObjectName, error: &CallbackError) {
    event!(
        warn,
        patch,
        object = %object,
        error = %Chain(error),
        "pre-patch callback failed for object '{object}'"
    );
}

pub(crate) fn enable_failed(patch: &str) {
    event!(warn, patch, "failed to enable patch '{patch}'");
}

pub(crate) fn canceling(patch: &str) {
    event!(
        debug,
        patch,
        direction = "unpatching",
        "'{patch}': canceling patching transition, going to unpatch"
    );
}

pub(crate) fn applying_to_loading(patch: &str, object: ObjectName) {
    event!(
        info,
        patch,
        object = %object,
        "applying patch '{patch}' to loading module '{object}'"
    );
}

pub(crate) fn load_refused(patch: &str, object: ObjectName) {
    event!(
        warn,
        patch,
        object = %object,
        "patch '{patch}' failed for module '{object}', refusing to load module '{object}'"
    );
}

pub(crate) fn reverting_on_unload(patch: &str, object: ObjectName) {
    event!(
        info,
        patch,
        object = %object,
        "reverting patch '{patch}' on unloading module '{object}'"
    );
}

pub(crate) fn callback_panicked(callback: &str, patch: &str, object: ObjectName, panic: &str) {
    event!(
        error,
        patch,
        object = %object,
        error = panic,
        "'{patch}': {callback} callback for object '{object}' panicked: {panic}"
    );
}

pub(crate) fn data_not_taken_over(patch: &str, replaced: &str, state: &StateDesc) {
    event!(
        warn,
        patch,
        replaced,
        state = state.id(),
        "'{patch}' replaces '{replaced}' without taking over the data of {}, of type {}: the \
         data is dropped; take it over in a patching callback (take_over or take_over_or_init)",
        state.label(),
        state.data_type().name()
    );
}

pub(crate) fn state_type_differs(patch: &str, state: &StateDesc, wanted: DataType) {
    event!(
        warn,
        patch,
        state = state.id(),
        "'{patch}': {} holds data of type {}, and the handle asks for {}: the callback finds no \
         state; use a handle of the declared type",
        state.label(),
        state.data_type().name(),
        wanted.name()
    );
}

pub(crate) fn drop_panicked(panic: &str) {
    event!(
        error,
        error = panic,
        "dropping state data panicked: {panic}"
    );
}

pub(crate) fn failed_to_patch(patch: &str, object: ObjectName) {
    event!(warn, patch, object = %object, "failed to patch object '{object}'");
}

pub(crate) fn failed_to_apply(patch: &str, object: ObjectName) {
    event!(warn, patch, object = %object, "failed to apply patch '{patch}' to module '{object}'");
}

pub(crate) fn forcing(target: TransitionTarget) {
    let state = match target {
        TransitionTarget::Patched => "patched",
        TransitionTarget::Unpatched => "unpatched",
    };
    event!(warn, direction = %target, "forcing remaining tasks to the {state} state");
}
