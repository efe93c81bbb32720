//! The patch list and the operations on it: enable, the per-patch `enabled` switch, and the busy
//! and ordering rules around them.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, TryLockError, Weak};

use crate::callback::{self, ObjectState};
use crate::descriptor::{ObjectName, PatchDesc};
use crate::error::{DescriptorError, EnableError, Reentered, SetEnabledError};
use crate::func::FuncDesc;
use crate::func::FuncOwner;
use crate::messages;
use crate::state::{self, Data, StateSlot};
use crate::status::Snapshot;
use crate::transition::{Transition, TransitionTarget};
use crate::waits::{Holding, Waiting};

/// A patch on the list: its descriptor and everything the runtime tracks about it.
pub(crate) struct PatchEntry {
    /// Tells apart two enables of the same descriptor.
    pub(crate) instance: u64,
    pub(crate) desc: &'static PatchDesc,
    /// The kernel's `patch->enabled`: the target of the patch's transition, or its settled state.
    pub(crate) enabled: bool,
    /// Parallel to `desc.objects`.
    pub(crate) objects: Vec<ObjectEntry>,
    /// Parallel to `desc.states`; emptied when the patch leaves the list.
    pub(crate) states: Vec<StateSlot>,
    /// Set when a forced transition marked the patch (SPEC §6).
    pub(crate) forced: bool,
}

/// The run-time side of one object of a patch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ObjectEntry {
    pub(crate) patched: bool,
    /// Set by a successful `pre_patch`, cleared when `post_unpatch` runs (the kernel's flag).
    pub(crate) post_unpatch_enabled: bool,
}

/// Everything behind the runtime's lock.
pub(crate) struct Inner {
    /// The runtime's identity, unique in the process.
    pub(crate) runtime: u64,
    /// The runtime itself, for the thread that drives transitions to completion.
    pub(crate) shared: Weak<Shared>,
    pub(crate) list: Vec<PatchEntry>,
    /// Named objects currently loaded; the program itself always is.
    pub(crate) loaded: BTreeSet<String>,
    pub(crate) transition: Option<Transition>,
    next_instance: u64,
    /// State data nobody holds any more, dropped once the lock is released.
    pub(crate) graveyard: Vec<Data>,
    /// Ids of states that no patch on the list declares any more since the lock was taken.
    pub(crate) released_states: Vec<(u64, u64)>,
    /// The names of the patches ever marked forced, in the order marked.
    pub(crate) forced: Vec<&'static str>,
    /// The threads started to drive transitions, joined when the runtime is dropped.
    pub(crate) drivers: Vec<std::thread::JoinHandle<()>>,
    /// Set when the runtime is dropped: drivers stop at their next look.
    pub(crate) closed: bool,
}

impl PatchEntry {
    /// The functions of the objects the patch is applied to.
    pub(crate) fn patched_functions(&self) -> impl Iterator<Item = &'static FuncDesc> + '_ {
        self.desc
            .objects
            .iter()
            .zip(&self.objects)
            .filter(|(_, o)| o.patched)
            .flat_map(|(d, _)| d.functions)
    }
}

impl Inner {
    /// The owner of patch `index`'s entries in function slots.
    pub(crate) fn owner(&self, index: usize) -> FuncOwner {
        FuncOwner {
            runtime: self.runtime,
            instance: self.list[index].instance,
        }
    }

    pub(crate) fn is_loaded(&self, object: ObjectName) -> bool {
        match object {
            ObjectName::Program => true,
            ObjectName::Named(name) => self.loaded.contains(name),
        }
    }

    pub(crate) fn index_of(&self, instance: u64) -> Option<usize> {
        self.list.iter().position(|p| p.instance == instance)
    }

