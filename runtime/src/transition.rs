//! The transition engine: one patch at a time moves every thread from its old state to a target
//! state, through explicit phases, and may be reversed or forced on the way.
//!
//! A transition completes when every thread has switched to the target state (SPEC §7). Patches
//! that replace no function switch no thread and complete at once. For the others, the runtime
//! switches the threads that are outside every function the transition changes, and a thread of
//! its own (the driver) completes the transition as soon as the last thread has switched; threads
//! that leave such a function switch themselves and wake the driver.

use std::fmt;
use std::sync::Weak;
use std::time::Duration;

use crate::callback::{self, ObjectState, UnpatchReason};
use crate::core::{Inner, Shared};
use crate::descriptor::PatchDesc;
use crate::func::thread::Lane;
use crate::func::{FuncInTransition, FuncTransition, Slot};
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
    pub(crate) fn opposite(self) -> Self {
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
pub(crate) struct Transition {
    /// The instance of the patch in transition.
    pub(crate) patch: u64,
    pub(crate) target: TransitionTarget,
    pub(crate) phase: TransitionPhase,
    /// What `post_unpatch` callbacks are told if the transition completes as an unpatching.
    unpatch_reason: UnpatchReason,
    /// The function side, when the transition changes functions.
    pub(crate) funcs: Option<FuncTransition>,
    /// Every slot the transition changed, to settle at completion.
    pub(crate) touched: Vec<&'static dyn Slot>,
    /// The subscriber of the thread that started the transition: the driver logs to it too.
    dispatch: tracing::Dispatch,
    /// The transition's span, entered by every thread that works on it.
    scope: messages::Scope,
    driver_started: bool,
}

impl Transition {
    /// The lane a transition of `desc` towards `target` needs: `Some(None)` when it changes no
    /// function, `None` when it needs one and none is free.
    pub(crate) fn lane_for(
        inner: &Inner,
        desc: &PatchDesc,
        target: TransitionTarget,
    ) -> Option<Option<Lane>> {
        let replaces_functions = target == TransitionTarget::Patched
            && desc.is_replace()
            && inner.list.iter().any(|p| p.desc.has_functions());
        if !desc.has_functions() && !replaces_functions {
            return Some(None);
        }
        Lane::acquire(target == TransitionTarget::Patched).map(Some)
    }

    /// Makes `patch` the patch in transition, towards `target`.
    pub(crate) fn init(
        inner: &mut Inner,
        patch: u64,
        target: TransitionTarget,
        lane: Option<Lane>,
    ) {
        let Some(index) = inner.index_of(patch) else {
            return;
        };
        let name = inner.list[index].desc.name;
        let owner = inner.owner(index);
        inner.transition = Some(Transition {
            patch,
            target,
            phase: TransitionPhase::Initializing,
            unpatch_reason: UnpatchReason::Disabled,
            funcs: lane.map(|lane| FuncTransition { lane, owner }),
            touched: Vec::new(),
            dispatch: tracing::dispatcher::get_default(Clone::clone),
            scope: messages::transition_scope(name, target),
            driver_started: false,
        });
        let _in = in_scope(inner);
        messages::initializing(name, target);
        if target == TransitionTarget::Unpatched {
            // The patch's functions enter the transition: threads keep the patched variant until
            // they switch.
            let t = inner.func_transition();
            let funcs: Vec<_> = inner.list[index].patched_functions().collect();
            for func in funcs {
                func.slot().publish(inner.runtime, t);
                inner.touch(func.slot());
            }
        }
    }

    /// Lets threads start switching: every function of the transition is published.
    pub(crate) fn start(inner: &mut Inner) {
        let Some((target, index)) = current(inner) else {
            return;
        };
        let _in = in_scope(inner);
        messages::starting(inner.list[index].desc.name, target);
        if let Some(t) = inner.transition.as_mut() {
            t.phase = TransitionPhase::Started;
            if let Some(funcs) = &t.funcs {
                funcs.lane.start();
            }
        }
    }

    /// Switches the threads that can be switched, and completes the transition if every thread
    /// has; returns whether it completed. Otherwise the driver takes over.
    pub(crate) fn try_complete(inner: &mut Inner) -> bool {
        let Some(t) = inner.transition.as_ref() else {
            return false;
        };
        if t.funcs.as_ref().is_some_and(|f| f.switch_threads() > 0) {
            start_driver(inner);
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
        let _in = in_scope(inner);
        messages::canceling(inner.list[index].desc.name);
        if let Some(t) = inner.transition.as_mut() {
            t.target = TransitionTarget::Unpatched;
            t.unpatch_reason = UnpatchReason::Cancelled;
            // No thread was let switch: they all still run the unpatched variant. The lane keeps
            // its direction, so that a thread registering before the lane is released takes that
            // side too (see `ThreadState::newcomer`).
        }
        complete(inner);
    }

    /// Turns the transition around: patching becomes unpatching and the other way.
    pub(crate) fn reverse(inner: &mut Inner) {
        let Some((target, index)) = current(inner) else {
            return;
        };
        let _in = in_scope(inner);
        messages::reversing(inner.list[index].desc.name, target);
        let target = target.opposite();
        inner.list[index].enabled = target == TransitionTarget::Patched;
        if let Some(t) = inner.transition.as_mut() {
            t.target = target;
            if target == TransitionTarget::Unpatched {
                t.unpatch_reason = UnpatchReason::Reversed;
            }
            if let Some(funcs) = &t.funcs {
                funcs.lane.reverse();
            }
        }
        Transition::start(inner);
        Transition::try_complete(inner);
    }

    /// Marks every thread switched, whatever it runs, and completes the transition. Marks forced
    /// exactly the patches whose code a thread may still be running once they leave the list, as
    /// the kernel does (SPEC §6): when unpatching, the patch in transition; when a replace patch
    /// is patching, every patch it replaces; nothing else.
    pub(crate) fn force(inner: &mut Inner) {
        let Some((target, index)) = current(inner) else {
            return;
        };
        let _in = in_scope(inner);
        messages::forcing(target);
        if let Some(funcs) = inner.transition.as_ref().and_then(|t| t.funcs.as_ref()) {
            funcs.lane.force();
        }
        let marked = match target {
            TransitionTarget::Unpatched => index..index + 1,
            TransitionTarget::Patched if inner.list[index].desc.replace => 0..index,
            TransitionTarget::Patched => 0..0,
        };
        for patch in &mut inner.list[marked] {
            patch.forced = true;
            if !inner.forced.contains(&patch.desc.name) {
                inner.forced.push(patch.desc.name);
            }
        }
        Transition::try_complete(inner);
    }
}

impl Inner {
    /// The function side of the transition in progress, for publishing slots.
    pub(crate) fn func_transition(&self) -> Option<FuncInTransition> {
        self.transition
            .as_ref()
            .and_then(|t| t.funcs.as_ref())
            .map(FuncTransition::in_transition)
    }

    /// Remembers that the transition changed `slot`.
    pub(crate) fn touch(&mut self, slot: &'static dyn Slot) {
        if let Some(t) = self.transition.as_mut()
            && !t.touched.iter().any(|s| std::ptr::addr_eq(*s, slot))
        {
            t.touched.push(slot);
        }
    }
}

/// Enters the span of the transition in progress, if any.
fn in_scope(inner: &Inner) -> Option<messages::Entered> {
    inner.transition.as_ref().map(|t| t.scope.enter())
}

/// The transition's target and the list index of its patch.
pub(crate) fn current(inner: &Inner) -> Option<(TransitionTarget, usize)> {
    let t = inner.transition.as_ref()?;
    inner.index_of(t.patch).map(|index| (t.target, index))
}

/// Every thread has switched: settle the functions, run the closing callbacks, and update the
/// list (SPEC §3, §4 step 6).
fn complete(inner: &mut Inner) {
    let Some((target, index)) = current(inner) else {
        return;
    };
    let _in = in_scope(inner);
    let Some(t) = inner.transition.as_mut() else {
        return;
    };
    t.phase = TransitionPhase::Completing;
    let unpatch_reason = t.unpatch_reason;
    let touched = std::mem::take(&mut t.touched);
    let desc = inner.list[index].desc;
    messages::completing(desc.name, target);

    let replacing = target == TransitionTarget::Patched && desc.replace;
    let me = inner.owner(index);
    let replaced: Vec<_> = if replacing {
        (0..index).map(|i| inner.owner(i)).collect()
    } else {
        Vec::new()
    };
    for slot in touched {
        match target {
            TransitionTarget::Patched => {
                replaced.iter().for_each(|&older| slot.remove(older));
                slot.remove_nops(me);
            }
            TransitionTarget::Unpatched => slot.remove(me),
        }
        slot.publish(inner.runtime, None);
    }
    for (o, object) in desc.objects.iter().enumerate() {
        if !inner.is_loaded(object.name) {
            continue;
        }
        match target {
            TransitionTarget::Patched => callback::run_post_patch(
                inner.direction(),
                &mut inner.list,
                index,
                o,
                ObjectState::Live,
            ),
            TransitionTarget::Unpatched => callback::run_post_unpatch(
                inner.direction(),
                &mut inner.list,
                index,
                o,
                ObjectState::Live,
                unpatch_reason,
            ),
        }
    }
    messages::complete(desc.name, target);
    // Dropping the transition releases its lane.
    inner.transition = None;

    match target {
        TransitionTarget::Unpatched => inner.remove_patch(index),
        TransitionTarget::Patched if replacing => {
            // The replaced patches leave silently: no callbacks for them. Their data goes with
            // them; the replacing patch is told of each piece of data it declares but did not
            // take over.
            for _ in 0..index {
                let replaced = &inner.list[0];
                for (state, slot) in replaced.desc.states.iter().zip(&replaced.states) {
                    if slot.data.is_some() && desc.state(state.id).is_some() {
                        messages::data_not_taken_over(desc.name, replaced.desc.name, state);
                    }
                }
                inner.remove_patch(0);
            }
        }
        TransitionTarget::Patched => {}
    }
}

/// Starts the thread that completes the transition once the last thread has switched.
fn start_driver(inner: &mut Inner) {
    let shared = inner.shared.clone();
    let Some(t) = inner.transition.as_mut() else {
        return;
    };
    if t.driver_started {
        return;
    }
    let (patch, dispatch) = (t.patch, t.dispatch.clone());
    let spawned = std::thread::Builder::new()
        .name("livepatch-transition".into())
        .spawn(move || drive(shared, patch, dispatch));
    match spawned {
        Ok(handle) => {
            t.driver_started = true;
            if let Some(funcs) = &t.funcs {
                funcs.lane.set_driver(Some(handle.thread().clone()));
            }
            inner.drivers.retain(|d| !d.is_finished());
            inner.drivers.push(handle);
        }
        // Without a driver, `Runtime::wait_transition` still completes the transition.
        Err(e) => crate::messages::event!(error, "cannot start the transition driver thread: {e}"),
    }
}

/// The driver: retries the transition, sooner when a thread switches itself, until it is over.
fn drive(shared: Weak<Shared>, patch: u64, dispatch: tracing::Dispatch) {
    let mut pause = Duration::from_micros(50);
    loop {
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let finished = tracing::dispatcher::with_default(&dispatch, || {
            shared.locked(|inner| match &inner.transition {
                _ if inner.closed => true,
                Some(t) if t.patch == patch => Transition::try_complete(inner),
                _ => true,
            })
        });
        if finished.unwrap_or(true) {
            return;
        }
    }
}

/// The transition in progress, as patched code sees it through
/// [`Runtime::with_transition`](crate::Runtime::with_transition):
/// what the kernel's `klp_get_prev_state` answers from new code while a transition runs.
pub struct TransitionGuard<'a> {
    list: &'a [crate::core::PatchEntry],
    patch: usize,
    target: TransitionTarget,
}

impl TransitionGuard<'_> {
    /// The name of the patch in transition.
    pub fn patch_name(&self) -> &'static str {
        self.list[self.patch].desc.name
    }

    /// Where the transition is heading.
    pub fn target(&self) -> TransitionTarget {
        self.target
    }

    /// The state with the handle's id of the last patch before the patch in transition that
    /// declares it (the kernel's `klp_get_prev_state`).
    pub fn prev_state<T, P>(
        &self,
        handle: crate::StateHandle<T, P>,
    ) -> Option<crate::PrevState<'_>> {
        crate::state::prev_state(self.list, self.patch, handle.id())
    }
}

