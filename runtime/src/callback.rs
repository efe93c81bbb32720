//! Callback contexts: what a patch's `pre_patch`, `post_patch`, `pre_unpatch` and `post_unpatch`
//! callbacks receive, and the code that runs them with panics contained.
//!
//! Each kind of callback gets its own context type, so a callback's signature says when it runs and
//! what it may do: only the patching side ([`PrePatch`], [`PostPatch`]) may take over a previous
//! patch's state data, and only [`PostUnpatch`] knows why it runs.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::core::PatchEntry;
use crate::descriptor::{AnyPatch, ObjectName, OwnState, StateHandle};
use crate::error::{CallbackError, StateDataError};
use crate::messages;
use crate::state::{PrevState, StateMut};
use crate::transition::TransitionTarget;

/// `pre_patch`: may veto the enable (or the object's load) by returning an error.
pub type PrePatchFn = for<'a, 'b> fn(&'a mut PrePatch<'b>) -> Result<(), CallbackError>;
/// `post_patch`: runs when patching completes.
pub type PostPatchFn = for<'a, 'b> fn(&'a mut PostPatch<'b>);
/// `pre_unpatch`: runs before unpatching starts.
pub type PreUnpatchFn = for<'a, 'b> fn(&'a mut PreUnpatch<'b>);
/// `post_unpatch`: runs when unpatching completes.
pub type PostUnpatchFn = for<'a, 'b> fn(&'a mut PostUnpatch<'b>);

/// Why a `post_unpatch` callback runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnpatchReason {
    /// The patch was disabled and its unpatching transition completed.
    Disabled,
    /// The patch's enable was reversed (its patching transition turned into an unpatching one).
    Reversed,
    /// The enable was cancelled: a `pre_patch` failed or an object could not be patched.
    Cancelled,
    /// The object is being unloaded while the patch stays enabled.
    ObjectUnloaded,
    /// The object's load was refused because another patch's `pre_patch` failed for it.
    LoadRefused,
}

/// Where an object is in its life when a callback runs for it, as the kernel's module states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectState {
    /// The object is loading (`MODULE_STATE_COMING`).
    Coming,
    /// The object is loaded, or is the program itself (`MODULE_STATE_LIVE`).
    Live,
    /// The object is unloading (`MODULE_STATE_GOING`).
    Going,
}

/// What every callback context offers: the patch and object it runs for, the patch's own states
/// (`klp_get_state`) and the previous patch's states (`klp_get_prev_state`).
///
/// `P` is the patch's marker (see [`StateHandle`]): the callbacks of a patch written with
/// `#[livepatch]` get contexts marked with their patch, and reach their own states only through
/// their own patch's handles.
pub struct CallbackContext<'a, P = AnyPatch> {
    list: &'a mut [PatchEntry],
    patch: usize,
    object: ObjectName,
    object_state: ObjectState,
    transition: Option<TransitionTarget>,
    _patch: PhantomData<fn() -> P>,
}

impl<'a> CallbackContext<'a> {
    pub(crate) fn new(
        transition: Option<TransitionTarget>,
        list: &'a mut [PatchEntry],
        patch: usize,
        object: ObjectName,
        object_state: ObjectState,
    ) -> Self {
        CallbackContext {
            list,
            patch,
            object,
            object_state,
            transition,
            _patch: PhantomData,
        }
    }
}

