//! Patch descriptors: plain data, buildable in `static`s, that say what a patch contains.
//!
//! The `#[livepatch]` macro generates these; they can also be written by hand. A descriptor is only
//! a description: the runtime checks it when it is enabled ([`crate::Runtime::enable`]) and refuses
//! one with a zero or duplicate state id, or with two objects of one name.

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;

use crate::callback::{PostPatchFn, PostUnpatchFn, PrePatchFn, PreUnpatchFn};
use crate::func::FuncDesc;

/// The name under which the program itself appears in messages, as the kernel names `vmlinux`.
pub const PROGRAM_OBJECT_NAME: &str = "vmlinux";

/// A patch: a name, the `replace` (cumulative) flag, the states it modifies and its objects.
#[derive(Clone, Copy)]
pub struct PatchDesc {
    pub(crate) name: &'static str,
    pub(crate) replace: bool,
    pub(crate) states: &'static [StateDesc],
    pub(crate) objects: &'static [ObjectDesc],
}

impl PatchDesc {
    /// A patch with this name, not cumulative, with no states and no objects.
    pub const fn new(name: &'static str) -> Self {
        PatchDesc {
            name,
            replace: false,
            states: &[],
            objects: &[],
        }
    }

    /// Makes the patch cumulative: when its transition completes it replaces every older patch.
    pub const fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }

    /// The system states this patch modifies.
    pub const fn states(mut self, states: &'static [StateDesc]) -> Self {
        self.states = states;
        self
    }

    /// The objects this patch touches, in the order their callbacks run.
    pub const fn objects(mut self, objects: &'static [ObjectDesc]) -> Self {
        self.objects = objects;
        self
    }

    /// The patch's name, unique among enabled patches.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the patch is cumulative.
    pub const fn is_replace(&self) -> bool {
        self.replace
    }

    /// The declared states.
    pub const fn state_descs(&self) -> &'static [StateDesc] {
        self.states
    }

    /// The declared objects.
    pub const fn object_descs(&self) -> &'static [ObjectDesc] {
        self.objects
    }

    /// The declared state with this id, if any.
    pub fn state(&self, id: u64) -> Option<&'static StateDesc> {
        self.states.iter().find(|s| s.id == id)
    }

    /// Whether the patch replaces any function.
    pub fn has_functions(&self) -> bool {
        self.objects.iter().any(|o| !o.functions.is_empty())
    }
}

impl fmt::Debug for PatchDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatchDesc")
            .field("name", &self.name)
            .field("replace", &self.replace)
            .field("states", &self.states)
            .field("objects", &self.objects)
            .finish()
    }
}

/// The Rust type of a state's data, comparable at run time.
#[derive(Clone, Copy)]
pub struct DataType {
    type_id: fn() -> TypeId,
    type_name: fn() -> &'static str,
}

impl DataType {
    /// The data type `T`.
    pub const fn of<T: Send + Sync + 'static>() -> Self {
        DataType {
            type_id: TypeId::of::<T>,
            type_name: std::any::type_name::<T>,
        }
    }

    /// The type's [`TypeId`].
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    /// The type's name, for messages.
    pub fn name(&self) -> &'static str {
        (self.type_name)()
    }
}

impl PartialEq for DataType {
    fn eq(&self, other: &Self) -> bool {
        self.type_id() == other.type_id()
    }
}

impl Eq for DataType {}

impl fmt::Debug for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One system state a patch modifies: the kernel's `struct klp_state`, with a typed data slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateDesc {
    pub(crate) id: u64,
    pub(crate) version: u32,
    pub(crate) data: DataType,
    pub(crate) name: Option<&'static str>,
}

impl StateDesc {
    /// The state's id: non-zero, unique within the patch.
    pub const fn id(&self) -> u64 {
        self.id
    }

    /// The name of the state's handle, if it was given one ([`StateHandle::named`]); messages
    /// name the state by it.
    pub const fn name(&self) -> Option<&'static str> {
        self.name
    }

    /// How messages name this state: `state NAME (id N)`, or `state N` when it has no name.
    pub const fn label(&self) -> StateLabel {
        StateLabel::new(self.id, self.name)
    }

    /// The variant of the state change this patch makes; newer patches may only raise it.
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The type of the data the state may own.
    pub const fn data_type(&self) -> DataType {
        self.data
    }
}

/// How messages name a state: by its handle's name and its id (`state FEE_RATE (id 1)`), or by
/// its id alone (`state 1`) when its handle has no name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateLabel {
    /// The state's id.
    pub id: u64,
    /// The name of its handle, if any.
    pub name: Option<&'static str>,
}

impl StateLabel {
    /// The label of state `id`, named `name` if it has a name.
    pub const fn new(id: u64, name: Option<&'static str>) -> Self {
        StateLabel { id, name }
    }
}

impl fmt::Display for StateLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => write!(f, "state {name} (id {})", self.id),
            None => write!(f, "state {}", self.id),
        }
    }
}