    fn index_by_name(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|p| p.desc.name == name)
    }

    /// Whether the patch instance `instance` is the one in transition.
    pub(crate) fn in_transition(&self, instance: u64) -> bool {
        self.transition
            .as_ref()
            .is_some_and(|t| t.patch == instance)
    }

    /// The direction of the transition in progress, if any.
    pub(crate) fn direction(&self) -> Option<TransitionTarget> {
        self.transition.as_ref().map(|t| t.target)
    }

    /// The name of the patch in transition, if any.
    pub(crate) fn busy_with(&self) -> Option<&'static str> {
        crate::transition::current(self).map(|(_, i)| self.list[i].desc.name)
    }

    /// Removes patch `index` from the list, settling its state data.
    pub(crate) fn remove_patch(&mut self, index: usize) {
        state::release_patch(&mut self.list, index, &mut self.graveyard);
        let gone = self.list.remove(index);
        for state in gone.desc.states {
            if !self.list.iter().any(|p| p.desc.state(state.id).is_some()) {
                let generation = crate::shadow::state_releasing(self.runtime, state.id);
                self.released_states.push((state.id, generation));
            }
        }
    }
}

impl Drop for Inner {
    /// A runtime that goes away takes its patches with it, silently (no callbacks): every
    /// function it replaced runs what other runtimes' patches, or the original, say; its states
    /// are released; their data is dropped with the list.
    fn drop(&mut self) {
        let touched = self
            .transition
            .take()
            .map(|t| t.touched)
            .unwrap_or_default();
        let slots = self
            .list
            .iter()
            .flat_map(|p| p.desc.objects)
            .flat_map(|o| o.functions)
            .map(|f| f.slot())
            .chain(touched);
        for slot in slots {
            slot.remove_runtime(self.runtime);
            slot.publish(self.runtime, None);
        }
        // Its states are released too: shadow variables tied to them go.
        let mut states: Vec<u64> = self
            .list
            .iter()
            .flat_map(|p| p.desc.states)
            .map(|s| s.id)
            .collect();
        states.sort_unstable();
        states.dedup();
        for state in states {
            crate::shadow::state_released(self.runtime, state);
        }
        crate::shadow::runtime_dropped(self.runtime);
        // State data is user data: its `Drop` runs contained, as everywhere else.
        let data = self
            .list
            .iter_mut()
            .flat_map(|p| &mut p.states)
            .filter_map(|s| s.data.take())
            .chain(std::mem::take(&mut self.graveyard));
        for data in data {
            drop_contained(data);
        }
    }
}

/// Drops state data, logging a panic of its `Drop` instead of letting it unwind.
pub(crate) fn drop_contained(data: Data) {
    if let Err(panic) = callback::contained(|| drop(data)) {
        messages::drop_panicked(&panic);
    }
}

static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The runtimes whose lock this thread holds, to refuse re-entry from callbacks instead of
    /// deadlocking.
    static HELD: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as holding a runtime's lock while it lives.
struct HeldMark(u64);

impl HeldMark {
    fn enter(runtime: u64) -> Result<Self, Reentered> {
        HELD.with_borrow_mut(|held| {
            if held.contains(&runtime) {
                Err(Reentered::OwnCallback)
            } else {
                held.push(runtime);
                Ok(HeldMark(runtime))
            }
        })
    }
}

impl Drop for HeldMark {
    fn drop(&mut self) {
        HELD.with_borrow_mut(|held| held.retain(|&r| r != self.0));
    }
}

/// A livepatch runtime: the patch list, the loaded objects and the transition in progress.
///
/// Most programs use the one [`Runtime::global`] instance; tests and embedders may create as many
/// independent runtimes as they like.
///
/// ```
/// use livepatch::prelude::*;
///
/// #[livepatch]
/// pub mod fix {}
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let rt = Runtime::new();
///     rt.enable(&fix::PATCH)?;
///     assert!(rt.patch("fix").is_some_and(|p| p.enabled && p.stack_order == 1));
///     rt.disable("fix")?;
///     assert!(rt.patch("fix").is_none());
///     Ok(())
/// }
/// ```
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
}

/// What a runtime and the thread driving its transitions share.
pub(crate) struct Shared {
    id: u64,
    inner: Mutex<Inner>,
    status: Mutex<Arc<Snapshot>>,
    /// Signalled whenever an operation ends with no transition in progress.
    settled: Condvar,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.shared.id)
            .finish()
    }
}