impl<P> CallbackContext<'_, P> {
    /// The same context, for a callback of the patch marked `Q`.
    fn marked<Q>(&mut self) -> CallbackContext<'_, Q> {
        CallbackContext {
            list: self.list,
            patch: self.patch,
            object: self.object,
            object_state: self.object_state,
            transition: self.transition,
            _patch: PhantomData,
        }
    }

    /// The name of the patch whose callback runs.
    pub fn patch_name(&self) -> &'static str {
        self.list[self.patch].desc.name()
    }

    /// The object the callback runs for (`vmlinux` for the program itself).
    pub fn object(&self) -> ObjectName {
        self.object
    }

    /// Whether the object is loading, loaded, or unloading.
    pub fn object_state(&self) -> ObjectState {
        self.object_state
    }

    /// The direction of the transition the callback runs in (only one runs at a time): patching
    /// for `pre_patch` and `post_patch` of an enable, unpatching for those of a disable, and so
    /// on; `None` when it runs outside any transition (an object loading or unloading while no
    /// patch is in transition).
    pub fn transition(&self) -> Option<TransitionTarget> {
        self.transition
    }

    /// This patch's own state for `handle` (the kernel's `klp_get_state`): `None` when the patch
    /// declares no state with the handle's id and data type. Only a handle of this patch will do:
    /// another patch's handle does not compile here.
    pub fn state<H: OwnState<P>>(&mut self, handle: H) -> Option<StateMut<'_, H::Data>> {
        self.list[self.patch].state_mut(handle.handle())
    }

    /// The state with the handle's id of the last patch that stands before this one on the list
    /// (the kernel's `klp_get_prev_state`), or `None` if no earlier patch declares it.
    ///
    /// During a transition this is exactly the kernel's answer; in callbacks that run outside one
    /// (an object loading while the patch is enabled) it is still relative to this patch, where the
    /// kernel would warn and answer nothing.
    ///
    /// Any patch's handle will do: only its id counts.
    pub fn prev_state<T, Q>(&self, handle: StateHandle<T, Q>) -> Option<PrevState<'_>> {
        crate::state::prev_state(self.list, self.patch, handle.id())
    }

    fn take_over_data<H: OwnState<P>>(&mut self, handle: H) -> Result<(), StateDataError> {
        crate::state::take_over(self.list, self.patch, handle.handle())
    }
}

impl<P> fmt::Debug for CallbackContext<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackContext")
            .field("patch", &self.patch_name())
            .field("object", &self.object)
            .finish()
    }
}

/// A callback's context reads as the [`CallbackContext`] in its `cx` field.
macro_rules! deref_to_context {
    ($name:ident) => {
        impl<'a, P> Deref for $name<'a, P> {
            type Target = CallbackContext<'a, P>;
            fn deref(&self) -> &Self::Target {
                &self.cx
            }
        }

        impl<'a, P> DerefMut for $name<'a, P> {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.cx
            }
        }
    };
}

macro_rules! context_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<'a, P = AnyPatch> {
            cx: CallbackContext<'a, P>,
        }

        deref_to_context!($name);

        impl<P> fmt::Debug for $name<'_, P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("cx", &self.cx).finish()
            }
        }

        impl $name<'_> {
            #[doc(hidden)]
            /// The same context, for a callback of the patch marked `Q` (what `#[livepatch]`
            /// generates calls).
            pub fn marked<Q>(&mut self) -> $name<'_, Q> {
                $name { cx: self.cx.marked() }
            }
        }
    };
}

context_type! {
    /// The context of a `pre_patch` callback.
    PrePatch
}
context_type! {
    /// The context of a `post_patch` callback.
    PostPatch
}
context_type! {
    /// The context of a `pre_unpatch` callback.
    PreUnpatch
}

/// The context of a `post_unpatch` callback; [`PostUnpatch::reason`] says why it runs.
pub struct PostUnpatch<'a, P = AnyPatch> {
    cx: CallbackContext<'a, P>,
    reason: UnpatchReason,
}

deref_to_context!(PostUnpatch);

impl<P> fmt::Debug for PostUnpatch<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostUnpatch")
            .field("cx", &self.cx)
            .field("reason", &self.reason)
            .finish()
    }
}

impl<P> PostUnpatch<'_, P> {
    /// Why the object is being unpatched.
    pub fn reason(&self) -> UnpatchReason {
        self.reason
    }
}

