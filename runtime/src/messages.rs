//! Every message the runtime logs, in one place, with the levels and texts of the kernel's
//! livepatch core. Events go to `tracing` with target `livepatch`, so a patch's own callbacks,
//! logging under their own target, interleave with them in one trace.
//!
//! Besides the kernel's text, the events of an operation carry structured fields for tools: the
//! `patch`, the `object`, the `direction` of a transition (`patching`, `unpatching`) and, for a
//! failed `pre_patch`, the callback's `error` with its causes. [`crate::Dmesg`] prints the text
//! alone, as the kernel does.

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

/// The span of one operation of the runtime (`enable`, `set_enabled`, `load_object`,
/// `unload_object`, `force`), entered until the guard is dropped, so that the operation's events
/// (and its callbacks' own) are seen inside it. Like events, the span is contained: a subscriber
/// that panics loses the span, not the operation.
pub(crate) struct Operation(Option<tracing::Span>);

pub(crate) fn operation(name: &'static str, subject: &str) -> Operation {
    let span = crate::callback::contained(|| match name {
        "enable" => tracing::info_span!(target: TARGET, "enable", patch = subject),
        "set_enabled" => tracing::info_span!(target: TARGET, "set_enabled", patch = subject),
        "load_object" => tracing::info_span!(target: TARGET, "load_object", object = subject),
        "unload_object" => tracing::info_span!(target: TARGET, "unload_object", object = subject),
        "force" => tracing::info_span!(target: TARGET, "force"),
        _ => tracing::Span::none(),
    })
    .ok();
    let entered = span.filter(|span| {
        crate::callback::contained(|| span.with_subscriber(|(id, dispatch)| dispatch.enter(id)))
            .is_ok()
    });
    Operation(entered)
}

impl Drop for Operation {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            let _ = crate::callback::contained(move || {
                span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
                drop(span);
            });
        }
    }
}

/// Runs `log`, containing a panic of the subscriber.
pub(crate) fn emit(log: impl FnOnce()) {
    // Nowhere is left to report such a panic: the subscriber is what panicked.
    let _ = crate::callback::contained(log);
}

pub(crate) fn enabling(patch: &str) {
    event!(info, patch, "enabling patch '{patch}'");
}

pub(crate) fn not_compatible(patch: &str) {
    event!(
        error,
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
    event!(debug, "'{patch}': reversing transition from {path}");
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
    event!(warn, "failed to enable patch '{patch}'");
}

pub(crate) fn canceling(patch: &str) {
    event!(
        debug,
        "'{patch}': canceling patching transition, going to unpatch"
    );
}

pub(crate) fn applying_to_loading(patch: &str, object: ObjectName) {
    event!(
        info,
        "applying patch '{patch}' to loading module '{object}'"
    );
}

pub(crate) fn load_refused(patch: &str, object: ObjectName) {
    event!(
        warn,
        "patch '{patch}' failed for module '{object}', refusing to load module '{object}'"
    );
}

pub(crate) fn reverting_on_unload(patch: &str, object: ObjectName) {
    event!(
        info,
        "reverting patch '{patch}' on unloading module '{object}'"
    );
}

pub(crate) fn callback_panicked(callback: &str, patch: &str, object: ObjectName, panic: &str) {
    event!(
        error,
        "'{patch}': {callback} callback for object '{object}' panicked: {panic}"
    );
}

pub(crate) fn data_not_taken_over(patch: &str, replaced: &str, state: &StateDesc) {
    event!(
        warn,
        "'{patch}' replaces '{replaced}' without taking over the data of {}, of type {}: the \
         data is dropped; take it over in a patching callback (take_over or take_over_or_init)",
        state.label(),
        state.data_type().name()
    );
}

pub(crate) fn state_type_differs(patch: &str, state: &StateDesc, wanted: DataType) {
    event!(
        warn,
        "'{patch}': {} holds data of type {}, and the handle asks for {}: the callback finds no \
         state; use a handle of the declared type",
        state.label(),
        state.data_type().name(),
        wanted.name()
    );
}

pub(crate) fn drop_panicked(panic: &str) {
    event!(error, "dropping state data panicked: {panic}");
}

pub(crate) fn failed_to_patch(object: ObjectName) {
    event!(warn, "failed to patch object '{object}'");
}

pub(crate) fn failed_to_apply(patch: &str, object: ObjectName) {
    event!(warn, "failed to apply patch '{patch}' to module '{object}'");
}

pub(crate) fn forcing(target: TransitionTarget) {
    let state = match target {
        TransitionTarget::Patched => "patched",
        TransitionTarget::Unpatched => "unpatched",
    };
    event!(warn, "forcing remaining tasks to the {state} state");
}
