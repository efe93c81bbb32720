//! Opening a checked library, and keeping it mapped for the life of the process.
//!
//! A library is never closed once its patch was handed out: its code may be on a thread's stack,
//! its patch may be forced (the kernel never frees a forced patch's module), and state data and
//! shadow variables it made may outlive its patch. Keeping every loaded library is the simple
//! rule that covers all of these.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd as _, FromRawFd as _};
use std::path::Path;
use std::sync::Mutex;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};

use crate::entry::{ENTRY_SYMBOL, LibraryEntry};
use crate::error::LoadError;

/// A library opened from the bytes that were checked.
pub(crate) struct Opened {
    library: Library,
    /// The in-memory file the library was opened from; kept open, so that debuggers and
    /// backtraces can still read the library through `/proc/self/fd`.
    _file: File,
}

/// Every library whose patch was handed out. Never emptied.
static KEPT: Mutex<Vec<Opened>> = Mutex::new(Vec::new());

/// Opens `bytes`, the contents of the checked file at `path`. They are written to an anonymous
/// in-memory file first, so that the dynamic linker maps exactly the bytes that were checked,
/// whatever happens to the file at `path` meanwhile.
///
/// # Safety
///
/// Opening a library runs its initialisers; see [`PatchLibrary::open`](crate::PatchLibrary::open).
pub(crate) unsafe fn open(path: &Path, bytes: &[u8]) -> Result<Opened, LoadError> {
    let failed = |reason: String| LoadError::Open {
        path: path.to_owned(),
        reason,
    };
    // SAFETY: the name is a NUL-terminated string; the call has no other requirements.
    let fd = unsafe { libc::memfd_create(c"livepatch-library".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(failed(format!(
            "cannot create an in-memory copy: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(bytes)
        .map_err(|error| failed(format!("cannot write its in-memory copy: {error}")))?;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    // SAFETY: the caller accepts that the library's initialisers run (`PatchLibrary::open`).
    let library = unsafe { Library::open(Some(&proc_path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|error| failed(error.to_string()))?;
    Ok(Opened {
        library,
        _file: file,
    })
}

impl Opened {
    /// The library's entry static.
    pub(crate) fn entry(&self, path: &Path) -> Result<&'static LibraryEntry, LoadError> {
        let symbol = format!("{ENTRY_SYMBOL}\0");
        // SAFETY: the symbol is a static of type `LibraryEntry` in every library whose manifest
        // passed the checks (`livepatch::patch_library!` defines both); the pointer is only
        // read as such once the format it begins with was compared.
        let entry = unsafe { self.library.get::<*const LibraryEntry>(symbol.as_bytes()) }.map_err(
            |_| LoadError::NoEntry {
                path: path.to_owned(),
                symbol: ENTRY_SYMBOL,
            },
        )?;
        let entry: *const LibraryEntry = *entry;
        // SAFETY: as above; the library is kept mapped from here on or closed only after every
        // reference derived from this one is gone (`keep`, and the caller's early returns).
        unsafe { entry.as_ref() }.ok_or(LoadError::NoEntry {
            path: path.to_owned(),
            symbol: ENTRY_SYMBOL,
        })
    }

    /// Keeps the library mapped for the life of the process.
    pub(crate) fn keep(self) {
        KEPT.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(self);
    }
}
