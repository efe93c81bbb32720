//! Why a patch library was refused. Each message names the file, what differs (both values) and
//! what to do; the variants let a tool tell the refusals apart.

use std::path::PathBuf;

use thiserror::Error;

use crate::build::BuildSetting;

/// Which copy a patch library brought along instead of using the program's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnCopy {
    /// The runtime (`livepatch`).
    Runtime,
    /// The program's library.
    Program,
}

/// A patch library that [`PatchLibrary::open`](crate::PatchLibrary::open) refused. Nothing of a
/// refused library stays registered.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// No file at the path.
    #[error(
        "no patch library at `{path}`: check the path (a patch crate's `cargo build` writes `target/<profile>/lib<crate>.so`)"
    )]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Unreadable {
        /// The path given.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The file is not an ELF file.
    #[error("`{path}` is not a patch library: it is not an ELF file")]
    NotElf {
        /// The path given.
        path: PathBuf,
    },
    /// The file is an ELF file of another kind than this program's libraries.
    #[error(
        "`{path}` is not a patch library: it is {kind}, not a 64-bit shared library; build the patch crate with `crate-type = [\"cdylib\"]` for the program's target"
    )]
    NotSharedLibrary {
        /// The path given.
        path: PathBuf,
        /// What it is.
        kind: String,
    },
    /// The file ends before what its headers describe.
    #[error(
        "`{path}` is truncated: it has {len} bytes, and its ELF headers describe {described}; copy the patch library again from its build"
    )]
    Truncated {
        /// The path given.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The length its headers need.
        described: u64,
    },
    /// The file's ELF structure cannot be read.
    #[error(
        "`{path}` is a damaged ELF file ({reason}); copy the patch library again from its build"
    )]
    Damaged {
        /// The path given.
        path: PathBuf,
        /// What could not be read.
        reason: String,
    },
    /// A shared library without a manifest: not a patch library.
    #[error(
        "`{path}` is not a patch library: it has no `.livepatch.manifest` section; export the patch crate's patch with `livepatch::patch_library!`"
    )]
    NoManifest {
        /// The path given.
        path: PathBuf,
    },
    /// A manifest of another format.
    #[error(
        "`{path}` has a manifest of format {library}, and this program reads format {program}: rebuild the patch with the program's version of `livepatch`"
    )]
    ManifestFormat {
        /// The path given.
        path: PathBuf,
        /// The library's format.
        library: String,
        /// The format this program reads.
        program: u32,
    },
    /// A manifest that cannot be read.
    #[error("`{path}` has a damaged manifest ({reason}); rebuild the patch library")]
    ManifestDamaged {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Built with another version of `livepatch`.
    #[error(
        "`{path}` was built with livepatch {library}, and the program with livepatch {program}: rebuild the patch with the program's version of `livepatch`"
    )]
    LivepatchVersion {
        /// The path given.
        path: PathBuf,
        /// The library's version.
        library: String,
        /// The program's version.
        program: String,
    },
    /// Built with another compiler, target, profile or codegen flags.
    #[error("`{path}` was built with {setting} `{library}`, and the program with `{program}`: {}", setting.advice())]
    Build {
        /// The path given.
        path: PathBuf,
        /// The setting that differs.
        setting: BuildSetting,
        /// The library's value.
        library: String,
        /// The program's value.
        program: String,
    },
    /// Built against another program.
    #[error(
        "`{path}` patches the program `{library}`, and this program is `{program}`: load a patch built against `{program}`"
    )]
    WrongProgram {
        /// The path given.
        path: PathBuf,
        /// The program the library was built against.
        library: String,
        /// The running program.
        program: String,
    },
    /// Built against another build of the program's library.
    #[error(
        "`{path}` was built against build {library} of `{program}`, and this process runs build {running}: rebuild the patch against build {running} of `{program}`"
    )]
    ProgramBuild {
        /// The path given.
        path: PathBuf,
        /// The program's name.
        program: String,
        /// The build the library was built against.
        library: String,
        /// The running build.
        running: String,
    },
    /// The dynamic linker refused the library.
    #[error("`{path}` could not be opened: {reason}")]
    Open {
        /// The path given.
        path: PathBuf,
        /// What the dynamic linker said.
        reason: String,
    },
    /// A manifest without the entry static.
    #[error(
        "`{path}` has a manifest but exports no `{symbol}`: export the patch with `livepatch::patch_library!`"
    )]
    NoEntry {
        /// The path given.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The entry does not match the manifest.
    #[error(
        "`{path}` is inconsistent: its manifest names patch `{manifest}`, and it exports patch `{entry}`; rebuild the patch library"
    )]
    EntryMismatch {
        /// The path given.
        path: PathBuf,
        /// The patch the manifest names.
        manifest: String,
        /// The patch the entry exports.
        entry: String,
    },
    /// The library brought its own copy of the runtime or of the program.
    #[error("`{path}` carries its own copy of {}: its patch would change that copy, not the running program; build the patch as a `cdylib` with `-C prefer-dynamic`, depending on the program's library and on `livepatch` built as dylibs, as the program is", match copy { OwnCopy::Runtime => "the livepatch runtime".to_owned(), OwnCopy::Program => format!("the program's library `{program}`") })]
    OwnCopy {
        /// The path given.
        path: PathBuf,
        /// What it copied.
        copy: OwnCopy,
        /// The program's name.
        program: String,
    },
}
