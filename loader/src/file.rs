//! Reading a patch library's file without running it: its ELF structure, and its manifest.

use std::io::ErrorKind;
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind};

use crate::error::LoadError;
use crate::manifest::{MANIFEST_FORMAT, MANIFEST_SECTION, Manifest, ManifestProblem};

/// The bytes of a patch library, read once: the checks and the dynamic linker see the same ones.
pub(crate) struct LibraryFile {
    pub(crate) bytes: Vec<u8>,
    pub(crate) manifest: Manifest,
}

type Header = elf::FileHeader64<Endianness>;

/// Reads the file at `path`, checks that it is a whole 64-bit ELF shared library and reads its
/// manifest.
pub(crate) fn read(path: &Path) -> Result<LibraryFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|error| unreadable(path, error))?;
    parse(path, bytes)
}

/// [`read`] of a file already open, named `path` in messages.
pub(crate) fn read_open(path: &Path, mut file: std::fs::File) -> Result<LibraryFile, LoadError> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|error| unreadable(path, error))?;
    parse(path, bytes)
}

fn unreadable(path: &Path, error: std::io::Error) -> LoadError {
    match error.kind() {
        ErrorKind::NotFound => LoadError::Missing {
            path: path.to_owned(),
        },
        _ => LoadError::Unreadable {
            path: path.to_owned(),
            reason: error.to_string(),
        },
    }
}

fn parse(path: &Path, bytes: Vec<u8>) -> Result<LibraryFile, LoadError> {
    let section = manifest_section(path, &bytes)?;
    let manifest = Manifest::parse(section).map_err(|problem| match problem {
        ManifestProblem::Format(library) => LoadError::ManifestFormat {
            path: path.to_owned(),
            library,
            program: MANIFEST_FORMAT,
        },
        ManifestProblem::Damaged(reason) => LoadError::ManifestDamaged {
            path: path.to_owned(),
            reason,
        },
    })?;
    Ok(LibraryFile { bytes, manifest })
}

/// The contents of the manifest section of the ELF file `bytes`.
fn manifest_section<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], LoadError> {
    let damaged = |error: object::Error| LoadError::Damaged {
        path: path.to_owned(),
        reason: error.to_string(),
    };
    if !bytes.starts_with(&elf::ELFMAG) {
        return Err(LoadError::NotElf {
            path: path.to_owned(),
        });
    }
    match FileKind::parse(bytes) {
        Ok(FileKind::Elf64) => {}
        Ok(_) => {
            return Err(LoadError::NotSharedLibrary {
                path: path.to_owned(),
                kind: "a 32-bit ELF file".to_owned(),
            });
        }
        Err(_) => return Err(truncated(path, bytes, size_of::<Header>() as u64)),
    }
    let header =
        Header::parse(bytes).map_err(|_| truncated(path, bytes, size_of::<Header>() as u64))?;
    let endian = header.endian().map_err(damaged)?;
    if header.e_type(endian) != elf::ET_DYN {
        let kind = match header.e_type(endian) {
            elf::ET_EXEC => "an executable",
            elf::ET_REL => "an object file",
            elf::ET_CORE => "a core dump",
            _ => "an ELF file of an unknown kind",
        };
        return Err(LoadError::NotSharedLibrary {
            path: path.to_owned(),
            kind: kind.to_owned(),
        });
    }
    // Everything the headers describe must lie inside the file: a copy cut short is told apart
    // from damage, since it is the common case and its fix is plain.
    let tables = [
        (
            header.e_phoff(endian),
            u64::from(header.e_phnum(endian)) * u64::from(header.e_phentsize(endian)),
        ),
        (
            header.e_shoff(endian),
            u64::from(header.e_shnum(endian)) * u64::from(header.e_shentsize(endian)),
        ),
    ];
    check_extents(path, bytes, tables)?;
    let segments = header.program_headers(endian, bytes).map_err(damaged)?;
    check_extents(
        path,
        bytes,
        segments
            .iter()
            .map(|segment| (segment.p_offset(endian), segment.p_filesz(endian))),
    )?;
    let sections = header.sections(endian, bytes).map_err(damaged)?;
    check_extents(
        path,
        bytes,
        sections
            .iter()
            .filter(|section| section.sh_type(endian) != elf::SHT_NOBITS)
            .map(|section| (section.sh_offset(endian), section.sh_size(endian))),
    )?;
    let (_, section) = sections
        .section_by_name(endian, MANIFEST_SECTION.as_bytes())
        .ok_or_else(|| LoadError::NoManifest {
            path: path.to_owned(),
        })?;
    section.data(endian, bytes).map_err(damaged)
}

/// Checks that every `(offset, size)` range lies inside `bytes`.
fn check_extents(
    path: &Path,
    bytes: &[u8],
    ranges: impl IntoIterator<Item = (u64, u64)>,
) -> Result<(), LoadError> {
    let end = ranges
        .into_iter()
        .map(|(offset, size)| offset.saturating_add(size))
        .max()
        .unwrap_or(0);
    if end > bytes.len() as u64 {
        return Err(truncated(path, bytes, end));
    }
    Ok(())
}

fn truncated(path: &Path, bytes: &[u8], described: u64) -> LoadError {
    LoadError::Truncated {
        path: path.to_owned(),
        len: bytes.len() as u64,
        described,
    }
}