impl Runtime {
    /// A new runtime with no patches and no named objects loaded.
    pub fn new() -> Self {
        let id = NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new_cyclic(|me| Shared {
            id,
            inner: Mutex::new(Inner {
                runtime: id,
                shared: me.clone(),
                list: Vec::new(),
                loaded: BTreeSet::new(),
                transition: None,
                next_instance: 0,
                graveyard: Vec::new(),
                released_states: Vec::new(),
                forced: Vec::new(),
                drivers: Vec::new(),
                closed: false,
            }),
            status: Mutex::new(Arc::default()),
            settled: Condvar::new(),
        });
        Runtime { shared }
    }

    /// This runtime's identity, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.shared.id
    }

    /// Whether this thread is inside one of this runtime's operations (running its callbacks).
    pub(crate) fn held_by_current_thread(&self) -> bool {
        HELD.with_borrow(|held| held.contains(&self.shared.id))
    }

    /// The process-wide runtime.
    pub fn global() -> &'static Runtime {
        static GLOBAL: OnceLock<Runtime> = OnceLock::new();
        GLOBAL.get_or_init(Runtime::new)
    }

    pub(crate) fn locked<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Result<R, Reentered> {
        self.shared.locked(f)
    }

    /// The status as of the end of the last operation.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot()
    }

    /// Enables a patch: checks it, runs `pre_patch` for every loaded object, and starts the patching
    /// transition (SPEC §4). Returns once the transition has started; it completes when every
    /// thread has switched (at once, when no thread is inside a function the patch changes), on a
    /// thread of the runtime's own; [`Runtime::wait_transition`] waits for that.
    ///
    /// Fails, changing nothing and running no callback, when a patch of that name is on the list,
    /// when the descriptor is invalid, when the patch is not compatible with the installed states,
    /// or when another patch is in transition, checked in that order. When a `pre_patch` fails the
    /// enable is cancelled: objects whose `pre_patch` succeeded get `post_unpatch`, and the patch
    /// leaves the list.
    pub fn enable(&self, desc: &'static PatchDesc) -> Result<(), EnableError> {
        let _in = messages::operation!("enable", patch = desc.name);
        self.locked(|inner| enable_locked(inner, desc))?
    }

    /// Sets a patch's `enabled` switch, as writing the kernel's sysfs `enabled` file: `false` on an
    /// enabled patch starts its disable; the opposite of the current value on the patch in
    /// transition reverses that transition.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), SetEnabledError> {
        let _in = messages::operation!("set_enabled", patch = name, enabled);
        self.locked(|inner| set_enabled_locked(inner, name, enabled))?
    }

    /// Disables a patch: `set_enabled(name, false)`.
    pub fn disable(&self, name: &str) -> Result<(), SetEnabledError> {
        self.set_enabled(name, false)
    }
}

impl Drop for Runtime {
    /// Stops the runtime's driver threads and waits for them, so that once `drop` returns no
    /// code of this runtime runs any more: a transition a driver was completing completes
    /// before, one in progress is abandoned with the runtime (see `Inner`'s `Drop`).
    fn drop(&mut self) {
        let drivers = self
            .locked(|inner| {
                inner.closed = true;
                std::mem::take(&mut inner.drivers)
            })
            .unwrap_or_default();
        let me = std::thread::current().id();
        for driver in drivers {
            if driver.thread().id() != me {
                driver.thread().unpark();
                // A driver contains every panic of user code; an `Err` here would be one of
                // ours, and the runtime is going away either way.
                let _ = driver.join();
            }
        }
    }
}

