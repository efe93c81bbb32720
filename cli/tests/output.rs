//! The command's output against a real control socket, human and JSON, with its exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

mod hold;

use livepatch_control::ControlServer;
use livepatch_runtime::{ObjectDesc, PatchDesc, PostPatch, Runtime, StateDesc, StateHandle};

fn noted(_: &mut PostPatch<'_>) {}

static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(noted)];
static STATES: [StateDesc; 1] = [StateHandle::<u64>::new(3, 2).desc()];
static FIX: PatchDesc = PatchDesc::new("fix").states(&STATES).objects(&OBJECTS);

/// A fresh directory for one test.
fn scratch() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "livepatch-cli-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn server() -> ControlServer {
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let dir = scratch();
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
    // What the program knows of its patch: the data type by the program's name for it.
    assert_eq!(
        livepatch(socket, &["info", "fix"]),
        (
            0,
            "patch 'fix', not cumulative\n\
             states:\n\
             \x20 ID  VERSION  DATA\n\
             \x20 3   2        u64\n\
             objects, in the order their callbacks run:\n\
             \x20 OBJECT   CALLBACKS   FUNCTIONS\n\
             \x20 vmlinux  post_patch  -\n"
                .into(),
            String::new()
        )
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
    let not_found = livepatch_runtime::SetEnabledError::NotFound("nope".into());
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

/// A shared library whose manifest section holds `manifest`, compiled by rustc from a static
/// alone: the file `info FILE` reads, and never opens.
fn library_with_manifest(dir: &Path, manifest: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut bytes = manifest.as_bytes().to_vec();
    bytes.resize(4096, 0);
    let source = dir.join("manifest.rs");
    std::fs::write(
        &source,
        format!(
            "#[unsafe(link_section = \".livepatch.manifest\")]\n#[used]\n\
             static MANIFEST: [u8; 4096] = {bytes:?};\n"
        ),
    )
    .unwrap();
    let library = dir.join("libfix_fee_v2.so");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let built = Command::new(rustc)
        .args(["--edition", "2024", "--crate-type", "cdylib", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    library
}

const MANIFEST: &str = "livepatch-manifest 2
livepatch 0.1.0
rustc rustc 1.95.0 (59807616e 2026-04-14)
target x86_64-unknown-linux-gnu
profile debug opt-level=0 debuginfo=2 debug-assertions=on panic=unwind
codegen -C prefer-dynamic
program app 6f1d0c2e9a8b47d3b1f05e6c2a9d8e71
patch fix_fee_v2
replace true
state 1 2 FEE_RATE u64
state 4 1 AUDIT std::sync::Mutex<Vec<(u8, u32)>>
object vmlinux
callback pre_patch prepare
callback post_unpatch cleanup
function fee app::billing::fee
object net
callback post_patch connected
function checksum app::net::Conn::checksum
";

#[test]
fn info_of_a_file_reads_its_manifest_without_the_program() {
    let dir = scratch();
    let library = library_with_manifest(&dir, MANIFEST);
    // No program runs at this socket: a file is read here.
    let nowhere = dir.join("no.sock");
    let file = library.to_str().unwrap();
    assert_eq!(
        livepatch(&nowhere, &["info", file]),
        (
            0,
            "patch 'fix_fee_v2', cumulative (replace)\n\
             states:\n\
             \x20 ID  VERSION  DATA                              HANDLE\n\
             \x20 1   2        u64                               FEE_RATE\n\
             \x20 4   1        std::sync::Mutex<Vec<(u8, u32)>>  AUDIT\n\
             objects, in the order their callbacks run:\n\
             \x20 OBJECT   CALLBACKS                                    FUNCTIONS\n\
             \x20 vmlinux  pre_patch (prepare), post_unpatch (cleanup)  app::billing::fee (by fee)\n\
             \x20 net      post_patch (connected)                       app::net::Conn::checksum (by checksum)\n\
             built with livepatch 0.1.0 against program 'app', build 6f1d0c2e9a8b47d3b1f05e6c2a9d8e71:\n\
             \x20 rustc    rustc 1.95.0 (59807616e 2026-04-14)\n\
             \x20 target   x86_64-unknown-linux-gnu\n\
             \x20 profile  debug opt-level=0 debuginfo=2 debug-assertions=on panic=unwind\n\
             \x20 codegen  -C prefer-dynamic\n"
                .into(),
            String::new()
        )
    );
    assert_eq!(
        livepatch(&nowhere, &["info", file, "--json"]).1,
        r#"{
  "ok": true,
  "result": {
    "built": {
      "codegen": "-C prefer-dynamic",
      "livepatch": "0.1.0",
      "profile": "debug opt-level=0 debuginfo=2 debug-assertions=on panic=unwind",
      "program": "app",
      "program_build": "6f1d0c2e9a8b47d3b1f05e6c2a9d8e71",
      "rustc": "rustc 1.95.0 (59807616e 2026-04-14)",
      "target": "x86_64-unknown-linux-gnu"
    },
    "name": "fix_fee_v2",
    "objects": [
      {
        "callbacks": [
          {
            "function": "prepare",
            "kind": "pre_patch"
          },
          {
            "function": "cleanup",
            "kind": "post_unpatch"
          }
        ],
        "functions": [
          {
            "name": "app::billing::fee",
            "replacement": "fee"
          }
        ],
        "name": "vmlinux"
      },
      {
        "callbacks": [
          {
            "function": "connected",
            "kind": "post_patch"
          }
        ],
        "functions": [
          {
            "name": "app::net::Conn::checksum",
            "replacement": "checksum"
          }
        ],
        "name": "net"
      }
    ],
    "replace": true,
    "states": [
      {
        "data": "u64",
        "handle": "FEE_RATE",
        "id": 1,
        "version": 2
      },
      {
        "data": "std::sync::Mutex<Vec<(u8, u32)>>",
        "handle": "AUDIT",
        "id": 4,
        "version": 1
      }
    ]
  },
  "log": []
}
"#
    );
    // A plan of a file asks the program, which must take patch libraries.
    let server = server();
    assert_eq!(
        livepatch(server.path(), &["plan", file]),
        (
            1,
            "error (load): this program takes no patch libraries: it started its control socket \
             without its `LIVEPATCH_PROGRAM`; see ControlServer::program\n"
                .into(),
            String::new()
        )
    );
    // A file that is no patch library: refused, with what to do.
    let text = dir.join("notes.so");
    std::fs::write(&text, "not a library\n").unwrap();
    assert_eq!(
        livepatch(&nowhere, &["info", text.to_str().unwrap()]),
        (
            1,
            format!(
                "error (load): `{}` is not a patch library: it is not an ELF file\n",
                text.display()
            ),
            String::new()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transition_names_each_thread_not_switched_and_the_function_it_is_inside() {
    let dir = scratch();
    let (server, worker) = hold::start(&dir);
    let socket = server.path();
    // The worker is inside app::hold, which the patch replaces: the transition waits for it.
    assert_eq!(
        livepatch(socket, &["enable", "hold"]),
        (
            0,
            "livepatch: enabling patch 'hold'\n\
             livepatch: 'hold': initializing patching transition\n\
             livepatch: 'hold': starting patching transition\n\
             enabled 'hold'\n"
                .into(),
            String::new()
        )
    );
    let waiting = "'hold' is patching\n\
                   threads not switched yet, and the patched functions each one is inside:\n\
                   \x20 THREAD  INSIDE\n\
                   \x20 worker  app::hold\n";
    assert_eq!(
        livepatch(socket, &["transition"]),
        (0, waiting.into(), String::new())
    );
    // A wait that ends before the transition does answers the same.
    assert_eq!(
        livepatch(socket, &["transition", "--wait", "20"]),
        (0, waiting.into(), String::new())
    );
    assert_eq!(
        livepatch(socket, &["transition", "--json"]).1,
        r#"{
  "ok": true,
  "result": {
    "patch": "hold",
    "target": "patching",
    "waiting_threads": [
      {
        "inside": [
          "app::hold"
        ],
        "thread": "worker"
      }
    ]
  },
  "log": []
}
"#
    );
    assert_eq!(
        livepatch(socket, &["list"]).1,
        "NAME  ENABLED  TRANSITION  REPLACE  ORDER  OBJECTS  STATES\n\
         hold  yes      yes         no       1      vmlinux  -\n"
    );
    assert_eq!(worker.release(), 7);
    // The transition completes on the runtime's own thread, or on the program's thread that
    // waits for it: the completion's lines come in this reply only in the second case.
    let (code, out, err) = livepatch(socket, &["transition", "--wait", "60000"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let completed_here = "livepatch: 'hold': completing patching transition\n\
                          livepatch: 'hold': patching complete\n\
                          no transition in progress\n";
    assert!(
        out == "no transition in progress\n" || out == completed_here,
        "{out}"
    );
    assert_eq!(
        livepatch(socket, &["list"]).1,
        "NAME  ENABLED  TRANSITION  REPLACE  ORDER  OBJECTS  STATES\n\
         hold  yes      no          no       1      vmlinux  -\n"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
