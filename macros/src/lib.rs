//! Procedural macros of `livepatch`: `#[livepatch]` with the callback attributes and
//! `#[replaces]`, and `#[patchable]`. Use them through the `livepatch` facade crate; the work is
//! done by `livepatch-macros-core`.

use proc_macro::TokenStream;

/// Turns an inline module into a live patch.
///
/// ```ignore
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
/// In the module: `PATCH`, the patch's `PatchDesc` (a `static`, for `Runtime::enable(&PATCH)`),
/// and one `StateHandle<Data>` constant per state, named as the state, with its doc comment; the
/// module's documentation gains a table of the states (name, id, version, data type,
/// description), objects and callbacks, and one of the replaced functions (path, object,
/// replacement). Hidden items beginning with `__LIVEPATCH` carry what the
/// lineage checks need.
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
#[proc_macro_attribute]
pub fn livepatch(args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::livepatch(args.into(), item.into()).into()
}

/// Makes a function, or every method of an inherent impl block, patchable: calls go through a
/// slot that live patches can replace, under the kernel's per-thread consistency model.
///
/// ```ignore
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
/// its slot (a `FuncSlot<fn(..) -> ..>`) and its object; `#[replaces(path)]` finds it by `path`.
/// The slot's name, in the runtime's messages and errors, is the function's path:
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
#[proc_macro_attribute]
pub fn patchable(args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::patchable(args.into(), item.into()).into()
}

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
/// ```ignore
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
#[proc_macro_attribute]
pub fn replaces(_args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::replaces_outside_patch(item.into()).into()
}

/// Declares the build of a program's library, at the library's root, for the patch libraries
/// built against it: `pub static LIVEPATCH_PROGRAM`, with the crate's name and an id drawn anew
/// each time the library is compiled.
///
/// The running program passes `&LIVEPATCH_PROGRAM` to `livepatch::library::PatchLibrary::open`,
/// and a patch crate names the library in `livepatch::patch_library!(.., program = app)`; a patch
/// library built against another build of the program is refused. See the README's "Patching a
/// running program".
///
/// ```ignore
/// livepatch::program!();
///
/// fn main() {
///     assert_eq!(LIVEPATCH_PROGRAM.build_id().len(), 32);
/// }
/// ```
#[proc_macro]
pub fn program(input: TokenStream) -> TokenStream {
    livepatch_macros_core::program(input.into()).into()
}

/// Exports a patch from a patch library crate (a `cdylib` built against the program's library):
/// `livepatch::patch_library!(patch = fix_fee, program = app);` at the crate's root, where
/// `fix_fee` is a `#[livepatch]` module and `app` the program's library, whose root has
/// `livepatch::program!()`.
///
/// It writes the library's manifest (the patch, its states, the program's build and how the
/// library was built) into the ELF section `.livepatch.manifest`, which the loader reads before
/// it opens the library, and exports the static `LIVEPATCH_LIBRARY_ENTRY` that hands the patch
/// over. One library exports one patch.
#[proc_macro]
pub fn patch_library(input: TokenStream) -> TokenStream {
    livepatch_macros_core::patch_library(input.into()).into()
}

/// The callback attributes: `#[livepatch]` consumes them on the functions of its module, so
/// whenever one of them runs on its own it stands somewhere else, which is an error.
macro_rules! callback_attribute {
    ($name:ident, $context:literal, $returns:literal, $when:literal) => {
        #[doc = concat!("Marks a `", stringify!($name), "` callback of a `#[livepatch]` module: runs ", $when, ".")]
        ///
        #[doc = concat!("Signature: `fn(cx: &mut ", $context, "<'_>)", $returns, "`. Write `#[", stringify!($name), "]` for the program itself or `#[", stringify!($name), "(object = \"name\")]` for a named object, or `object = [\"net\", \"disk\"]` for several.")]
        /// Only meaningful on a function directly inside a `#[livepatch]` module, which consumes
        /// the attribute; anywhere else it is an error.
        #[proc_macro_attribute]
        pub fn $name(_args: TokenStream, item: TokenStream) -> TokenStream {
            livepatch_macros_core::callback_outside_patch(stringify!($name), item.into()).into()
        }
    };
}

callback_attribute!(
    pre_patch,
    "PrePatch",
    " -> Result<(), CallbackError>",
    "before the object is patched; returning an error stops the enable (or the object's load)"
);
callback_attribute!(
    post_patch,
    "PostPatch",
    "",
    "when the object's patching completes"
);
callback_attribute!(
    pre_unpatch,
    "PreUnpatch",
    "",
    "before the object is unpatched"
);
callback_attribute!(
    post_unpatch,
    "PostUnpatch",
    "",
    "when the object's unpatching completes, if its `pre_patch` ran and succeeded"
);

/// The comparison of a patch with a patch it follows, for the follower's documentation: called
/// only by the code `#[livepatch]` generates.
#[doc(hidden)]
#[proc_macro]
pub fn follows_doc(input: TokenStream) -> TokenStream {
    livepatch_macros_core::follows_doc(input.into()).into()
}
