//! `livepatch`: live patches for Rust programs, with the Linux kernel's livepatch rules.
//!
//! A patch author describes a patch; the runtime enables it under the kernel's ordering, state
//! version and callback rules. See the README for a tour.
//!
//! # Writing a patch
//!
//! [`livepatch`](macro@livepatch) turns an inline module into a patch: it generates the patch's
//! descriptor `PATCH`, one typed [`StateHandle`] per declared state, and the module's
//! documentation, and checks at compile time what can be checked there.
//!
//! ```
//! use livepatch::prelude::*;
//!
//! /// What `fix_loglevel` saves so that it can restore it.
//! pub struct SavedLoglevel(pub i32);
//!
//! #[livepatch(
//!     replace,
//!     states = [
//!         /// The console log level this patch raises.
//!         CONSOLE_LOGLEVEL { id: 1, version: 2, data: SavedLoglevel },
//!     ],
//! )]
//! pub mod fix_loglevel {
//!     use super::*;
//!
//!     #[pre_patch]
//!     fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
//!         if let Some(mut state) = cx.state(CONSOLE_LOGLEVEL) {
//!             state.set(SavedLoglevel(4));
//!         }
//!         Ok(())
//!     }
//!
//!     #[post_unpatch(object = "net")]
//!     fn cleanup(cx: &mut PostUnpatch<'_>) {
//!         let _ = cx.reason();
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let runtime = Runtime::new();
//!     runtime.enable(&fix_loglevel::PATCH)?;
//!     assert_eq!(fix_loglevel::PATCH.name(), "fix_loglevel");
//!     assert_eq!(fix_loglevel::CONSOLE_LOGLEVEL.version(), 2);
//!     Ok(())
//! }
//! ```
//!
//! # Patchable functions
//!
//! [`patchable`](macro@patchable) makes a function (or every method of an inherent impl block)
//! dispatch through a slot that patches replace; in a patch module,
//! [`replaces`](macro@replaces) marks a replacement, whose signature and object are checked
//! against the target's at compile time.

#![warn(missing_docs)]

pub use livepatch_runtime::*;

// The macros' documentation, with its examples, which run as this crate's doctests (the macros
// crate cannot build this one for its own). Rustdoc shows a re-export's documentation before
// the item's, and the macros crate gives these items documentation only on its own pages.

