//! The control protocol over a real Unix socket: every command against a runtime with one
//! offered patch, bad requests, a client that leaves midway, the socket's permissions and the
//! checks of patch files.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use livepatch_control::{ControlServer, MAX_REQUEST_BYTES, PatchView, Reply};
use livepatch_runtime::{ObjectDesc, PatchDesc, PostPatch, Runtime, StateDesc, StateHandle};
use serde_json::json;

fn noted(_: &mut PostPatch<'_>) {}

static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(noted)];
static STATES: [StateDesc; 1] = [StateHandle::<u64>::new(3, 2).desc()];
static FIX: PatchDesc = PatchDesc::new("fix").states(&STATES).objects(&OBJECTS);

/// A fresh directory for one test's socket and files.
fn scratch() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "livepatch-control-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A server with `FIX` offered, on its own runtime.
fn server() -> (ControlServer, PathBuf) {
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let dir = scratch();
    let server = ControlServer::new(runtime)
        .offer(&FIX)
        .start(dir.join("sock"))
        .unwrap();
    (server, dir)
}

struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    fn connect(server: &ControlServer) -> Client {
        let stream = UnixStream::connect(server.path()).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send_raw(&mut self, line: &[u8]) -> Reply {
        self.writer.write_all(line).unwrap();
        self.writer.write_all(b"\n").unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap()
    }

    fn send(&mut self, request: serde_json::Value) -> Reply {
        self.send_raw(request.to_string().as_bytes())
    }
}

fn error(reply: &Reply) -> (&str, &str) {
    assert!(!reply.ok, "{reply:?}");
    let error = reply.error.as_ref().unwrap();
    (&error.kind, &error.message)
}

#[test]
fn every_command_answers_with_its_result_and_the_runtimes_log() {
    let (server, _dir) = server();
    let mut client = Client::connect(&server);
    let listed = client.send(json!({"command": "list"}));
    assert_eq!(listed.result, Some(json!([])));

    let planned = client.send(json!({"command": "plan", "name": "fix"}));
    assert!(planned.ok && planned.log.is_empty());
    assert_eq!(
        planned.result,
        Some(json!({
            "patch": "fix",
            "refusal": null,
            "states": [{"id": 3, "version": 2, "installed": null, "verdict": "new: created by this patch"}],
            "callbacks": ["vmlinux: post_patch"],
            "functions": [],
            "removes": [],
        }))
    );

    let info = client.send(json!({"command": "info", "name": "fix"}));
    assert_eq!(
        info.result,
        Some(json!({
            "name": "fix",
            "replace": false,
            "states": [{"id": 3, "version": 2, "data": "u64"}],
            "objects": [{
                "name": "vmlinux",
                "callbacks": [{"kind": "post_patch"}],
                "functions": [],
            }],
        }))
    );
    for neither_or_both in [
        json!({"command": "plan"}),
        json!({"command": "plan", "name": "fix", "path": "/tmp/fix.so"}),
    ] {
        assert_eq!(
            error(&client.send(neither_or_both)),
            (
                "malformed",
                "a plan names either a patch the program knows (\"name\") or a patch library \
                 (\"path\"): give one of them"
            )
        );
    }
    let unknown = client.send(json!({"command": "info", "name": "nope"}));
    assert_eq!(
        error(&unknown),
        (
            "unknown_patch",
            "the program knows no patch 'nope'; load its library first (known: fix)"
        )
    );

    let enabled = client.send(json!({"command": "enable", "name": "fix"}));
    assert_eq!(enabled.result, Some(json!("fix")));
    assert_eq!(
        enabled.log,
        [
            "livepatch: enabling patch 'fix'",
            "livepatch: 'fix': initializing patching transition",
            "livepatch: 'fix': starting patching transition",
            "livepatch: 'fix': completing patching transition",
            "livepatch: 'fix': patching complete",
        ]
    );
    let listed = client.send(json!({"command": "list"}));
    let patches: Vec<PatchView> = serde_json::from_value(listed.result.unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&patches).unwrap(),
        json!([{
            "name": "fix", "enabled": true, "transition": false, "replace": false,
            "stack_order": 1,
            "objects": [{"name": "vmlinux", "patched": true}],
            "states": [{"id": 3, "version": 2, "has_data": false}],
        }])
    );
    let transition = client.send(json!({"command": "transition", "wait_ms": 10}));
    // No transition: a null result, there in the reply.
    assert_eq!(
        (transition.ok, transition.result),
        (true, Some(json!(null)))
    );

    let again = client.send(json!({"command": "enable", "name": "fix"}));
    // The runtime's own error, passed through.
    let already = livepatch_runtime::EnableError::AlreadyExists("fix").to_string();
    assert_eq!(error(&again), ("enable", already.as_str()));
    let force = client.send(json!({"command": "force"}));
    assert_eq!(error(&force).0, "not_confirmed");
    let force = client.send(json!({"command": "force", "confirm": true}));
    assert_eq!(
        error(&force),
        ("transition", "no transition is in progress")
    );

    let disabled = client.send(json!({"command": "disable", "name": "fix"}));
    assert_eq!(disabled.result, Some(json!("fix")));
    assert_eq!(
        disabled.log,
        [
            "livepatch: 'fix': initializing unpatching transition",
            "livepatch: 'fix': starting unpatching transition",
            "livepatch: 'fix': completing unpatching transition",
            "livepatch: 'fix': unpatching complete",
        ]
    );
    let unknown = client.send(json!({"command": "enable", "name": "other"}));
    assert_eq!(
        error(&unknown),
        (
            "unknown_patch",
            "the program knows no patch 'other'; load its library first (known: fix)"
        )
    );
    let load = client.send(json!({"command": "load", "path": "/nonexistent"}));
    assert_eq!(
        error(&load),
        (
            "load",
            "this program takes no patch libraries: it started its control socket without its \
             `LIVEPATCH_PROGRAM`; see ControlServer::program"
        )
    );
}

