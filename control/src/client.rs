//! The client's side: one request over the control socket, one reply.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::{Reply, Request};

/// Sends `request` to the control socket at `path` and reads its reply.
///
/// The error says what went wrong in words an operator can act on: the socket cannot be
/// reached, the request could not be sent, or no reply (or no valid one) came back.
///
/// ```no_run
/// use livepatch_control::{Request, default_socket_path, request};
///
/// let reply = request(&default_socket_path("app"), &Request::List {})?;
/// assert!(reply.ok);
/// # Ok::<(), String>(())
/// ```
pub fn request(path: &Path, request: &Request) -> Result<Reply, String> {
    let at = path.display();
    let stream = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach the control socket {at}: {e}; is the program running, and is this its \
             socket (see --socket)?"
        )
    })?;
    // A transition wait is the longest a reply takes; leave room for it.
    let timeout = match request {
        Request::Transition { wait_ms } => {
            Duration::from_millis(*wait_ms).saturating_add(Duration::from_secs(60))
        }
        _ => Duration::from_secs(300),
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .map_err(|e| format!("cannot send the request to {at}: {e}"))?;
    let mut reply = String::new();
    BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(|e| format!("no reply from {at}: {e}"))?;
    serde_json::from_str(&reply)
        .map_err(|e| format!("{at} answered something that is not a reply ({e})"))
}
