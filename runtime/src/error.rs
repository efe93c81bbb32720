//! Errors, one enum per operation; each message says what was wrong and what to do.
//!
//! Every error follows one rule for its cause, as the Rust API guidelines ask: an error whose
//! cause is an error of its own returns that cause from [`std::error::Error::source`] and does
//! not repeat it in its message, so that a report walking the chain ([`Chain`]) says each cause
//! once.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::descriptor::{ObjectName, StateLabel};
use crate::state::StateConflict;

/// The error a `pre_patch` callback returns to stop an enable or an object's load.
///
/// Clones share the wrapped error; two callback errors are equal when they say the same, causes
/// included.
#[derive(Clone)]
pub struct CallbackError {
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl CallbackError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CallbackError {
            message: message.into(),
            source: None,
        }
    }

    /// The error `error`, passed through as it is: its message is this error's message, and
    /// its source is this error's source (as `#[error(transparent)]` does), so a chain names its
    /// causes once. [`CallbackError::get_ref`] gives `error` back.
    pub fn from_error(error: impl StdError + Send + Sync + 'static) -> Self {
        CallbackError {
            message: error.to_string(),
            source: Some(Arc::new(error)),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error given to [`CallbackError::from_error`], if the callback gave one, to inspect or
    /// downcast.
    pub fn get_ref(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Debug for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackError")
            .field("message", &self.message)
            .finish()
    }
}

impl PartialEq for CallbackError {
    fn eq(&self, other: &Self) -> bool {
        messages(self) == messages(other)
    }
}

/// The candidate nearest to `word` in edits (an insertion, a deletion, a change, or a swap of two
/// neighbours each count one), if it is at most a third of the word's length away: what a
/// mistyped name was likely meant to be.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// The message of `error` and of each of its causes.
fn messages(error: &(dyn StdError + 'static)) -> Vec<String> {
    std::iter::successors(Some(error), |e| (*e).source())
        .map(ToString::to_string)
        .collect()
}

impl Eq for CallbackError {}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for CallbackError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // Transparent: the wrapped error's message is this one's, so its cause comes next.
        self.source.as_deref().and_then(StdError::source)
    }
}

/// An error and each of its causes, in one line: the messages joined by `: `.
///
/// ```
/// use livepatch::prelude::*;
///
/// #[livepatch]
/// pub mod fix {
///     use super::*;
///
///     #[pre_patch]
///     fn reserve(_cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
///         let io = std::io::Error::other("cannot allocate 4096 bytes");
///         Err(CallbackError::from_error(io))
///     }
/// }
///
/// fn main() {
///     let err = Runtime::new().enable(&fix::PATCH).unwrap_err();
///     assert_eq!(err.to_string(), "pre_patch of patch 'fix' failed for object 'vmlinux'");
///     assert_eq!(
///         Chain(&err).to_string(),
///         "pre_patch of patch 'fix' failed for object 'vmlinux': cannot allocate 4096 bytes"
///     );
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Chain<'a>(pub &'a (dyn StdError + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// A descriptor the runtime refuses to enable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// The patch has an empty name.
    #[error("the patch has an empty name; give it a name that is unique among enabled patches")]
    EmptyName,
    /// A state has id 0.
    #[error("patch '{patch}' declares a state with id 0; state ids must be non-zero")]
    ZeroStateId {
        /// The patch.
        patch: &'static str,
    },
    /// Two states share an id.
    #[error("patch '{patch}' declares {state} twice; give each state its own id")]
    DuplicateStateId {
        /// The patch.
        patch: &'static str,
        /// The second state with the repeated id.
        state: StateLabel,
    },
    /// A function is listed under an object it does not belong to.
    #[error(
        "patch '{patch}' lists function '{function}' under object '{listed}', but it belongs to \
         object '{belongs}'; move it to that object's entry"
    )]
    FunctionInWrongObject {
        /// The patch.
        patch: &'static str,
        /// The function.
        function: &'static str,
        /// The object entry it is listed under.
        listed: ObjectName,
        /// The object it belongs to.
        belongs: ObjectName,
    },
    /// An object entry is named with an empty name or the program's own name: no such object
    /// can ever be loaded, so its callbacks and functions would never apply.
    #[error(
        "patch '{patch}' has an object entry named '{object}', which can never be loaded: use \
         ObjectDesc::program() for the program itself, and a non-empty name other than 'vmlinux' \
         for any other object"
    )]
    UnloadableObject {
        /// The patch.
        patch: &'static str,
        /// The object's name as given.
        object: &'static str,
    },
    /// A replaced function's slot names an object that can never be loaded.
    #[error(
        "patch '{patch}' replaces function '{function}', whose slot belongs to object '{object}', \
         which can never be loaded: declare the slot with ObjectName::Program for the program \
         itself, and a non-empty name other than 'vmlinux' for any other object"
    )]
    FunctionOfUnloadableObject {
        /// The patch.
        patch: &'static str,
        /// The function.
        function: &'static str,
        /// The object's name as given.
        object: &'static str,
    },
    /// A function is replaced twice by one patch.
    #[error("patch '{patch}' replaces function '{function}' twice; keep one replacement")]
    DuplicateFunction {
        /// The patch.
        patch: &'static str,
        /// The function.
        function: &'static str,
    },
    /// Two objects share a name.
    #[error(
        "patch '{patch}' lists object '{object}' twice; put all of an object's callbacks in one entry"
    )]
    DuplicateObject {
        /// The patch.
        patch: &'static str,
        /// The repeated object.
        object: ObjectName,
    },
}