/// Turns an inline module into a live patch.
///
/// ```
/// use livepatch::prelude::*;
///
/// /// What the patch saves so that it can restore it.
/// pub struct SavedLoglevel(pub i32);
///
/// #[livepatch(
///     name = "fix_loglevel",           // optional: the module's name by default
///     replace,                         // optional: a cumulative patch
///     states = [
///         /// The console log level this patch raises.
///         CONSOLE_LOGLEVEL { id: 1, version: 2, data: SavedLoglevel },
///     ],
/// )]
/// pub mod fix_loglevel {
///     use super::*;
///
///     #[pre_patch]
///     fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
///         if let Some(mut state) = cx.state(CONSOLE_LOGLEVEL) {
///             state.set(SavedLoglevel(4));
///         }
///         Ok(())
///     }
///
///     #[post_unpatch(object = "net")]
///     fn cleanup(cx: &mut PostUnpatch<'_>) {
///         let _ = cx.reason();
///     }
/// }
///
/// fn main() {
///     assert_eq!(fix_loglevel::PATCH.name(), "fix_loglevel");
///     assert_eq!(fix_loglevel::PATCH.object_descs().len(), 2);
/// }
/// ```
///
/// # Arguments
///
/// - `name = "..."`: the patch's name, unique among enabled patches and shown in every message
///   (`livepatch: enabling patch 'fix_loglevel'`). No spaces. Defaults to the module's name.
/// - `replace`: the patch is cumulative (the kernel's atomic replace): when its transition
///   completes it replaces every patch enabled before it, and it must declare every state they
///   declare.
/// - `follows = [path, ...]`: the patches this one is meant to be enabled after (see *Lineage*).
/// - `crate = path`: where the `livepatch` crate is, for a crate that depends on it under another
///   name (`crate = ::lp`); `::livepatch` by default.
/// - `states = [...]`: the system states the patch modifies, each written
///   `NAME { id: 1, version: 2, data: Type }` with its doc comment above it. `id` is a non-zero
///   integer, unique in the patch; `version` a non-negative integer (`u32`); `data` the type of the
///   data the state may own, `()` when left out. It must be `Send + Sync + 'static`.
///
/// Paths in the arguments (data types, followed patches) are resolved inside the module, like its
/// items: `use super::*;` in the module brings in the names of the enclosing one.
///
/// # Callbacks
///
/// Functions directly in the module marked `#[pre_patch]`, `#[post_patch]`, `#[pre_unpatch]` or
/// `#[post_unpatch]`, for the program itself, or with `(object = "name")` for a named object, or
/// with `(object = ["net", "disk"])` for one function serving several objects. An object may be
/// named by a constant `&str` of the program's (`object = app::NET`), so that a misspelled name
/// does not compile; a patch names each object one way (a literal and a constant of the same
/// name are refused at compile time):
///
/// | attribute | signature |
/// |---|---|
/// | `#[pre_patch]` | `fn(cx: &mut PrePatch<'_>) -> Result<(), CallbackError>` |
/// | `#[post_patch]` | `fn(cx: &mut PostPatch<'_>)` |
/// | `#[pre_unpatch]` | `fn(cx: &mut PreUnpatch<'_>)` |
/// | `#[post_unpatch]` | `fn(cx: &mut PostUnpatch<'_>)` |
///
/// An object has at most one callback of each kind. The descriptor lists the program first
/// (`vmlinux` in messages), always, then the named objects in the order of their first callback
/// in the module; callbacks run object by object in that order.
///
/// # Replacement functions
///
/// Functions directly in the module marked `#[replaces(path)]` (a function of the program
/// itself) or `#[replaces(path, object = "name")]` replace the [`patchable`](macro@patchable)
/// function at `path` while the patch is enabled. A replacement has its target's signature, a
/// method's receiver written as its first argument; a function is replaced at most once per
/// patch. Objects that have replacements but no callbacks are listed too, in the order of their
/// first callback or replacement in the module.
///
/// # Generated items
///
/// In the module: `PATCH`, the patch's [`PatchDesc`] (a `static`, for
/// [`Runtime::enable(&PATCH)`](Runtime::enable)), and one [`StateHandle<Data>`](StateHandle)
/// constant per state, named as the state, with its doc comment; the module's documentation
/// gains a table of the states (name, id, version, data type, description), objects and
/// callbacks, and one of the replaced functions (path, object, replacement). Hidden items
/// beginning with `__LIVEPATCH` carry what the lineage checks need.
///
/// # Lineage
///
/// With `follows = [super::older]`, the rules the runtime applies when this patch is enabled
/// while `older` is installed are checked at compile time: every state of `older` must be
/// declared here with the same or a higher version, or, if this patch is not cumulative, may be
/// left out. A patch that lowers a version, or a cumulative patch that drops a state, does not
/// compile, with a message naming the state, the older patch and both versions. Only the patches
/// listed are checked; list every patch that may be installed below this one.
///
/// # Errors
///
/// Every mistake the macro can see is reported at once, under the tokens that make it: a zero,
/// negative or non-literal id or version, a duplicate id or state name (both places are shown),
/// a missing or repeated key, an unknown key (with the list of expected ones), two callbacks of
/// one kind for one object, a callback whose signature is not the one above, a replacement whose
/// signature or object is not its target's, two replacements of one function, `#[livepatch]` on
/// anything but an inline module. The module is still generated, so that one mistake gives one
/// error.
pub use livepatch_macros::livepatch;