/// The patch marker of handles and callback contexts built by hand: such a handle may be used in
/// the callbacks of any hand-built descriptor, as before `#[livepatch]` marked its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnyPatch {}

/// A typed handle to a state: its id and version, the type of its data, and the patch it belongs
/// to.
///
/// Callbacks reach their patch's states through handles, so the data type is known at compile time
/// and nothing is looked up by a bare number (`cx.state(CONSOLE_LOGLEVEL)`). A handle's name
/// ([`StateHandle::named`], which `#[livepatch]` sets to the handle's own name) is how run-time
/// errors name the state.
///
/// `P` marks the patch: `#[livepatch]` gives each patch a marker type and marks its handles and
/// its callbacks' contexts with it, so that one patch's callback cannot reach its own states
/// through another patch's handle (it would find nothing). Handles built by hand are marked
/// [`AnyPatch`], as are the contexts of hand-built callbacks. Any handle may be passed to
/// `prev_state`, which reads an earlier patch's state.
///
/// ```
/// use livepatch::StateHandle;
/// use livepatch::prelude::*;
///
/// /// What `fix_loglevel` saves so that it can restore it.
/// pub struct SavedLoglevel(pub i32);
///
/// #[livepatch(
///     replace,
///     states = [
///         /// The console log level this patch raises.
///         CONSOLE_LOGLEVEL { id: 1, version: 2, data: SavedLoglevel },
///     ],
/// )]
/// pub mod fix_loglevel {
///     use super::*;
///
///     #[pre_patch]
///     fn save(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
///         if let Some(mut level) = cx.state(CONSOLE_LOGLEVEL) {
///             level.set(SavedLoglevel(4));
///         }
///         Ok(())
///     }
/// }
///
/// fn main() {
///     let handle: StateHandle<SavedLoglevel, _> = fix_loglevel::CONSOLE_LOGLEVEL;
///     assert_eq!((handle.id(), handle.version()), (1, 2));
///     assert_eq!(handle.label().to_string(), "state CONSOLE_LOGLEVEL (id 1)");
///     assert_eq!(fix_loglevel::PATCH.state(1).map(|s| s.version()), Some(2));
/// }
/// ```
pub struct StateHandle<T, P = AnyPatch> {
    id: u64,
    version: u32,
    name: Option<&'static str>,
    _data: PhantomData<fn() -> (T, P)>,
}

impl<T> StateHandle<T> {
    /// A handle for state `id` in variant `version`, marked [`AnyPatch`], for a descriptor built
    /// by hand.
    ///
    /// ```
    /// use livepatch::{PatchDesc, StateDesc, StateHandle};
    ///
    /// pub struct SavedLoglevel(pub i32);
    /// pub const CONSOLE_LOGLEVEL: StateHandle<SavedLoglevel> =
    ///     StateHandle::new(1, 2).named("CONSOLE_LOGLEVEL");
    /// static STATES: [StateDesc; 1] = [CONSOLE_LOGLEVEL.desc()];
    /// static PATCH: PatchDesc = PatchDesc::new("fix_loglevel").replace(true).states(&STATES);
    /// assert_eq!(PATCH.state(1).map(|s| s.version()), Some(2));
    /// assert_eq!(STATES[0].label().to_string(), "state CONSOLE_LOGLEVEL (id 1)");
    /// ```
    pub const fn new(id: u64, version: u32) -> Self {
        StateHandle {
            id,
            version,
            name: None,
            _data: PhantomData,
        }
    }
}

impl<T, P> StateHandle<T, P> {
    /// The same handle, named `name` in messages (`state NAME (id N)`).
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// The same handle, marked as one of the patch whose marker is `Q` (see the type's
    /// documentation); `#[livepatch]` marks the handles it generates so.
    pub const fn for_patch<Q>(self) -> StateHandle<T, Q> {
        StateHandle {
            id: self.id,
            version: self.version,
            name: self.name,
            _data: PhantomData,
        }
    }

    /// The state's id.
    pub const fn id(&self) -> u64 {
        self.id
    }

    /// The handle's name, if it has one.
    pub const fn name(&self) -> Option<&'static str> {
        self.name
    }

    /// How messages name this state.
    pub const fn label(&self) -> StateLabel {
        StateLabel::new(self.id, self.name)
    }

    /// The state's version.
    pub const fn version(&self) -> u32 {
        self.version
    }
}

impl<T: Send + Sync + 'static, P> StateHandle<T, P> {
    /// The descriptor entry for this state, to put in a patch's `states`.
    pub const fn desc(&self) -> StateDesc {
        StateDesc {
            id: self.id,
            version: self.version,
            data: DataType::of::<T>(),
            name: self.name,
        }
    }
}

impl<T, P> Clone for StateHandle<T, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, P> Copy for StateHandle<T, P> {}

impl<T, P> fmt::Debug for StateHandle<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateHandle")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("name", &self.name)
            .field("data", &std::any::type_name::<T>())
            .finish()
    }
}