fn list_conflicts(conflicts: &[StateConflict]) -> String {
    conflicts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The kind of a failure, the same for every operation's error: what a test or a tool matches on
/// when it does not care which operation failed. Each error enum gives its own with `kind()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A patch of that name is already on the list.
    AlreadyExists,
    /// A hand-built descriptor is invalid.
    InvalidDescriptor,
    /// The patch's states are not compatible with the installed patches' states.
    Incompatible,
    /// Another patch of the same runtime is in transition.
    Busy,
    /// Every lane for concurrent transitions in this process is taken.
    NoLane,
    /// A function is in transition in another runtime.
    FunctionBusy,
    /// A `pre_patch` callback failed or panicked.
    CallbackFailed,
    /// No patch of that name is on the list.
    NotFound,
    /// The patch's `enabled` switch already has that value.
    Unchanged,
    /// The object's name is empty or the program's own.
    InvalidName,
    /// The object is loaded already.
    AlreadyLoaded,
    /// The object is not loaded.
    NotLoaded,
    /// No transition is in progress.
    NoTransition,
    /// The transition did not complete in time.
    TimedOut,
    /// Called from inside a callback when waiting for the runtime would never end.
    Reentered,
}

/// Why [`crate::Runtime::enable`] failed. Nothing is left behind by a failed enable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnableError {
    /// A patch of that name is already on the list.
    #[error("patch '{0}' is already enabled; disable it first, or give the new patch another name")]
    AlreadyExists(&'static str),
    /// The descriptor itself is invalid.
    #[error(transparent)]
    InvalidDescriptor(#[from] DescriptorError),
    /// The patch is not compatible with the states of installed patches.
    #[error(
        "patch '{patch}' is not compatible with the installed patches: {}; raise the patch's state \
         versions, declare the states it drops, or disable the installed patches first",
        list_conflicts(.conflicts)
    )]
    Incompatible {
        /// The patch that was refused.
        patch: &'static str,
        /// Every offending installed state.
        conflicts: Vec<StateConflict>,
    },
    /// Another patch is in transition.
    #[error(
        "patch '{in_transition}' is in transition; wait for it to complete, then enable '{patch}'"
    )]
    Busy {
        /// The patch that was refused.
        patch: &'static str,
        /// The patch in transition.
        in_transition: &'static str,
    },
    /// Every lane for concurrent transitions in this process is taken (one per runtime with a
    /// transition of functions in progress).
    #[error(
        "patch '{0}' cannot start its transition: {lanes} other runtimes of this process are in \
         transition; wait for one to complete",
        lanes = crate::func::protocol::LANES
    )]
    NoLane(&'static str),
    /// An object's functions could not be patched (a function is in transition in another
    /// runtime); the enable was cancelled.
    #[error(
        "patch '{patch}' could not patch object '{object}': function '{function}' is in \
         transition in another runtime; wait for that transition to complete"
    )]
    PatchFailed {
        /// The patch.
        patch: &'static str,
        /// The object.
        object: ObjectName,
        /// The function that could not be patched.
        function: &'static str,
    },
    /// A `pre_patch` callback failed (or panicked); the enable was cancelled.
    #[error("pre_patch of patch '{patch}' failed for object '{object}'")]
    PrePatchFailed {
        /// The patch.
        patch: &'static str,
        /// The object whose callback failed.
        object: ObjectName,
        /// The callback's own error.
        source: CallbackError,
    },
    /// Called from inside a callback or a state-data destructor when waiting for the runtime
    /// would never end.
    #[error(transparent)]
    Reentered(#[from] Reentered),
}

