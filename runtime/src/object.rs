//! Objects: loading and unloading named objects while patches are enabled, with their callbacks,
//! and patching or unpatching one object of one patch (its functions).

use crate::callback::{self, ObjectState, UnpatchReason};
use crate::core::{Inner, Runtime};
use crate::descriptor::ObjectName;
use crate::error::{LoadObjectError, UnloadObjectError};
use crate::func;
use crate::messages;
use crate::transition::TransitionTarget;

impl Runtime {
    /// Loads a named object: every patch on the list that has it is applied to it, in list order,
    /// with its `pre_patch` and (unless the patch is in transition) `post_patch` callbacks.
    ///
    /// If a patch's `pre_patch` fails, the load is refused: the patches already applied to the
    /// object are reverted and the object stays unloaded.
    pub fn load_object(&self, name: &str) -> Result<(), LoadObjectError> {
        let _in = messages::operation!("load_object", object = name);
        if !crate::descriptor::is_loadable_name(name) {
            return Err(LoadObjectError::InvalidName(name.to_owned()));
        }
        self.locked(|inner| load_locked(inner, name))?
    }

    /// Unloads a named object: every patch applied to it is reverted, in list order, with its
    /// `pre_unpatch` (unless the patch is in transition) and `post_unpatch` callbacks.
    pub fn unload_object(&self, name: &str) -> Result<(), UnloadObjectError> {
        let _in = messages::operation!("unload_object", object = name);
        if !crate::descriptor::is_loadable_name(name) {
            return Err(UnloadObjectError::InvalidName(name.to_owned()));
        }
        self.locked(|inner| {
            if !inner.loaded.contains(name) {
                return Err(UnloadObjectError::NotLoaded(name.to_owned()));
            }
            let patches: Vec<u64> = inner.list.iter().map(|p| p.instance).collect();
            revert_object(
                inner,
                name,
                &patches,
                ObjectState::Going,
                UnpatchReason::ObjectUnloaded,
            );
            inner.loaded.remove(name);
            Ok(())
        })?
    }
}

/// The index of the object named `name` among patch `patch`'s objects.
fn object_index(inner: &Inner, patch: usize, name: &str) -> Option<usize> {
    inner.list[patch]
        .desc
        .objects
        .iter()
        .position(|o| matches!(o.name, ObjectName::Named(n) if n == name))
}

/// Applies object `object` of patch `patch`: its replacement functions join their slots' stacks.
/// Fails, changing nothing, with the name of a function that another runtime is changing.
pub(crate) fn patch_object(
    inner: &mut Inner,
    patch: usize,
    object: usize,
) -> Result<(), &'static str> {
    let funcs = inner.list[patch].desc.objects[object].functions;
    let owner = inner.owner(patch);
    let transition = inner.func_transition();
    func::apply(owner, funcs, transition)?;
    if inner.in_transition(inner.list[patch].instance) {
        for f in funcs {
            inner.touch(f.slot());
        }
    }
    inner.list[patch].objects[object].patched = true;
    Ok(())
}

/// Reverts object `object` of patch `patch`: its functions leave their slots' stacks.
fn unpatch_object(inner: &mut Inner, patch: usize, object: usize) {
    let funcs = inner.list[patch].desc.objects[object].functions;
    let owner = inner.owner(patch);
    func::revert(owner, funcs, inner.func_transition());
    inner.list[patch].objects[object].patched = false;
}

/// While replace patch `patch` is patching: every function that an older patch replaced in a
/// loaded object, and that `patch` does not, gets a nop entry that restores the original for the
/// threads that switch (the kernel's nop functions). Fails, adding none, with the object and name
/// of such a function that another runtime's transition is changing.
pub(crate) fn add_replace_nops(
    inner: &mut Inner,
    patch: usize,
) -> Result<(), (ObjectName, &'static str)> {
    let Some(t) = inner.transition.as_ref() else {
        return Ok(());
    };
    let replacing = inner.list[patch].desc.replace
        && t.patch == inner.list[patch].instance
        && t.target == TransitionTarget::Patched;
    if !replacing {
        return Ok(());
    }
    let slots: Vec<_> = inner.list[..patch]
        .iter()
        .flat_map(|older| older.patched_functions())
        .map(|f| f.slot())
        .collect();
    let owner = inner.owner(patch);
    let added = func::add_nops(owner, slots, inner.func_transition())
        .map_err(|busy| (busy.object(), busy.name()))?;
    for slot in added {
        inner.touch(slot);
    }
    Ok(())
}

fn load_locked(inner: &mut Inner, name: &str) -> Result<(), LoadObjectError> {
    if inner.loaded.contains(name) {
        return Err(LoadObjectError::AlreadyLoaded(name.to_owned()));
    }
    inner.loaded.insert(name.to_owned());
    let mut applied = Vec::new();
    for p in 0..inner.list.len() {
        let Some(o) = object_index(inner, p, name) else {
            continue;
        };
        let patch = inner.list[p].desc.name;
        let object = inner.list[p].desc.objects[o].name;
        messages::applying_to_loading(patch, object);
        let refused = match callback::run_pre_patch(
            inner.direction(),
            &mut inner.list,
            p,
            o,
            ObjectState::Coming,
        ) {
            Err(source) => {
                messages::pre_patch_failed(patch, object, &source);
                Some(LoadObjectError::Refused {
                    patch,
                    object: name.to_owned(),
                    source,
                })
            }
            Ok(()) => patch_object(inner, p, o)
                .and_then(|()| {
                    add_replace_nops(inner, p).map_err(|(_, function)| {
                        unpatch_object(inner, p, o);
                        function
                    })
                })
                .err()
                .map(|function| {
                    messages::failed_to_apply(patch, object);
                    // Nothing of this patch was applied, but its pre_patch succeeded: undo that with
                    // its post_unpatch, as a cancelled enable does and as the kernel does here.
                    callback::run_post_unpatch(
                        inner.direction(),
                        &mut inner.list,
                        p,
                        o,
                        ObjectState::Coming,
                        UnpatchReason::LoadRefused,
                    );
                    LoadObjectError::PatchFailed {
                        patch,
                        object: name.to_owned(),
                        function,
                    }
                }),
        };
        if let Some(error) = refused {
            messages::load_refused(patch, object);
            revert_object(
                inner,
                name,
                &applied,
                ObjectState::Coming,
                UnpatchReason::LoadRefused,
            );
            inner.loaded.remove(name);
            return Err(error);
        }
        let instance = inner.list[p].instance;
        applied.push(instance);
        if !inner.in_transition(instance) {
            callback::run_post_patch(
                inner.direction(),
                &mut inner.list,
                p,
                o,
                ObjectState::Coming,
            );
        }
    }
    Ok(())
}

/// Reverts the patches `instances` (in list order) on object `name`, as the object goes away.
fn revert_object(
    inner: &mut Inner,
    name: &str,
    instances: &[u64],
    state: ObjectState,
    reason: UnpatchReason,
) {
    for &instance in instances {
        let Some(p) = inner.index_of(instance) else {
            continue;
        };
        let Some(o) = object_index(inner, p, name) else {
            continue;
        };
        if !inner.in_transition(instance) {
            callback::run_pre_unpatch(inner.direction(), &mut inner.list, p, o, state);
        }
        let object = inner.list[p].desc.objects[o].name;
        messages::reverting_on_unload(inner.list[p].desc.name, object);
        unpatch_object(inner, p, o);
        callback::run_post_unpatch(inner.direction(), &mut inner.list, p, o, state, reason);
    }
}