impl Shared {
    /// Runs `f` with the list locked, publishes the new status, then drops whatever state data
    /// `f` released, outside the lock and with panics contained.
    pub(crate) fn locked<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Result<R, Reentered> {
        let mark = HeldMark::enter(self.id)?;
        let (result, graveyard, released) = {
            // Callbacks run inside `catch_unwind`, so a poisoned lock only means a panic in our
            // own bookkeeping; the data is still consistent enough to go on.
            let mut inner = match self.inner.try_lock() {
                Ok(inner) => inner,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // Only a thread that holds another runtime already can close a cycle.
                    let waiting = match HELD.with_borrow(|held| held.len() > 1) {
                        true => Some(Waiting::start(self.id)?),
                        false => None,
                    };
                    let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                    drop(waiting);
                    inner
                }
            };
            // Declared after the guard, so dropped before it: the record ends while the lock is
            // still held.
            let _holding = Holding::start(self.id);
            let result = f(&mut inner);
            let snapshot = Snapshot::of(&inner);
            let settled = inner.transition.is_none();
            *self.status.lock().unwrap_or_else(PoisonError::into_inner) = snapshot;
            if settled {
                self.settled.notify_all();
            }
            (
                result,
                std::mem::take(&mut inner.graveyard),
                std::mem::take(&mut inner.released_states),
            )
        };
        drop(mark);
        graveyard.into_iter().for_each(drop_contained);
        for (state, generation) in released {
            crate::shadow::state_generation_released(self.id, state, generation);
        }
        Ok(result)
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.status.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits until no transition is in progress, for at most `timeout`; returns whether none is.
    pub(crate) fn wait_settled(&self, timeout: std::time::Duration) -> bool {
        let status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let (status, _) = self
            .settled
            .wait_timeout_while(status, timeout, |s| s.in_transition())
            .unwrap_or_else(PoisonError::into_inner);
        !status.in_transition()
    }
}

fn validate(desc: &'static PatchDesc) -> Result<(), DescriptorError> {
    if desc.name.is_empty() {
        return Err(DescriptorError::EmptyName);
    }
    for (i, state) in desc.states.iter().enumerate() {
        if state.id == 0 {
            return Err(DescriptorError::ZeroStateId { patch: desc.name });
        }
        if desc.states[..i].iter().any(|s| s.id == state.id) {
            return Err(DescriptorError::DuplicateStateId {
                patch: desc.name,
                state: state.label(),
            });
        }
    }
    for (i, object) in desc.objects.iter().enumerate() {
        if let Some(name) = object.name.unloadable_name() {
            return Err(DescriptorError::UnloadableObject {
                patch: desc.name,
                object: name,
            });
        }
        let unloadable = |f: &FuncDesc| Some((f.name(), f.object().unloadable_name()?));
        if let Some((function, name)) = object.functions.iter().find_map(unloadable) {
            return Err(DescriptorError::FunctionOfUnloadableObject {
                patch: desc.name,
                function,
                object: name,
            });
        }
        if desc.objects[..i].iter().any(|o| o.name == object.name) {
            return Err(DescriptorError::DuplicateObject {
                patch: desc.name,
                object: object.name,
            });
        }
        for func in object.functions {
            if func.object() != object.name {
                return Err(DescriptorError::FunctionInWrongObject {
                    patch: desc.name,
                    function: func.name(),
                    listed: object.name,
                    belongs: func.object(),
                });
            }
        }
    }
    let mut slots: Vec<(usize, &'static str)> = desc
        .objects
        .iter()
        .flat_map(|o| o.functions)
        .map(|f| (f.slot().id(), f.name()))
        .collect();
    // Stable, so the function named is the first one listed twice.
    slots.sort_by_key(|&(id, _)| id);
    if let Some(pair) = slots.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DescriptorError::DuplicateFunction {
            patch: desc.name,
            function: pair[0].1,
        });
    }
    Ok(())
}

/// The checks of an enable that come before it changes anything, in their order (SPEC §4):
/// the error `enable` answers, if any.
pub(crate) fn admission(inner: &Inner, desc: &'static PatchDesc) -> Result<(), EnableError> {
    if inner.index_by_name(desc.name).is_some() {
        return Err(EnableError::AlreadyExists(desc.name));
    }
    validate(desc)?;
    let conflicts = state::conflicts(desc, inner.list.iter().map(|p| p.desc));
    if !conflicts.is_empty() {
        return Err(EnableError::Incompatible {
            patch: desc.name,
            conflicts,
        });
    }
    if let Some(in_transition) = inner.busy_with() {
        return Err(EnableError::Busy {
            patch: desc.name,
            in_transition,
        });
    }
    Ok(())
}

