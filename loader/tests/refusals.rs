//! Files that are not patch libraries, refused before anything is opened, with the messages a
//! user reads. (Real patch libraries, and every refusal of one, are in the workspace's
//! `tests/patch_library.rs`.)

use std::fs;
use std::path::PathBuf;

use livepatch_loader::{LoadError, read_manifest};

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("loader-refusals");
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn a_missing_path_is_named() {
    let path = scratch("missing.so");
    let _ = fs::remove_file(&path);
    let error = read_manifest(&path).unwrap_err();
    assert_eq!(error, LoadError::Missing { path: path.clone() });
    assert_eq!(
        error.to_string(),
        format!(
            "no patch library at `{}`: check the path (a patch crate's `cargo build` writes \
             `target/<profile>/lib<crate>.so`)",
            path.display()
        )
    );
}

#[test]
fn a_file_that_is_not_elf_is_refused() {
    let path = scratch("text.so");
    fs::write(&path, "not a library\n").unwrap();
    assert_eq!(
        read_manifest(&path).unwrap_err().to_string(),
        format!(
            "`{}` is not a patch library: it is not an ELF file",
            path.display()
        )
    );
}

#[test]
fn an_elf_file_without_a_manifest_is_not_a_patch_library() {
    // This test's own executable is a whole ELF file with no manifest.
    let path = std::env::current_exe().unwrap();
    let error = read_manifest(&path).unwrap_err();
    let expected = match &error {
        // A position-independent executable is of the shared-object type.
        LoadError::NoManifest { .. } => format!(
            "`{}` is not a patch library: it has no `.livepatch.manifest` section; export the \
             patch crate's patch with `livepatch::patch_library!`",
            path.display()
        ),
        _ => format!(
            "`{}` is not a patch library: it is an executable, not a 64-bit shared library; \
             build the patch crate with `crate-type = [\"cdylib\"]` for the program's target",
            path.display()
        ),
    };
    assert_eq!(error.to_string(), expected);
}

#[test]
fn a_cut_copy_is_truncated_and_a_cut_header_too() {
    let whole = fs::read(std::env::current_exe().unwrap()).unwrap();
    let path = scratch("cut.so");
    fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    match read_manifest(&path).unwrap_err() {
        LoadError::Truncated { len, described, .. } => {
            assert_eq!(len, (whole.len() / 2) as u64);
            assert!(described > len && described <= whole.len() as u64);
        }
        other => panic!("expected a truncated file, got {other:?}"),
    }
    fs::write(&path, &whole[..20]).unwrap();
    assert_eq!(
        read_manifest(&path).unwrap_err(),
        LoadError::Truncated {
            path: path.clone(),
            len: 20,
            described: 64
        }
    );
}

#[test]
fn a_32_bit_elf_file_is_not_a_shared_library_of_this_program() {
    let mut header = vec![0u8; 52];
    header[..4].copy_from_slice(b"\x7fELF");
    header[4] = 1; // ELFCLASS32
    header[5] = 1; // little-endian
    header[6] = 1; // version
    let path = scratch("elf32.so");
    fs::write(&path, &header).unwrap();
    assert_eq!(
        read_manifest(&path).unwrap_err().to_string(),
        format!(
            "`{}` is not a patch library: it is a 32-bit ELF file, not a 64-bit shared library; \
             build the patch crate with `crate-type = [\"cdylib\"]` for the program's target",
            path.display()
        )
    );
}