/// Why setting a patch's `enabled` switch (or [`crate::Runtime::disable`]) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetEnabledError {
    /// Every lane for concurrent transitions in this process is taken.
    #[error(
        "patch '{0}' cannot start its transition: {lanes} other runtimes of this process are in \
         transition; wait for one to complete",
        lanes = crate::func::protocol::LANES
    )]
    NoLane(&'static str),
    /// No patch of that name is on the list.
    #[error(
        "no patch named '{name}' is enabled; {}",
        match did_you_mean {
            Some(near) => format!("did you mean '{near}'?"),
            None => "see Runtime::patches for the list".to_owned(),
        }
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// The name of a patch on the list near enough to be what was meant.
        did_you_mean: Option<&'static str>,
    },
    /// The switch already has that value.
    #[error("patch '{patch}' is already {}; nothing to do", if *.enabled { "enabled" } else { "disabled" })]
    Unchanged {
        /// The patch.
        patch: &'static str,
        /// The switch's current value.
        enabled: bool,
    },
    /// A function the patch replaces is in transition in another runtime: one function is
    /// changed by one transition at a time.
    #[error(
        "patch '{patch}' cannot start unpatching: function '{function}' is in transition in \
         another runtime; wait for that transition to complete, then disable '{patch}'"
    )]
    FunctionBusy {
        /// The patch that was asked to change.
        patch: &'static str,
        /// The function another runtime's transition is changing.
        function: &'static str,
    },
    /// Another patch is in transition.
    #[error(
        "patch '{in_transition}' is in transition; wait for it to complete, then disable '{patch}'"
    )]
    Busy {
        /// The patch that was asked to change.
        patch: &'static str,
        /// The patch in transition.
        in_transition: &'static str,
    },
    /// Called from inside a callback or a state-data destructor when waiting for the runtime
    /// would never end.
    #[error(transparent)]
    Reentered(#[from] Reentered),
}

/// Why [`crate::Runtime::load_object`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadObjectError {
    /// The name is empty or is the program's own name.
    #[error("'{0}' cannot be loaded: name a loadable object, not the program itself")]
    InvalidName(String),
    /// The object is loaded already.
    #[error("object '{0}' is already loaded; unload it first")]
    AlreadyLoaded(String),
    /// A patch's `pre_patch` callback failed for the object; the load was refused and every patch
    /// already applied to it was reverted.
    #[error("patch '{patch}' refused object '{object}'")]
    Refused {
        /// The patch whose callback failed.
        patch: &'static str,
        /// The object.
        object: String,
        /// The callback's own error.
        source: CallbackError,
    },
    /// A function of the object is in transition in another runtime; the load was refused and
    /// every patch already applied to it was reverted.
    #[error(
        "patch '{patch}' could not be applied to object '{object}': function '{function}' is in \
         transition in another runtime"
    )]
    PatchFailed {
        /// The patch.
        patch: &'static str,
        /// The object.
        object: String,
        /// The function.
        function: &'static str,
    },
    /// Called from inside a callback or a state-data destructor when waiting for the runtime
    /// would never end.
    #[error(transparent)]
    Reentered(#[from] Reentered),
}

/// Why [`crate::Runtime::force`] or [`crate::Runtime::wait_transition`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// No transition is in progress.
    #[error("no transition is in progress")]
    NoTransition,
    /// The transition did not complete in time.
    #[error(
        "patch '{patch}' is still in transition after {waited:?}: some thread is inside a function \
         it changes; see Runtime::thread_states, or force the transition"
    )]
    TimedOut {
        /// The patch in transition.
        patch: &'static str,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// Called from inside a callback or a state-data destructor when waiting for the runtime
    /// would never end.
    #[error(transparent)]
    Reentered(#[from] Reentered),
}

/// Why [`crate::Runtime::unload_object`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnloadObjectError {
    /// The name is empty or is the program's own name.
    #[error("'{0}' cannot be unloaded: name a loadable object, not the program itself")]
    InvalidName(String),
    /// The object is not loaded.
    #[error("object '{0}' is not loaded")]
    NotLoaded(String),
    /// Called from inside a callback or a state-data destructor when waiting for the runtime
    /// would never end.
    #[error(transparent)]
    Reentered(#[from] Reentered),
}

/// A runtime operation was called from inside a callback (or a state-data destructor) at a
/// moment when waiting for the runtime would never end. Callbacks run with their runtime's patch
/// list locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reentered {
    /// Called from inside one of the same runtime's callbacks.
    #[error(
        "the runtime was called from inside one of its own callbacks; do the work after the \
         callback returns"
    )]
    OwnCallback,
    /// Called from inside another runtime's callback, while the thread that holds this runtime
    /// waits, through callbacks of its own, for a runtime this thread holds.
    #[error(
        "the runtime is held by a thread that is waiting for a runtime this thread holds: \
         waiting would never end; do the work after the callback returns"
    )]
    Deadlock,
}