impl fmt::Debug for TransitionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitionGuard")
            .field("patch", &self.patch_name())
            .field("target", &self.target)
            .finish()
    }
}

/// One thread's patch state, as the kernel's `/proc/<pid>/patch_state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadPatchState {
    /// The thread.
    pub thread: std::thread::ThreadId,
    /// The thread's name, if it has one.
    pub name: Option<String>,
    /// `-1` when no transition of functions is in progress, `0` unpatched, `1` patched.
    pub state: i8,
    /// The functions that the transition in progress changes and that the thread is inside,
    /// outermost first: while it is inside one, a thread that has not switched cannot be
    /// switched. Empty when no transition of functions is in progress.
    pub inside: Vec<&'static str>,
}

impl crate::core::Runtime {
    /// Waits until no transition is in progress, for at most `timeout`, helping it complete.
    pub fn wait_transition(&self, timeout: Duration) -> Result<(), crate::TransitionError> {
        let _in = messages::operation!("wait_transition", timeout = ?timeout);
        // No deadline when the timeout reaches past what an `Instant` can hold: wait as long as
        // it takes.
        let deadline = std::time::Instant::now().checked_add(timeout);
        // The waiting thread retries the transition itself, soon at first: on a busy machine the
        // driver thread may wait long for a core, while this thread already has one.
        let mut pause = Duration::from_micros(20);
        loop {
            let pending = self.locked(|inner| match inner.transition.is_some() {
                true => !Transition::try_complete(inner),
                false => false,
            })?;
            if !pending {
                return Ok(());
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left == Some(Duration::ZERO) {
                let patch = self.transition().map_or("?", |t| t.patch);
                return Err(crate::TransitionError::TimedOut {
                    patch,
                    waited: timeout,
                });
            }
            if self.shared.wait_settled(left.unwrap_or(pause).min(pause)) {
                return Ok(());
            }
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Runs `f` with a view of the transition in progress, holding the patch list still meanwhile
    /// (keep `f` short). Outside a transition there is nothing to see: the kernel's
    /// `klp_get_prev_state` warns there; this answers [`TransitionError::NoTransition`].
    ///
    /// [`TransitionError::NoTransition`]: crate::TransitionError::NoTransition
    pub fn with_transition<R>(
        &self,
        f: impl FnOnce(&TransitionGuard<'_>) -> R,
    ) -> Result<R, crate::TransitionError> {
        self.locked(|inner| {
            let (target, patch) = current(inner).ok_or(crate::TransitionError::NoTransition)?;
            Ok(f(&TransitionGuard {
                list: &inner.list,
                patch,
                target,
            }))
        })?
    }

    /// Forces the transition in progress: every thread is marked switched, whatever it runs, and
    /// the transition completes. The patches whose code a thread may still run are marked forced
    /// (SPEC §6; see [`Runtime::forced_patches`](crate::Runtime::forced_patches)); use it only
    /// when the threads that block the transition are known not to mix old and new code.
    pub fn force(&self) -> Result<(), crate::TransitionError> {
        let _in = messages::operation!("force");
        self.locked(|inner| {
            if inner.transition.is_none() {
                return Err(crate::TransitionError::NoTransition);
            }
            Transition::force(inner);
            Ok(())
        })?
    }

    /// The patch state of every thread that has run patchable code, for this runtime's transition.
    pub fn thread_states(&self) -> Vec<ThreadPatchState> {
        let transition = self
            .locked(|inner| {
                let t = inner.transition.as_ref()?;
                let funcs = t.funcs.as_ref()?;
                let changed: Vec<(usize, &'static str)> = t
                    .touched
                    .iter()
                    .map(|slot| (slot.id(), slot.name()))
                    .collect();
                Some(((funcs.lane.index(), funcs.lane.generation()), changed))
            })
            .ok()
            .flatten();
        let (lane, changed) = match transition {
            Some((lane, changed)) => (Some(lane), changed),
            None => (None, Vec::new()),
        };
        crate::func::thread::threads()
            .into_iter()
            .map(|record| {
                let inside = record
                    .core
                    .stack_ids()
                    .into_iter()
                    .filter_map(|id| changed.iter().find(|(c, _)| *c == id).map(|(_, n)| *n))
                    .collect();
                let state = match lane {
                    None => -1,
                    Some((lane, generation)) => {
                        let s = record.core.state(lane);
                        if s.generation != generation {
                            -1
                        } else {
                            i8::from(s.patched)
                        }
                    }
                };
                ThreadPatchState {
                    thread: record.thread.id(),
                    name: record.thread.name().map(str::to_owned),
                    state,
                    inside,
                }
            })
            .collect()
    }
}