fn enable_locked(inner: &mut Inner, desc: &'static PatchDesc) -> Result<(), EnableError> {
    if let Err(refusal) = admission(inner, desc) {
        if matches!(refusal, EnableError::Incompatible { .. }) {
            messages::not_compatible(desc.name);
        }
        return Err(refusal);
    }
    let lane = Transition::lane_for(inner, desc, TransitionTarget::Patched)
        .ok_or(EnableError::NoLane(desc.name))?;

    messages::enabling(desc.name);
    inner.next_instance += 1;
    let instance = inner.next_instance;
    inner.list.push(PatchEntry {
        instance,
        desc,
        enabled: false,
        objects: vec![ObjectEntry::default(); desc.objects.len()],
        states: desc.states.iter().map(|_| StateSlot::default()).collect(),
        forced: false,
    });
    let index = inner.list.len() - 1;
    Transition::init(inner, instance, TransitionTarget::Patched, lane);

    for (o, object) in desc.objects.iter().enumerate() {
        if !inner.is_loaded(object.name) {
            continue;
        }
        let failed = match callback::run_pre_patch(
            inner.direction(),
            &mut inner.list,
            index,
            o,
            ObjectState::Live,
        ) {
            Err(source) => {
                messages::pre_patch_failed(desc.name, object.name, &source);
                Some(EnableError::PrePatchFailed {
                    patch: desc.name,
                    object: object.name,
                    source,
                })
            }
            Ok(()) => crate::object::patch_object(inner, index, o)
                .err()
                .map(|function| {
                    messages::failed_to_patch(desc.name, object.name);
                    EnableError::PatchFailed {
                        patch: desc.name,
                        object: object.name,
                        function,
                    }
                }),
        };
        if let Some(error) = failed {
            messages::enable_failed(desc.name);
            Transition::cancel(inner);
            return Err(error);
        }
    }

    if let Err((object, function)) = crate::object::add_replace_nops(inner, index) {
        messages::failed_to_patch(desc.name, object);
        messages::enable_failed(desc.name);
        Transition::cancel(inner);
        return Err(EnableError::PatchFailed {
            patch: desc.name,
            object,
            function,
        });
    }
    inner.list[index].enabled = true;
    Transition::start(inner);
    Transition::try_complete(inner);
    Ok(())
}

fn set_enabled_locked(inner: &mut Inner, name: &str, enabled: bool) -> Result<(), SetEnabledError> {
    let index = inner
        .index_by_name(name)
        .ok_or_else(|| SetEnabledError::NotFound {
            name: name.to_owned(),
            did_you_mean: crate::error::closest(name, inner.list.iter().map(|p| p.desc.name)),
        })?;
    let patch = &inner.list[index];
    let patch_name = patch.desc.name;
    if patch.enabled == enabled {
        return Err(SetEnabledError::Unchanged {
            patch: patch_name,
            enabled,
        });
    }
    if inner.in_transition(patch.instance) {
        Transition::reverse(inner);
        return Ok(());
    }
    // Every patch on the list that is not in transition is enabled, so `enabled` is `false` here:
    // a disabled patch is never re-enabled, only its transition reversed.
    if let Some(in_transition) = inner.busy_with() {
        return Err(SetEnabledError::Busy {
            patch: patch_name,
            in_transition,
        });
    }
    let slots = patch.patched_functions().map(|f| f.slot());
    crate::func::changed_by_other(inner.runtime, slots).map_err(|function| {
        SetEnabledError::FunctionBusy {
            patch: patch_name,
            function,
        }
    })?;
    let lane = Transition::lane_for(inner, patch.desc, TransitionTarget::Unpatched)
        .ok_or(SetEnabledError::NoLane(patch_name))?;
    let instance = patch.instance;
    Transition::init(inner, instance, TransitionTarget::Unpatched, lane);
    for o in 0..inner.list[index].objects.len() {
        if inner.list[index].objects[o].patched {
            callback::run_pre_unpatch(
                inner.direction(),
                &mut inner.list,
                index,
                o,
                ObjectState::Live,
            );
        }
    }
    inner.list[index].enabled = false;
    Transition::start(inner);
    Transition::try_complete(inner);
    Ok(())
}
