//! The server thread: binds the socket, checks each peer, and answers each line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use livepatch_loader::Program;
use livepatch_runtime::{PatchDesc, Runtime};

use crate::dispatch::Control;
use crate::peer;
use crate::protocol::{Reply, Request};

/// The longest request line served, in bytes; a longer one gets an `oversized` error.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The most clients served at once; more get a `busy` error and are closed.
pub const MAX_CONNECTIONS: usize = 16;

/// The socket path a program named `program` uses by default:
/// `$XDG_RUNTIME_DIR/livepatch/<program>.sock` (the user's runtime directory, which only the
/// user can enter), or `/tmp/livepatch-<uid>/<program>.sock` when there is none.
pub fn default_socket_path(program: &str) -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("livepatch"),
        _ => PathBuf::from(format!(
            "/tmp/livepatch-{}",
            rustix::process::getuid().as_raw()
        )),
    };
    dir.join(format!("{program}.sock"))
}

/// The control socket of a running program: a thread serving requests until it is dropped.
///
/// Starting it hands the program's user and root the power to load patch libraries into the
/// program (each one checked as `PatchLibrary::open` and [`crate::patch_file`] describe).
///
/// ```no_run
/// use livepatch_control::{ControlServer, default_socket_path};
/// use livepatch_runtime::Runtime;
///
/// let server = ControlServer::new(Runtime::global()).start(default_socket_path("app"))?;
/// println!("control socket at {}", server.path().display());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ControlServer {
    path: PathBuf,
    control: Arc<Control>,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl ControlServer {
    /// A server for `runtime`, not started yet.
    pub fn new(runtime: &'static Runtime) -> ControlServer {
        ControlServer {
            path: PathBuf::new(),
            control: Arc::new(Control {
                runtime,
                program: None,
                known: Mutex::new(Vec::new()),
                service_uid: rustix::process::getuid().as_raw(),
                late: Mutex::new(Vec::new()),
            }),
            running: None,
        }
    }

    /// Takes patch libraries built against `program` (the program's `LIVEPATCH_PROGRAM`).
    pub fn program(mut self, program: &'static Program) -> ControlServer {
        self.control_mut().program = Some(program);
        self
    }

    /// Offers a patch compiled into the program, so that `enable` and `plan` can name it.
    pub fn offer(self, patch: &'static PatchDesc) -> ControlServer {
        self.control
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(patch);
        self
    }

    fn control_mut(&mut self) -> &mut Control {
        Arc::get_mut(&mut self.control).expect("configured before it starts")
    }

    /// Binds the socket at `path` and starts serving. The socket's directory is created with
    /// mode 0700 if it does not exist, and refused if it exists and its group or others may
    /// enter it; the socket gets mode 0600. A stale socket at `path` is replaced.
    pub fn start(mut self, path: impl AsRef<Path>) -> std::io::Result<ControlServer> {
        let path = path.as_ref().to_owned();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "{}: give the socket a directory of its own",
                    path.display()
                ))
            })?;
        prepare_directory(dir)?;
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(invalid(format!(
                    "{}: exists and is not a socket; remove it or choose another path",
                    path.display()
                )));
            }
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let control = Arc::clone(&self.control);
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("livepatch-control".into())
            .spawn(move || serve(listener, control, stopping))?;
        self.path = path;
        self.running = Some(Running { stop, thread });
        Ok(self)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    /// Stops accepting, and removes the socket. Connections being served finish their
    /// request.
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::SeqCst);
            // Wakes the accepting thread.
            let _ = UnixStream::connect(&self.path);
            let _ = running.thread.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

fn prepare_directory(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        Err(e) => Err(e),
        Ok(meta) => {
            let uid = rustix::process::getuid().as_raw();
            if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
                return Err(invalid(format!(
                    "{}: the socket's directory must be a directory of uid {uid} that only it \
                     can enter (mode 0700); fix it or choose another path",
                    dir.display()
                )));
            }
            Ok(())
        }
    }
}

fn serve(listener: UnixListener, control: Arc<Control>, stop: Arc<AtomicBool>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        if let Err(refusal) = check_peer(&stream, control.service_uid) {
            tracing::warn!(target: livepatch_runtime::TARGET, "control socket: {refusal}");
            let _ = send(&mut stream, &Reply::failure("refused", refusal, Vec::new()));
            continue;
        }
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let busy = format!("{MAX_CONNECTIONS} clients are connected; try again later");
            let _ = send(&mut stream, &Reply::failure("busy", busy, Vec::new()));
            continue;
        }
        let (control, client_done) = (Arc::clone(&control), Arc::clone(&open));
        let spawned = std::thread::Builder::new()
            .name("livepatch-control-client".into())
            .spawn(move || {
                serve_client(stream, &control);
                client_done.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn check_peer(stream: &UnixStream, service_uid: u32) -> Result<(), String> {
    let cred = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| format!("cannot read the peer's credentials ({e}); refused"))?;
    let uid = cred.uid.as_raw();
    match peer::allowed(uid, service_uid) {
        true => Ok(()),
        false => Err(format!(
            "refused a client running as uid {uid} (pid {}): {}",
            cred.pid.as_raw_nonzero(),
            match service_uid {
                0 => "only the program's user, root, is served; run the command as root".to_owned(),
                _ => format!(
                    "only the program's user (uid {service_uid}) and root are served; run the \
                     command as one of them"
                ),
            }
        )),
    }
}

/// Answers each line of one client until it hangs up.
fn serve_client(stream: UnixStream, control: &Control) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let line = match read_line(&mut reader) {
            Line::Request(line) => line,
            // A partial line before the end: the client left midway; nothing ran.
            Line::End => return,
            Line::Oversized => {
                let message = format!(
                    "the request is longer than {MAX_REQUEST_BYTES} bytes; send one JSON object \
                     per line"
                );
                if send(
                    &mut writer,
                    &Reply::failure("oversized", message, Vec::new()),
                )
                .is_err()
                {
                    return;
                }
                continue;
            }
        };
        let reply = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => control.handle(request),
            Err(e) => Reply::failure(
                "malformed",
                format!(
                    "{e}; send one JSON object per line with a \"command\" of list, load, \
                     enable, disable, transition, force, info or plan"
                ),
                Vec::new(),
            ),
        };
        if send(&mut writer, &reply).is_err() {
            return;
        }
    }
}

enum Line {
    Request(Vec<u8>),
    Oversized,
    End,
}

/// One line, without its newline, read in bounded pieces; an oversized line is skipped to its
/// end.
fn read_line(reader: &mut impl BufRead) -> Line {
    let mut line = Vec::new();
    let mut oversized = false;
    loop {
        let Ok(buffer) = reader.fill_buf() else {
            return Line::End;
        };
        if buffer.is_empty() {
            return Line::End;
        }
        let (piece, found) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        if !oversized && line.len() + piece.len() <= MAX_REQUEST_BYTES {
            line.extend_from_slice(piece);
        } else {
            oversized = true;
            line.clear();
        }
        let used = found.unwrap_or(buffer.len());
        reader.consume(used);
        if found.is_some() {
            return match oversized {
                true => Line::Oversized,
                false => Line::Request(line),
            };
        }
    }
}

fn send(stream: &mut UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}
