//! What a patch library exports: one static, found by name after the library is opened.

use livepatch_runtime::PatchDesc;

use crate::manifest::ManifestBytes;
use crate::program::Program;

/// The name of the static a patch library exports (`livepatch::patch_library!` defines it).
pub const ENTRY_SYMBOL: &str = "LIVEPATCH_LIBRARY_ENTRY";

/// The static a patch library exports. Reading it runs none of the library's code: the dynamic
/// linker has already filled in its pointers. The pointers to the runtime's and the program's
/// statics are the ones the library's code uses; the loader compares them with its own.
#[repr(C)]
#[derive(Debug)]
pub struct LibraryEntry {
    /// The manifest's format, as in the manifest.
    pub format: u32,
    /// The manifest, so that it is kept in the library.
    pub manifest: &'static ManifestBytes,
    /// The runtime's `RUNTIME_IDENTITY`, as the library sees it.
    pub runtime: &'static u8,
    /// The program's build, as the library sees it.
    pub program: &'static Program,
    /// The patch.
    pub patch: &'static PatchDesc,
}
