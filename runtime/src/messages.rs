//! Every message the runtime logs, in one place, with the levels and texts of the kernel's
//! livepatch core. Events go to `tracing` with target `livepatch`, so a patch's own callbacks,
//! logging under their own target, interleave with them in one trace.

use crate::descriptor::ObjectName;
use crate::transition::TransitionTarget;

/// The `tracing` target of every runtime message.
pub const TARGET: &str = "livepatch";

pub(crate) fn enabling(patch: &str) {
    tracing::info!(target: TARGET, "enabling patch '{patch}'");
}

pub(crate) fn not_compatible(patch: &str) {
    tracing::error!(
        target: TARGET,
        "Livepatch patch ({patch}) is not compatible with the already installed livepatches."
    );
}

pub(crate) fn initializing(patch: &str, target: TransitionTarget) {
    tracing::debug!(target: TARGET, "'{patch}': initializing {target} transition");
}

pub(crate) fn starting(patch: &str, target: TransitionTarget) {
    tracing::info!(target: TARGET, "'{patch}': starting {target} transition");
}

pub(crate) fn completing(patch: &str, target: TransitionTarget) {
    tracing::debug!(target: TARGET, "'{patch}': completing {target} transition");
}

pub(crate) fn complete(patch: &str, target: TransitionTarget) {
    tracing::info!(target: TARGET, "'{patch}': {target} complete");
}

pub(crate) fn reversing(patch: &str, from: TransitionTarget) {
    let path = match from {
        TransitionTarget::Patched => "patching to unpatching",
        TransitionTarget::Unpatched => "unpatching to patching",
    };
    tracing::debug!(target: TARGET, "'{patch}': reversing transition from {path}");
}

pub(crate) fn pre_patch_failed(object: ObjectName) {
    tracing::warn!(target: TARGET, "pre-patch callback failed for object '{object}'");
}

pub(crate) fn enable_failed(patch: &str) {
    tracing::warn!(target: TARGET, "failed to enable patch '{patch}'");
}

pub(crate) fn canceling(patch: &str) {
    tracing::debug!(
        target: TARGET,
        "'{patch}': canceling patching transition, going to unpatch"
    );
}

pub(crate) fn applying_to_loading(patch: &str, object: ObjectName) {
    tracing::info!(target: TARGET, "applying patch '{patch}' to loading module '{object}'");
}

pub(crate) fn load_refused(patch: &str, object: ObjectName) {
    tracing::warn!(
        target: TARGET,
        "patch '{patch}' failed for module '{object}', refusing to load module '{object}'"
    );
}

pub(crate) fn reverting_on_unload(patch: &str, object: ObjectName) {
    tracing::info!(target: TARGET, "reverting patch '{patch}' on unloading module '{object}'");
}

pub(crate) fn callback_panicked(callback: &str, patch: &str, object: ObjectName, panic: &str) {
    tracing::error!(
        target: TARGET,
        "'{patch}': {callback} callback for object '{object}' panicked: {panic}"
    );
}

pub(crate) fn drop_panicked(panic: &str) {
    tracing::error!(target: TARGET, "dropping state data panicked: {panic}");
}

pub(crate) fn failed_to_patch(object: ObjectName) {
    tracing::warn!(target: TARGET, "failed to patch object '{object}'");
}

pub(crate) fn failed_to_apply(patch: &str, object: ObjectName) {
    tracing::warn!(target: TARGET, "failed to apply patch '{patch}' to module '{object}'");
}

pub(crate) fn forcing(target: TransitionTarget) {
    let state = match target {
        TransitionTarget::Patched => "patched",
        TransitionTarget::Unpatched => "unpatched",
    };
    tracing::warn!(target: TARGET, "forcing remaining tasks to the {state} state");
}