/// Makes a function, or every method of an inherent impl block, patchable: calls go through a
/// slot that live patches can replace, under the kernel's per-thread consistency model.
///
/// ```
/// use livepatch::prelude::*;
///
/// pub mod net {
///     use livepatch::patchable;
///
///     /// The program's code, as shipped.
///     #[patchable]
///     pub fn checksum(buf: &[u8]) -> u32 {
///         buf.iter().map(|&b| u32::from(b)).sum()
///     }
///
///     pub struct Conn {
///         pub sent: u32,
///     }
///
///     #[patchable(object = "net")]
///     impl Conn {
///         pub fn send(&mut self, buf: &[u8]) -> u32 {
///             self.sent += 1;
///             checksum(buf)
///         }
///     }
/// }
///
/// #[livepatch]
/// pub mod fix_checksum {
///     use super::net::Conn;
///
///     #[replaces(crate::net::checksum)]
///     fn checksum(buf: &[u8]) -> u32 {
///         buf.iter().map(|&b| u32::from(b)).sum::<u32>() + buf.len() as u32
///     }
///
///     #[replaces(crate::net::Conn::send, object = "net")]
///     fn send(conn: &mut Conn, _buf: &[u8]) -> u32 {
///         conn.sent += 2;
///         0
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let runtime = Runtime::new();
///     runtime.load_object("net")?;
///     let mut conn = net::Conn { sent: 0 };
///     assert_eq!((net::checksum(&[1, 2]), conn.send(&[1])), (3, 1));
///     runtime.enable(&fix_checksum::PATCH)?;
///     runtime.wait_transition(std::time::Duration::from_secs(30))?;
///     assert_eq!((net::checksum(&[1, 2]), conn.send(&[1])), (5, 0));
///     assert_eq!(conn.sent, 3);
///     runtime.disable("fix_checksum")?;
///     runtime.wait_transition(std::time::Duration::from_secs(30))?;
///     assert_eq!(net::checksum(&[1, 2]), 3);
///     Ok(())
/// }
/// ```
///
/// # Arguments
///
/// - `object = "name"`: the function belongs to a named object (a plugin, a component) instead
///   of the program itself; replacements of it are listed under that object, and applied when
///   it loads.
/// - `crate = path`: where the `livepatch` crate is, for a crate that depends on it under another
///   name (`crate = ::lp`).
///
/// # What it generates
///
/// The function keeps its signature, visibility and attributes; its body moves into an original
/// function that the slot holds, and the function calls whatever the slot says this thread must
/// run. Beside it (in the impl block, for a method) one hidden constant, `__livepatch_slot_NAME`:
/// its slot (a [`FuncSlot<fn(..) -> ..>`](FuncSlot)) and its object; `#[replaces(path)]` finds
/// it by `path`. The slot's name, in the runtime's messages and errors, is the function's path:
/// `module_path!()` followed by `::name` (`::Type::name` for a method). A recursive call goes
/// through the slot too.
///
/// # Private functions
///
/// A private function or method is replaceable too, as the kernel patches `static` functions:
/// the hidden constant is always `pub` (and `#[doc(hidden)]`), whatever the function's
/// visibility, so it is reachable wherever the function's module (or type) is; the function
/// itself keeps the visibility written. The patch still has to name the path to it, and write
/// the types of its signature: from another crate, every module on the way must be `pub` (a
/// private module cannot be named there: make it `pub` and `#[doc(hidden)]`, or re-export the
/// module), and a type private to the module can only be written by a patch inside it.
///
/// A method's replacement is a free function that takes the receiver as its first argument
/// (`this: &Conn` for `&self`); `Self` is spelled out in its signature.
///
/// # Unsupported forms
///
/// Refused with an error that says why: generic functions (type or const parameters, `impl
/// Trait` arguments), lifetime bounds and `where` clauses, returning `impl Trait`, `async fn`,
/// `const fn`, `extern` ABIs, varargs, trait impls and generic impl blocks. `#[patchable]` on a
/// method inside an impl block is an error too: put it on the block. (The attribute sees only the
/// function: it recognizes a method by its `self` or a `Self` in its signature; on any other
/// associated function the compiler reports that `__livepatch_slot_NAME` is not found.)
///
/// An `unsafe fn` is supported: the slot holds `unsafe fn` pointers, and the caller's obligations
/// are the original's. Arguments written as patterns (`(a, b): (u32, u32)`) are taken whole by
/// the function and destructured by the original.
pub use livepatch_macros::patchable;

