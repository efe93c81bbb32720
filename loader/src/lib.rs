//! Patch libraries: patches built after the program shipped, loaded into the running process.
//!
//! A program that takes patch libraries keeps its code in one Rust `dylib` (the program's
//! library) and is built, like its patches, with `-C prefer-dynamic`, so that the process holds
//! one copy of std, of the runtime and of the program. The program's library declares its build
//! with `livepatch::program!()`; a patch crate (a `cdylib`) depends on that library and exports
//! its patch with `livepatch::patch_library!`, which writes a [`Manifest`] into an ELF section of
//! its own. [`PatchLibrary::open`] reads that manifest without running any of the library's code,
//! refuses a library built with another compiler, other flags or against another build of the
//! program, then opens it and refuses it again if it brought its own copy of the runtime or of
//! the program. The patch it returns goes through `Runtime::enable` like any other.

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod build;
mod entry;
mod error;
mod file;
mod kept;
mod library;
mod manifest;
mod program;

pub use crate::build::{BuildConfig, BuildSetting};
pub use crate::entry::{ENTRY_SYMBOL, LibraryEntry};
pub use crate::error::{LoadError, OwnCopy};
pub use crate::library::{PatchLibrary, read_manifest};
pub use crate::manifest::{
    MANIFEST_CAPACITY, MANIFEST_FORMAT, MANIFEST_SECTION, Manifest, ManifestBytes,
    ManifestCallback, ManifestFunction, ManifestObject, ManifestState, ManifestWriter, decimal,
};
pub use crate::program::Program;