/// A handle of the patch marked `P`: what a callback of that patch passes to `cx.state(..)`,
/// `cx.take_over(..)` and `cx.take_over_or_init(..)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a state handle of this callback's patch",
    label = "a handle of another patch's state",
    note = "this callback's patch is marked `{P}`: a callback reaches its own patch's states \
            through the handles generated in its own module",
    note = "to read an earlier patch's state, pass a handle with its id to `cx.prev_state(..)`"
)]
pub trait OwnState<P>: Copy {
    /// The type of the state's data.
    type Data: Send + Sync + 'static;

    /// The handle itself.
    fn handle(self) -> StateHandle<Self::Data, P>;
}

impl<T: Send + Sync + 'static, P> OwnState<P> for StateHandle<T, P> {
    type Data = T;

    fn handle(self) -> StateHandle<T, P> {
        self
    }
}

/// Which object a patch touches: the program itself (always loaded) or a named object that is
/// loaded and unloaded while the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectName {
    /// The program itself, the kernel's `vmlinux`.
    Program,
    /// A named object (a plugin, a component), loaded with [`crate::Runtime::load_object`].
    Named(&'static str),
}

impl ObjectName {
    /// The name a [`ObjectName::Named`] object was given, if it is one that can never be
    /// loaded: empty, or the program's own name.
    pub(crate) fn unloadable_name(&self) -> Option<&'static str> {
        match self {
            ObjectName::Named(name) if !is_loadable_name(name) => Some(name),
            _ => None,
        }
    }

    /// The name used in messages: the object's name, or `vmlinux` for the program.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ObjectName::Program => PROGRAM_OBJECT_NAME,
            ObjectName::Named(name) => name,
        }
    }
}

/// Whether `name` can name an object to load: not empty, and not the program's own name.
pub(crate) fn is_loadable_name(name: &str) -> bool {
    !name.is_empty() && name != PROGRAM_OBJECT_NAME
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four optional callbacks of one object, the kernel's `struct klp_callbacks`.
#[derive(Clone, Copy, Default)]
pub struct Callbacks {
    pub(crate) pre_patch: Option<PrePatchFn>,
    pub(crate) post_patch: Option<PostPatchFn>,
    pub(crate) pre_unpatch: Option<PreUnpatchFn>,
    pub(crate) post_unpatch: Option<PostUnpatchFn>,
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("pre_patch", &self.pre_patch.is_some())
            .field("post_patch", &self.post_patch.is_some())
            .field("pre_unpatch", &self.pre_unpatch.is_some())
            .field("post_unpatch", &self.post_unpatch.is_some())
            .finish()
    }
}

/// One object of a patch: its callbacks and the functions of the object that the patch replaces.
#[derive(Clone, Copy, Debug)]
pub struct ObjectDesc {
    pub(crate) name: ObjectName,
    pub(crate) callbacks: Callbacks,
    pub(crate) functions: &'static [FuncDesc],
}

impl ObjectDesc {
    /// The program itself (`vmlinux` in messages), with no callbacks.
    pub const fn program() -> Self {
        ObjectDesc {
            name: ObjectName::Program,
            callbacks: Callbacks {
                pre_patch: None,
                post_patch: None,
                pre_unpatch: None,
                post_unpatch: None,
            },
            functions: &[],
        }
    }

    /// A named object, with no callbacks.
    pub const fn named(name: &'static str) -> Self {
        ObjectDesc {
            name: ObjectName::Named(name),
            ..ObjectDesc::program()
        }
    }

    /// Runs before the object is patched; the only callback that can stop an enable or a load.
    pub const fn pre_patch(mut self, f: PrePatchFn) -> Self {
        self.callbacks.pre_patch = Some(f);
        self
    }

    /// Runs when the object's patching completes.
    pub const fn post_patch(mut self, f: PostPatchFn) -> Self {
        self.callbacks.post_patch = Some(f);
        self
    }

    /// Runs before the object is unpatched.
    pub const fn pre_unpatch(mut self, f: PreUnpatchFn) -> Self {
        self.callbacks.pre_unpatch = Some(f);
        self
    }

    /// Runs when the object's unpatching completes, if its `pre_patch` ran and succeeded.
    pub const fn post_unpatch(mut self, f: PostUnpatchFn) -> Self {
        self.callbacks.post_unpatch = Some(f);
        self
    }

    /// The functions of this object that the patch replaces.
    pub const fn functions(mut self, functions: &'static [FuncDesc]) -> Self {
        self.functions = functions;
        self
    }

    /// The object this entry is for.
    pub const fn name(&self) -> ObjectName {
        self.name
    }

    /// The replaced functions.
    pub const fn function_descs(&self) -> &'static [FuncDesc] {
        self.functions
    }

    /// The callbacks the object has, by their names (`pre_patch`, `post_patch`, `pre_unpatch`,
    /// `post_unpatch`), in that order.
    pub fn callback_names(&self) -> Vec<&'static str> {
        let c = &self.callbacks;
        [
            ("pre_patch", c.pre_patch.is_some()),
            ("post_patch", c.post_patch.is_some()),
            ("pre_unpatch", c.pre_unpatch.is_some()),
            ("post_unpatch", c.post_unpatch.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}