/// Marks a replacement function of a `#[livepatch]` module: `#[replaces(path)]` for a
/// `#[patchable]` function of the program itself, `#[replaces(path, object = "name")]` for one of
/// a named object.
///
/// The replacement has the target's signature (a method's receiver becomes its first argument);
/// a signature that differs is a compile error at the replacement's name, showing both. An
/// `object` that is not the target's is a compile error naming the right one. A path to a
/// function that is not `#[patchable]` fails to find its hidden constant `__livepatch_slot_NAME`.
/// The patch's descriptor lists the replacement under its object (an object with no callbacks
/// gets an entry for it), and the module's documentation lists it in its table of functions.
///
/// Only meaningful on a function directly inside a `#[livepatch]` module, which consumes the
/// attribute; anywhere else it is an error.
///
/// ```
/// use livepatch::prelude::*;
///
/// pub struct Cache {
///     hits: u32,
/// }
///
/// #[patchable]
/// impl Cache {
///     pub fn hit(&mut self) -> u32 {
///         self.hits += 1;
///         self.hits
///     }
/// }
///
/// #[livepatch]
/// pub mod count_twice {
///     use super::Cache;
///
///     // `&mut self` becomes the first argument.
///     #[replaces(crate::Cache::hit)]
///     fn hit(cache: &mut Cache) -> u32 {
///         cache.hits += 2;
///         cache.hits
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let runtime = Runtime::new();
///     let mut cache = Cache { hits: 0 };
///     assert_eq!(cache.hit(), 1);
///     runtime.enable(&count_twice::PATCH)?;
///     runtime.wait_transition(std::time::Duration::from_secs(30))?;
///     assert_eq!(cache.hit(), 3);
///     let functions = count_twice::PATCH.object_descs()[0].function_descs();
///     assert_eq!(functions[0].name(), concat!(module_path!(), "::Cache::hit"));
///     Ok(())
/// }
/// ```
pub use livepatch_macros::replaces;

/// Declares the build of a program's library, at the library's root, for the patch libraries
/// built against it: `pub static LIVEPATCH_PROGRAM`, with the crate's name and an id drawn anew
/// each time the library is compiled.
///
/// The running program passes `&LIVEPATCH_PROGRAM` to
/// [`PatchLibrary::open`](crate::library::PatchLibrary::open), and a patch crate names the
/// library in [`livepatch::patch_library!(.., program = app)`](macro@patch_library); a patch
/// library built against another build of the program is refused. See the README's "Patching a
/// running program".
///
/// ```
/// livepatch::program!();
///
/// fn main() {
///     assert_eq!(LIVEPATCH_PROGRAM.build_id().len(), 32);
/// }
/// ```
pub use livepatch_macros::program;

pub use livepatch_macros::{patch_library, post_patch, post_unpatch, pre_patch, pre_unpatch};

/// Patch libraries: patches built after the program shipped, loaded into the running process.
///
/// See the README's "Patching a running program" for the layout of the crates and the builds.
pub mod library {
    pub use livepatch_loader::{
        BuildConfig, BuildSetting, LoadError, Manifest, ManifestCallback, ManifestFunction,
        ManifestObject, ManifestState, OwnCopy, PatchLibrary, Program, read_manifest,
    };
}

/// The control socket a program serves, so that an operator drives its patches with the
/// `livepatch` command (the crate `livepatch-control`).
#[cfg(feature = "control")]
pub use livepatch_control as control;

#[doc(hidden)]
pub mod __private;

// The generated code names this crate by its path, as a patch crate's would.
#[cfg(doc)]
extern crate self as livepatch;

#[cfg(doc)]
pub mod example;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// What an author of patches written with the macros needs, in one import: the macros, the
/// callback contexts and what they give, the errors, the runtime and shadow variables. The
/// builders of hand-written descriptors (`PatchDesc`, `ObjectDesc`, `StateDesc`, `StateHandle`)
/// are at the crate's root.
pub mod prelude {
    // Not inlined: the pages of the macros are the crate root's, which carry their documentation.
    #[doc(no_inline)]
    pub use livepatch_macros::{
        livepatch, patchable, post_patch, post_unpatch, pre_patch, pre_unpatch, replaces,
    };
    pub use livepatch_runtime::shadow::{Shadow, ShadowId, ShadowTable};
    pub use livepatch_runtime::{
        CallbackError, Chain, EnableError, ErrorKind, PostPatch, PostUnpatch, PrePatch, PreUnpatch,
        PrevState, Runtime, StateDataError, StateMut, UnpatchReason,
    };
}
