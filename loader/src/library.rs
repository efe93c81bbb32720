//! Opening a patch library: every check that can be made before any of its code runs, then the
//! checks only the opened library can answer.

use std::path::{Path, PathBuf};

use livepatch_runtime::{PatchDesc, RUNTIME_IDENTITY};

use crate::build::BuildConfig;
use crate::error::{LoadError, OwnCopy};
use crate::file;
use crate::kept;
use crate::manifest::{MANIFEST_FORMAT, Manifest};
use crate::program::Program;

/// A patch library that passed every check, opened and kept mapped for the life of the process.
#[derive(Debug)]
pub struct PatchLibrary {
    path: PathBuf,
    manifest: Manifest,
    patch: &'static PatchDesc,
}

impl PatchLibrary {
    /// Opens the patch library at `path`, built against `program` (the running program's
    /// `LIVEPATCH_PROGRAM`, which `livepatch::program!()` defines at its library's root), and
    /// returns its patch, for `Runtime::enable`.
    ///
    /// Before the library is opened, its manifest is read from the file and compared with the
    /// running program: the manifest format, the `livepatch` version, the compiler, target,
    /// profile and codegen flags, the program and the id of the program's build. The dynamic
    /// linker then maps exactly the bytes that were checked (an in-memory copy of the file). Once
    /// it is open, the library is refused if the runtime or the program it sees are copies of its
    /// own rather than the process's. A refused library is closed and nothing of it stays
    /// registered; an accepted one stays mapped until the process exits, so that nothing that
    /// points into it (its code on a stack, a forced patch, state data, shadow variables) can
    /// outlive it.
    ///
    /// # Safety
    ///
    /// Opening a library runs its initialisers, and enabling its patch runs its code in this
    /// process. The checks make sure the library was built by the same compiler with the same
    /// settings against this very build of the program, and that it shares the program's runtime
    /// and library; they cannot tell what its code does. The caller promises that the library
    /// comes from a trusted build of the patch's source, and that the patch does not change the
    /// layout of any type the program shares with it (new data goes in state data or shadow
    /// variables).
    pub unsafe fn open(
        path: impl AsRef<Path>,
        program: &'static Program,
    ) -> Result<PatchLibrary, LoadError> {
        let path = path.as_ref();
        // SAFETY: the caller's promise, passed on.
        unsafe { Self::open_checked(path, file::read(path)?, program) }
    }

    /// [`PatchLibrary::open`] of a file the caller has already opened (after checks of its
    /// own, such as its owner and mode), named `path` in messages. The bytes checked and mapped
    /// are the ones read from `file`, whatever `path` names by then.
    ///
    /// # Safety
    ///
    /// As for [`PatchLibrary::open`].
    pub unsafe fn open_file(
        path: impl AsRef<Path>,
        file: std::fs::File,
        program: &'static Program,
    ) -> Result<PatchLibrary, LoadError> {
        let path = path.as_ref();
        // SAFETY: the caller's promise, passed on.
        unsafe { Self::open_checked(path, file::read_open(path, file)?, program) }
    }

    /// Checks the manifest of `file`, read from `path`, and opens it.
    ///
    /// # Safety
    ///
    /// As for [`PatchLibrary::open`].
    unsafe fn open_checked(
        path: &Path,
        file: file::LibraryFile,
        program: &'static Program,
    ) -> Result<PatchLibrary, LoadError> {
        file.manifest.check(path, program)?;
        // SAFETY: the caller's promise, above.
        let opened = unsafe { kept::open(path, &file.bytes)? };
        let entry = opened.entry(path)?;
        if entry.format != MANIFEST_FORMAT {
            return Err(LoadError::ManifestFormat {
                path: path.to_owned(),
                library: entry.format.to_string(),
                program: MANIFEST_FORMAT,
            });
        }
        let own_copy = |copy| LoadError::OwnCopy {
            path: path.to_owned(),
            copy,
            program: program.name().to_owned(),
        };
        if !std::ptr::eq(entry.runtime, &RUNTIME_IDENTITY) {
            return Err(own_copy(OwnCopy::Runtime));
        }
        if !std::ptr::eq(entry.program, program) {
            return Err(own_copy(OwnCopy::Program));
        }
        let patch = entry.patch;
        if patch.name() != file.manifest.patch {
            return Err(LoadError::EntryMismatch {
                path: path.to_owned(),
                manifest: file.manifest.patch.clone(),
                entry: patch.name().to_owned(),
            });
        }
        opened.keep();
        Ok(PatchLibrary {
            path: path.to_owned(),
            manifest: file.manifest,
            patch,
        })
    }

    /// The library's patch, for `Runtime::enable`.
    pub fn patch(&self) -> &'static PatchDesc {
        self.patch
    }

    /// The library's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The path the library was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the manifest of the patch library at `path` without opening it, after the same checks
/// of the file that [`PatchLibrary::open`] makes.
pub fn read_manifest(path: impl AsRef<Path>) -> Result<Manifest, LoadError> {
    file::read(path.as_ref()).map(|file| file.manifest)
}

impl Manifest {
    /// Checks that a library with this manifest, at `path`, was built for `program`: the same
    /// `livepatch`, compiler, target, profile, codegen flags, program and build of the program.
    pub fn check(&self, path: &Path, program: &Program) -> Result<(), LoadError> {
        let path = path.to_owned();
        if self.livepatch != Manifest::livepatch_version() {
            return Err(LoadError::LivepatchVersion {
                path,
                library: self.livepatch.clone(),
                program: Manifest::livepatch_version().to_owned(),
            });
        }
        let current = BuildConfig::current();
        if let Some(setting) = self.build.first_difference(&current) {
            return Err(LoadError::Build {
                path,
                setting,
                library: self.build.get(setting).to_owned(),
                program: current.get(setting).to_owned(),
            });
        }
        if self.program != program.name() {
            return Err(LoadError::WrongProgram {
                path,
                library: self.program.clone(),
                program: program.name().to_owned(),
            });
        }
        if self.program_build != program.build_id() {
            return Err(LoadError::ProgramBuild {
                path,
                program: program.name().to_owned(),
                library: self.program_build.clone(),
                running: program.build_id().to_owned(),
            });
        }
        Ok(())
    }
}