#[test]
fn bad_requests_get_error_replies_and_the_connection_goes_on() {
    let (server, _dir) = server();
    let mut client = Client::connect(&server);
    let malformed = client.send_raw(b"{\"command\": ");
    assert_eq!(error(&malformed).0, "malformed");
    assert!(error(&malformed).1.ends_with(
        "; send one JSON object per line with a \"command\" of list, load, enable, disable, \
         transition, force, info or plan"
    ));
    let unknown = client.send(json!({"command": "reboot"}));
    assert_eq!(error(&unknown).0, "malformed");
    assert!(error(&unknown).1.starts_with("unknown variant `reboot`"));
    let extra = client.send(json!({"command": "list", "all": true}));
    assert!(error(&extra).1.starts_with("unknown field `all`"));
    let long = vec![b'x'; MAX_REQUEST_BYTES + 1];
    let oversized = client.send_raw(&long);
    assert_eq!(
        error(&oversized),
        (
            "oversized",
            "the request is longer than 65536 bytes; send one JSON object per line"
        )
    );
    assert!(client.send(json!({"command": "list"})).ok);
}

#[test]
fn a_client_that_leaves_midway_leaves_nothing_done() {
    let (server, _dir) = server();
    {
        let mut leaving = UnixStream::connect(server.path()).unwrap();
        leaving
            .write_all(br#"{"command": "enable", "name": "fi"#)
            .unwrap();
    }
    let mut client = Client::connect(&server);
    assert_eq!(
        client.send(json!({"command": "list"})).result,
        Some(json!([]))
    );
}

#[test]
fn the_socket_is_for_its_user_only() {
    let (server, dir) = server();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(server.path()), 0o600);
    let path = server.path().to_owned();
    drop(server);
    assert!(!path.exists());
    // A directory others may enter is refused.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let refused = ControlServer::new(runtime)
        .start(dir.join("sock"))
        .err()
        .unwrap();
    let uid = rustix::process::getuid().as_raw();
    assert_eq!(
        refused.to_string(),
        format!(
            "{}: the socket's directory must be a directory of uid {uid} that only it can \
             enter (mode 0700); fix it or choose another path",
            dir.display()
        )
    );
}

#[test]
fn patch_files_that_are_links_or_writable_by_others_are_refused() {
    use livepatch_control::patch_file::{self, FileRefusal};
    let dir = scratch();
    std::fs::create_dir_all(&dir).unwrap();
    let uid = rustix::process::getuid().as_raw();
    let file = dir.join("fix.so");
    std::fs::write(&file, b"not checked here").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(patch_file::open(&file, uid).is_ok());

    let link = dir.join("link.so");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let refusal = patch_file::open(&link, uid).unwrap_err();
    assert_eq!(refusal, FileRefusal::Symlink { path: link.clone() });
    assert_eq!(
        refusal.to_string(),
        format!(
            "{}: is a symbolic link; give the path of the patch library itself, not of a link \
             to it",
            link.display()
        )
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let refusal = patch_file::open(&file, uid).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        format!(
            "{}: is writable by its group or by others (mode 666); chmod go-w it before loading",
            file.display()
        )
    );

    // Owned by the program's user or root only: seen from a program of another uid.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let owner = std::fs::metadata(&file)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    if owner != 0 {
        let refusal = patch_file::open(&file, owner + 1).unwrap_err();
        assert_eq!(
            refusal,
            FileRefusal::Owner {
                path: file.clone(),
                owner,
                service: owner + 1,
            }
        );
    }

    let missing = dir.join("missing.so");
    assert_eq!(
        patch_file::open(&missing, uid).unwrap_err().to_string(),
        format!(
            "{}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(
        patch_file::open(&dir, uid).unwrap_err(),
        FileRefusal::NotAFile { path: dir.clone() }
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
