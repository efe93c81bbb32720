//! The control socket of `livepatch`: a thread inside the patched program that serves a Unix
//! socket, one JSON request and one JSON reply per line, so that an operator (or the `livepatch`
//! command) can list, load, enable, disable and plan patches without recompiling the program.
//!
//! Only the program's own user and root are served, the socket lives in a directory only that
//! user can enter, and patch files must be owned by that user or root and not writable by
//! others (see [`patch_file`]).

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod client;
mod dispatch;
pub mod patch_file;
pub mod peer;
pub mod protocol;
mod server;

pub use crate::client::request;
pub use crate::protocol::{ErrorReply, PatchInfo, PatchView, Reply, Request};
pub use crate::server::{ControlServer, MAX_CONNECTIONS, MAX_REQUEST_BYTES, default_socket_path};
