//! The command line.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use livepatch_control::Request;

/// Drive a running program's live patches through its control socket.
#[derive(Debug, Parser)]
#[command(
    name = "livepatch",
    version,
    after_help = "Exit codes: 0 done; 1 refused by the program (the reply says why), or for \
                  `info FILE` a file that is not a readable patch library; 2 a usage error; 3 \
                  the control socket cannot be reached or answers nonsense."
)]
pub(crate) struct Args {
    /// The program's control socket.
    #[arg(long, short, global = true)]
    pub(crate) socket: Option<PathBuf>,
    /// The program whose default socket to use, when `--socket` is not given.
    #[arg(long, short, global = true, default_value = "app")]
    pub(crate) program: String,
    /// Print the program's reply as JSON, for scripts.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Args {
    pub(crate) fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| livepatch_control::default_socket_path(&self.program))
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Every patch on the list: enabled, transition, replace, stack order, objects, states.
    List,
    /// Load a patch library into the program, enable its patch and wait for its transition.
    ///
    /// While the transition goes on, a line on stderr each second names the threads not
    /// switched yet (none with --json).
    Load {
        /// The library file, as the program sees it.
        file: PathBuf,
        /// Load only; enable later with `livepatch enable`.
        #[arg(long)]
        no_enable: bool,
    },
    /// Enable a patch the program knows (loaded or compiled in).
    Enable {
        /// The patch's name.
        name: String,
    },
    /// Disable a patch on the list.
    Disable {
        /// The patch's name.
        name: String,
    },
    /// The patch in transition, its direction, and the threads not switched yet.
    ///
    /// Each thread not switched yet is listed with the patched functions it is inside, which
    /// keep it from switching.
    Transition {
        /// Wait for the transition to complete for up to this many milliseconds first.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Force the transition in progress. Threads may then mix old and new code.
    Force {
        /// Confirm that the threads blocking the transition cannot mix old and new code.
        #[arg(long)]
        yes_i_know: bool,
    },
    /// What a patch holds: its states, objects, callbacks and functions.
    ///
    /// A patch the program knows is asked of the program; a patch library's file (a path with
    /// a `/`, or ending in `.so`) is read here, from its manifest, without loading it and
    /// without the program.
    Info {
        /// The patch's name, or the library's file.
        target: String,
    },
    /// A dry run of enabling a patch the program knows, or a library's patch.
    ///
    /// A library (a path with a `/`, or ending in `.so`) is first loaded as `load --no-enable`
    /// loads it, and stays loaded: `livepatch enable NAME` then enables what was planned.
    Plan {
        /// The patch's name, or the library's file.
        target: String,
    },
}

impl Command {
    pub(crate) fn request(&self) -> Request {
        match self {
            Command::List => Request::List {},
            Command::Load { file, no_enable } => Request::Load {
                path: program_path(file),
                enable: !no_enable,
            },
            Command::Enable { name } => Request::Enable { name: name.clone() },
            Command::Disable { name } => Request::Disable { name: name.clone() },
            Command::Transition { wait } => Request::Transition { wait_ms: *wait },
            Command::Force { yes_i_know } => Request::Force {
                confirm: *yes_i_know,
            },
            Command::Info { target } => Request::Info {
                name: target.clone(),
            },
            Command::Plan { target } if is_file(target) => Request::Plan {
                name: None,
                path: Some(program_path(Path::new(target))),
            },
            Command::Plan { target } => Request::Plan {
                name: Some(target.clone()),
                path: None,
            },
        }
    }
}

/// A path for the program, which resolves it from its own directory: absolute from here.
fn program_path(file: &Path) -> PathBuf {
    std::path::absolute(file).unwrap_or_else(|_| file.to_owned())
}

/// Whether `target` names a patch library's file rather than a patch: a patch's name has no `/`
/// and does not end in `.so`.
pub(crate) fn is_file(target: &str) -> bool {
    target.contains('/') || target.ends_with(".so")
}
