//! `livepatch`: live patches for Rust programs, with the Linux kernel's livepatch rules.
//!
//! A patch author describes a patch; the runtime enables it under the kernel's ordering, state
//! version and callback rules. See the README for a tour.

pub use livepatch_runtime::*;

/// What patch authors need, in one import.
pub mod prelude {
    pub use livepatch_runtime::{
        CallbackError, ObjectDesc, PatchDesc, PostPatch, PostUnpatch, PrePatch, PreUnpatch,
        Runtime, StateDesc, StateHandle, UnpatchReason,
    };
}
