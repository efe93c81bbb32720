//! The command's output against a real control socket, human and JSON, with its exit codes.

use std::path::PathBuf;
use std::process::Command;

use livepatch_control::ControlServer;
use livepatch_runtime::{ObjectDesc, PatchDesc, PostPatch, Runtime, StateDesc, StateHandle};

fn noted(_: &mut PostPatch<'_>) {}

static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(noted)];
static STATES: [StateDesc; 1] = [StateHandle::<u64>::new(3, 2).desc()];
static FIX: PatchDesc = PatchDesc::new("fix").states(&STATES).objects(&OBJECTS);

fn server() -> ControlServer {
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let dir = std::env::temp_dir().join(format!("livepatch-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ControlServer::new(runtime)
        .offer(&FIX)
        .start(dir.join("sock"))
        .unwrap()
}

/// Runs `livepatch --socket SOCKET ARGS`: exit code, stdout, stderr.
fn livepatch(socket: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_livepatch"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_session_reads_as_the_kernel_and_sysfs_would_tell_it() {
    let server = server();
    let socket = server.path();
    assert_eq!(
        livepatch(socket, &["list"]),
        (0, "no patches\n".into(), String::new())
    );
    assert_eq!(
        livepatch(socket, &["plan", "fix"]).1,
        "plan for enabling 'fix'\n\
         verdict: would be enabled\n\
         states:\n  state 3 v2: new\n\
         callbacks, in order:\n  vmlinux: post_patch\n\
         functions: none\n\
         removes: none\n"
    );
    assert_eq!(
        livepatch(socket, &["enable", "fix"]),
        (
            0,
            "livepatch: enabling patch 'fix'\n\
             livepatch: 'fix': initializing patching transition\n\
             livepatch: 'fix': starting patching transition\n\
             livepatch: 'fix': completing patching transition\n\
             livepatch: 'fix': patching complete\n\
             enabled 'fix'\n"
                .into(),
            String::new()
        )
    );
    assert_eq!(
        livepatch(socket, &["list"]).1,
        "NAME  ENABLED  TRANSITION  REPLACE  ORDER  OBJECTS  STATES\n\
         fix   yes      no          no       1      vmlinux  3 v2\n"
    );
    // Keys of a result come sorted, as JSON objects have no order.
    assert_eq!(
        livepatch(socket, &["list", "--json"]).1,
        r#"{
  "ok": true,
  "result": [
    {
      "enabled": true,
      "name": "fix",
      "objects": [
        {
          "name": "vmlinux",
          "patched": true
        }
      ],
      "replace": false,
      "stack_order": 1,
      "states": [
        {
          "has_data": false,
          "id": 3,
          "version": 2
        }
      ],
      "transition": false
    }
  ],
  "log": []
}
"#
    );
    assert_eq!(
        livepatch(socket, &["transition"]).1,
        "no transition in progress\n"
    );
    let (code, out, _) = livepatch(socket, &["force"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("error (not_confirmed): forcing a transition may let threads mix"));
    let (code, out, _) = livepatch(socket, &["disable", "nope"]);
    let not_found = livepatch_runtime::SetEnabledError::NotFound {
        name: "nope".into(),
        did_you_mean: None,
    };
    assert_eq!((code, out), (1, format!("error (disable): {not_found}\n")));
    assert_eq!(
        livepatch(socket, &["disable", "fix"]).1.lines().last(),
        Some("disabled 'fix'")
    );
}

#[test]
fn an_unreachable_socket_exits_with_3_and_says_what_to_check() {
    let missing = PathBuf::from("/nonexistent/livepatch.sock");
    let (code, out, err) = livepatch(&missing, &["list"]);
    assert_eq!((code, out.as_str()), (3, ""));
    assert_eq!(
        err,
        "livepatch: cannot reach the control socket /nonexistent/livepatch.sock: No such file or \
         directory (os error 2); is the program running, and is this its socket (see --socket)?\n"
    );
}