impl PostUnpatch<'_> {
    #[doc(hidden)]
    /// The same context, for a callback of the patch marked `Q` (what `#[livepatch]` generates
    /// calls).
    pub fn marked<Q>(&mut self) -> PostUnpatch<'_, Q> {
        PostUnpatch {
            cx: self.cx.marked(),
            reason: self.reason,
        }
    }
}

/// What the patching callbacks may do besides reading: take over the previous patch's data.
macro_rules! patching_context {
    ($name:ident) => {
        impl<P> $name<'_, P> {
            /// Moves the previous patch's data for this state into this patch's own state.
            ///
            /// The data keeps its identity: when this patch goes away while the previous one is
            /// still on the list, the data goes back to it. Fails, changing nothing, when there is
            /// no previous state or it holds no data, when the previous data is of another type,
            /// or when this patch's state already holds data. (Versions need no check here:
            /// enable already refused any patch that would declare a lower version than an
            /// earlier one.)
            ///
            /// Only the patching callbacks ([`PrePatch`], [`PostPatch`]) take over data: the
            /// unpatching ones run while this patch goes away, when there is nothing newer to
            /// hand data to, and the replaced patches' data is gone by then.
            pub fn take_over<H: OwnState<P>>(&mut self, handle: H) -> Result<(), StateDataError> {
                self.cx.take_over_data(handle)
            }

            /// Takes over the previous patch's data for this state if there is any, as
            /// [`take_over`](Self::take_over); otherwise (no earlier patch declares the state,
            /// or its state holds no data) stores `init()`. Gives this patch's state with its
            /// data. Fails, changing nothing, when the previous data is of another type or this
            /// patch's state already holds data.
            ///
            /// A cumulative patch that declares a state and takes nothing over drops the replaced
            /// patch's data when its transition completes, and the runtime warns then; this is
            /// the one call that keeps it.
            pub fn take_over_or_init<H: OwnState<P>>(
                &mut self,
                handle: H,
                init: impl FnOnce() -> H::Data,
            ) -> Result<StateMut<'_, H::Data>, StateDataError> {
                crate::state::take_over_or_init(self.cx.list, self.cx.patch, handle.handle(), init)
            }
        }
    };
}

patching_context!(PrePatch);
patching_context!(PostPatch);

/// What an unpatching callback would need to take over state data, which it never may: the
/// bound of the `take_over` methods of [`PreUnpatch`] and [`PostUnpatch`], which exist only to
/// say so at compile time. No type implements it.
#[diagnostic::on_unimplemented(
    message = "only the patching callbacks (`pre_patch`, `post_patch`) take over state data",
    label = "an unpatching callback cannot take over data",
    note = "unpatching callbacks run as their patch goes away: the data it holds goes back to the \
            patch it was taken over from, or is dropped; a newer patch takes data over in its \
            own `pre_patch` or `post_patch`"
)]
pub trait OnlyPatchingCallbacksTakeOver {
    /// Never called: nothing implements the trait.
    fn never(self) -> !;
}

/// The refusal of the unpatching callbacks to take over data (see
/// [`OnlyPatchingCallbacksTakeOver`]).
macro_rules! unpatching_context {
    ($name:ident) => {
        impl<P> $name<'_, P> {
            /// Not available: only the patching callbacks ([`PrePatch`], [`PostPatch`]) take
            /// over state data; calling this is a compile error that says so.
            #[doc(hidden)]
            pub fn take_over<H: OnlyPatchingCallbacksTakeOver>(
                &mut self,
                handle: H,
            ) -> Result<(), StateDataError> {
                handle.never()
            }

            /// Not available, as [`take_over`](Self::take_over).
            #[doc(hidden)]
            pub fn take_over_or_init<H: OnlyPatchingCallbacksTakeOver, T>(
                &mut self,
                handle: H,
                _init: impl FnOnce() -> T,
            ) -> Result<StateMut<'_, T>, StateDataError> {
                handle.never()
            }
        }
    };
}

