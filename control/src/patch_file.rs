//! The checks a patch file passes before the loader reads it.
//!
//! A patch library runs its code inside the program, so whoever can change the file can run
//! code as the program's user. The file is therefore opened without following a symbolic link
//! (a link planted where the operator expects a patch could point anywhere), and must be a
//! regular file owned by the program's user or by root and not writable by its group or by
//! others. The loader then reads the very file that was checked, through its open descriptor.
//!
//! What this does not protect against: the program's own user and root, who may write any such
//! file anyway; a directory on the path that someone else may write, where the file could be
//! replaced between the operator's build and the load (keep patches in a directory of the
//! program's user); and a library whose source is malicious, which no check of the file can
//! tell (see `PatchLibrary::open`).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

/// Why a patch file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileRefusal {
    /// The path names a symbolic link.
    #[error(
        "{path}: is a symbolic link; give the path of the patch library itself, not of a link to it"
    )]
    Symlink {
        /// The file.
        path: PathBuf,
    },
    /// The path names something other than a regular file.
    #[error("{path}: is not a regular file; give the path of a patch library")]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// The file belongs to someone other than the program's user or root.
    #[error(
        "{path}: is owned by uid {owner}, but only the program's user (uid {service}) or root may \
         own a patch file; chown it"
    )]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The program's user.
        service: u32,
    },
    /// Its group or others may write the file.
    #[error(
        "{path}: is writable by its group or by others (mode {mode:o}); chmod go-w it before \
         loading"
    )]
    Writable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file could not be opened or read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// A patch file that passed the checks, held open.
#[derive(Debug)]
pub struct CheckedFile {
    fd: OwnedFd,
    path: PathBuf,
}

impl CheckedFile {
    /// The checked file itself, for the loader to read: the file cannot be swapped between the
    /// checks and the read.
    pub fn into_file(self) -> std::fs::File {
        std::fs::File::from(self.fd)
    }

    /// The path the operator gave.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens `path` for a program running as `service_uid`, with the checks above.
pub fn open(path: &Path, service_uid: u32) -> Result<CheckedFile, FileRefusal> {
    let io = |e: rustix::io::Errno| FileRefusal::Io {
        path: path.to_owned(),
        message: std::io::Error::from(e).to_string(),
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => {
            return Err(FileRefusal::Symlink {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(io)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(FileRefusal::NotAFile {
            path: path.to_owned(),
        });
    }
    if stat.st_uid != service_uid && stat.st_uid != 0 {
        return Err(FileRefusal::Owner {
            path: path.to_owned(),
            owner: stat.st_uid,
            service: service_uid,
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(FileRefusal::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(CheckedFile {
        fd,
        path: path.to_owned(),
    })
}
