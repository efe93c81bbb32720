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

pub use livepatch_macros::{
    livepatch, patch_library, patchable, post_patch, post_unpatch, pre_patch, pre_unpatch, program,
    replaces,
};

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
    pub use livepatch_macros::{
        livepatch, patchable, post_patch, post_unpatch, pre_patch, pre_unpatch, replaces,
    };
    pub use livepatch_runtime::shadow::{Shadow, ShadowId, ShadowTable};
    pub use livepatch_runtime::{
        CallbackError, Chain, EnableError, ErrorKind, PostPatch, PostUnpatch, PrePatch, PreUnpatch,
        PrevState, Runtime, StateDataError, StateMut, UnpatchReason,
    };
}