unpatching_context!(PreUnpatch);
unpatching_context!(PostUnpatch);

/// The text of a panic payload, for messages.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic payload that is not a string".to_owned()
    }
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn contained<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(dispose)
}

/// The message of a panic's payload. The payload is user data too: its `Drop` runs contained,
/// and should that panic as well, the second payload is leaked rather than dropped, so that
/// nothing unwinds into the runtime.
pub(crate) fn dispose(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(&*payload);
    if let Err(second) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(second);
    }
    message
}

/// Runs the `pre_patch` callback of object `object` of patch `patch`, if it has one, and records
/// whether `post_unpatch` may run later (the kernel's `post_unpatch_enabled`). A panic counts as a
/// failure.
pub(crate) fn run_pre_patch(
    transition: Option<TransitionTarget>,
    list: &mut [PatchEntry],
    patch: usize,
    object: usize,
    state: ObjectState,
) -> Result<(), CallbackError> {
    let desc = list[patch].desc.objects[object];
    let result = match desc.callbacks.pre_patch {
        None => Ok(()),
        Some(f) => {
            let mut cx = PrePatch {
                cx: CallbackContext::new(transition, list, patch, desc.name, state),
            };
            contained(|| f(&mut cx)).unwrap_or_else(|panic| {
                Err(CallbackError::new(format!(
                    "pre_patch callback panicked: {panic}"
                )))
            })
        }
    };
    list[patch].objects[object].post_unpatch_enabled = result.is_ok();
    result
}

/// Runs `post_patch` of one object, if any; a panic is logged and contained.
pub(crate) fn run_post_patch(
    transition: Option<TransitionTarget>,
    list: &mut [PatchEntry],
    patch: usize,
    object: usize,
    state: ObjectState,
) {
    let desc = list[patch].desc.objects[object];
    if let Some(f) = desc.callbacks.post_patch {
        let mut cx = PostPatch {
            cx: CallbackContext::new(transition, list, patch, desc.name, state),
        };
        if let Err(panic) = contained(|| f(&mut cx)) {
            messages::callback_panicked("post_patch", list[patch].desc.name, desc.name, &panic);
        }
    }
}

/// Runs `pre_unpatch` of one object, if any; a panic is logged and contained.
pub(crate) fn run_pre_unpatch(
    transition: Option<TransitionTarget>,
    list: &mut [PatchEntry],
    patch: usize,
    object: usize,
    state: ObjectState,
) {
    let desc = list[patch].desc.objects[object];
    if let Some(f) = desc.callbacks.pre_unpatch {
        let mut cx = PreUnpatch {
            cx: CallbackContext::new(transition, list, patch, desc.name, state),
        };
        if let Err(panic) = contained(|| f(&mut cx)) {
            messages::callback_panicked("pre_unpatch", list[patch].desc.name, desc.name, &panic);
        }
    }
}

/// Runs `post_unpatch` of one object if its `pre_patch` ran and succeeded, then clears that flag so
/// it runs at most once per `pre_patch`; a panic is logged and contained.
pub(crate) fn run_post_unpatch(
    transition: Option<TransitionTarget>,
    list: &mut [PatchEntry],
    patch: usize,
    object: usize,
    state: ObjectState,
    reason: UnpatchReason,
) {
    let enabled = std::mem::replace(&mut list[patch].objects[object].post_unpatch_enabled, false);
    let desc = list[patch].desc.objects[object];
    if let (true, Some(f)) = (enabled, desc.callbacks.post_unpatch) {
        let mut cx = PostUnpatch {
            cx: CallbackContext::new(transition, list, patch, desc.name, state),
            reason,
        };
        if let Err(panic) = contained(|| f(&mut cx)) {
            messages::callback_panicked("post_unpatch", list[patch].desc.name, desc.name, &panic);
        }
    }
}