/// Why a callback's access to state data failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateDataError {
    /// The calling patch does not declare the state.
    #[error("patch '{patch}' does not declare {state}; add it to the patch's states")]
    NotDeclared {
        /// The state.
        state: StateLabel,
        /// The calling patch.
        patch: &'static str,
    },
    /// No earlier patch on the list declares the state.
    #[error("no earlier patch declares {state}; check prev_state before taking over")]
    NoPreviousState {
        /// The state.
        state: StateLabel,
    },
    /// The earlier patch's state holds no data.
    #[error("{state} of patch '{patch}' holds no data to take over")]
    NoData {
        /// The state.
        state: StateLabel,
        /// The earlier patch.
        patch: &'static str,
    },
    /// The data is of another type than asked for.
    #[error(
        "{state} of patch '{patch}' holds {found}, not {expected}; read it as {found} and \
         convert it"
    )]
    TypeMismatch {
        /// The state.
        state: StateLabel,
        /// The patch whose state was read.
        patch: &'static str,
        /// The state's declared data type.
        found: &'static str,
        /// The type asked for.
        expected: &'static str,
    },
    /// This patch's state already holds data; taking over would drop it silently.
    #[error(
        "{state} of patch '{patch}' already holds data; take it out first if it should be replaced"
    )]
    AlreadyHasData {
        /// The state.
        state: StateLabel,
        /// The calling patch.
        patch: &'static str,
    },
}

impl EnableError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EnableError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            EnableError::InvalidDescriptor(_) => ErrorKind::InvalidDescriptor,
            EnableError::Incompatible { .. } => ErrorKind::Incompatible,
            EnableError::Busy { .. } => ErrorKind::Busy,
            EnableError::NoLane(_) => ErrorKind::NoLane,
            EnableError::PatchFailed { .. } => ErrorKind::FunctionBusy,
            EnableError::PrePatchFailed { .. } => ErrorKind::CallbackFailed,
            EnableError::Reentered(_) => ErrorKind::Reentered,
        }
    }
}

impl SetEnabledError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SetEnabledError::NoLane(_) => ErrorKind::NoLane,
            SetEnabledError::NotFound { .. } => ErrorKind::NotFound,
            SetEnabledError::Unchanged { .. } => ErrorKind::Unchanged,
            SetEnabledError::FunctionBusy { .. } => ErrorKind::FunctionBusy,
            SetEnabledError::Busy { .. } => ErrorKind::Busy,
            SetEnabledError::Reentered(_) => ErrorKind::Reentered,
        }
    }
}

impl LoadObjectError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadObjectError::InvalidName(_) => ErrorKind::InvalidName,
            LoadObjectError::AlreadyLoaded(_) => ErrorKind::AlreadyLoaded,
            LoadObjectError::Refused { .. } => ErrorKind::CallbackFailed,
            LoadObjectError::PatchFailed { .. } => ErrorKind::FunctionBusy,
            LoadObjectError::Reentered(_) => ErrorKind::Reentered,
        }
    }
}

impl TransitionError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TransitionError::NoTransition => ErrorKind::NoTransition,
            TransitionError::TimedOut { .. } => ErrorKind::TimedOut,
            TransitionError::Reentered(_) => ErrorKind::Reentered,
        }
    }
}

impl UnloadObjectError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UnloadObjectError::InvalidName(_) => ErrorKind::InvalidName,
            UnloadObjectError::NotLoaded(_) => ErrorKind::NotLoaded,
            UnloadObjectError::Reentered(_) => ErrorKind::Reentered,
        }
    }
}
