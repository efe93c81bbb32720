//! A real client running as another user is refused, and the refusal is logged. Its own test
//! binary, because it installs a global subscriber: the refusal is logged on the server's
//! thread, which no thread-local subscriber of the test sees.
//!
//! The client is this same binary, started again as uid 65534 with the socket's path in
//! `CLIENT_SOCKET`: then the test only connects, prints what it was answered and exits.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use livepatch_control::ControlServer;
use livepatch_runtime::{Dmesg, Runtime};
use serde_json::json;

const CLIENT_SOCKET: &str = "LIVEPATCH_TEST_CLIENT_SOCKET";
const NOBODY: u32 = 65534;

/// The client's side: the first line it is answered, then whether the server hung up.
fn run_client(socket: &str) {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    // The harness has printed the test's name without a newline: each line starts anew.
    println!("\nreply: {}", reply.trim_end());
    let mut rest = String::new();
    let closed = matches!(reader.read_line(&mut rest), Ok(0));
    println!("\nclosed: {closed}");
}

#[test]
fn a_client_of_another_user_is_refused_and_the_refusal_logged() {
    if let Ok(socket) = std::env::var(CLIENT_SOCKET) {
        return run_client(&socket);
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: running a client under another uid needs root");
        return;
    }
    let log = Dmesg::new();
    tracing::subscriber::set_global_default(log.subscriber()).unwrap();

    let dir = std::env::temp_dir().join(format!("livepatch-peer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let server = ControlServer::new(runtime).start(dir.join("sock")).unwrap();
    // The directory and the socket keep other users out by themselves; opened up here, so that
    // what is tested is the credential check that stands behind them.
    let open = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    open(&dir, 0o755);
    open(server.path(), 0o666);
    // The client is a copy of this binary inside that directory, since the build's own
    // directory may be one that other users cannot enter.
    let client = dir.join("client");
    std::fs::copy(std::env::current_exe().unwrap(), &client).unwrap();
    open(&client, 0o755);

    let child = Command::new(&client)
        .args([
            "a_client_of_another_user_is_refused_and_the_refusal_logged",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLIENT_SOCKET, server.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();

    let message = format!(
        "refused a client running as uid {NOBODY} (pid {pid}): only the program's user, root, \
         is served; run the command as root"
    );
    let reply = stdout
        .lines()
        .find_map(|line| line.strip_prefix("reply: "))
        .unwrap_or_else(|| panic!("the client printed no reply: {stdout}"));
    let reply: serde_json::Value = serde_json::from_str(reply).unwrap();
    assert_eq!(
        reply,
        json!({
            "ok": false,
            "error": {"kind": "refused", "message": message},
            "log": [],
        })
    );
    assert!(
        stdout.lines().any(|line| line == "closed: true"),
        "{stdout}"
    );
    assert_eq!(
        log.lines(),
        [format!("livepatch: control socket: {message}")]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
