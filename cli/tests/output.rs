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

/// What `enable PATCH` prints when the transition completes before the reply: the kernel's
/// lines of an enable, then the command's own.
fn enabled_at_once(patch: &str) -> String {
    format!(
        "livepatch: enabling patch '{patch}'\n\
         livepatch: '{patch}': initializing patching transition\n\
         livepatch: '{patch}': starting patching transition\n\
         livepatch: '{patch}': completing patching transition\n\
         livepatch: '{patch}': patching complete\n\
         enabled '{patch}'\n"
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
         states:\n  state 3 v2: new: created by this patch\n\
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
        (0, enabled_at_once("fix"), String::new())
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
    assert_eq!(
        livepatch(socket, &["transition", "--json"]).1,
        "{\n  \"ok\": true,\n  \"result\": null,\n  \"log\": []\n}\n"
    );
    assert_eq!(
        livepatch(socket, &["force"]),
        (
            1,
            "error (not_confirmed): forcing a transition may let threads mix old and new code; \
             run `livepatch force --yes-i-know` if the threads that block it are known not to\n"
                .into(),
            String::new()
        )
    );
    assert_eq!(
        livepatch(socket, &["force", "--yes-i-know"]),
        (
            1,
            "error (transition): no transition is in progress\n".into(),
            String::new()
        )
    );
    // A usage error is the command line's, and reaches no program.
    let (code, out, err) = livepatch(socket, &["frobnicate"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err.lines().next(),
        Some("error: unrecognized subcommand 'frobnicate'")
    );
    assert_eq!(
        livepatch(socket, &["load", "/no/such/patch.so", "--no-enable"]),
        (
            1,
            "error (load): this program takes no patch libraries: it started its control socket \
             without its `LIVEPATCH_PROGRAM`; see ControlServer::program\n"
                .into(),
            String::new()
        )
    );
    let (code, out, _) = livepatch(socket, &["disable", "nope"]);
    let not_found = livepatch_runtime::SetEnabledError::NotFound {
        name: "nope".into(),
        did_you_mean: None,
    };
    assert_eq!((code, out), (1, format!("error (disable): {not_found}\n")));
    assert_eq!(
        livepatch(socket, &["disable", "fix", "--json"]).1,
        r#"{
  "ok": true,
  "result": "fix",
  "log": [
    "livepatch: 'fix': initializing unpatching transition",
    "livepatch: 'fix': starting unpatching transition",
    "livepatch: 'fix': completing unpatching transition",
    "livepatch: 'fix': unpatching complete"
  ]
}
"#
    );
    assert_eq!(
        livepatch(socket, &["enable", "fix", "--json"]).1,
        r#"{
  "ok": true,
  "result": "fix",
  "log": [
    "livepatch: enabling patch 'fix'",
    "livepatch: 'fix': initializing patching transition",
    "livepatch: 'fix': starting patching transition",
    "livepatch: 'fix': completing patching transition",
    "livepatch: 'fix': patching complete"
  ]
}
"#
    );
    assert_eq!(
        livepatch(socket, &["disable", "fix"]),
        (
            0,
            "livepatch: 'fix': initializing unpatching transition\n\
             livepatch: 'fix': starting unpatching transition\n\
             livepatch: 'fix': completing unpatching transition\n\
             livepatch: 'fix': unpatching complete\n\
             disabled 'fix'\n"
                .into(),
            String::new()
        )
    );
    assert_eq!(livepatch(socket, &["list"]).1, "no patches\n");
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
    // Whether the runtime's own thread completes the transition or the program's thread that
    // waits for it, the completion's lines come with the next reply.
    assert_eq!(
        livepatch(socket, &["transition", "--wait", "60000"]),
        (
            0,
            "livepatch: 'hold': completing patching transition\n\
             livepatch: 'hold': patching complete\n\
             no transition in progress\n"
                .into(),
            String::new()
        )
    );
    assert_eq!(
        livepatch(socket, &["list"]).1,
        "NAME  ENABLED  TRANSITION  REPLACE  ORDER  OBJECTS  STATES\n\
         hold  yes      no          no       1      vmlinux  -\n"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

// A second program for plans: `base` holds state 3 at version 2 with data and replaces
// `app::fee`; `above` would stack on it with the same state; `lower` would lower the state; `newer`, cumulative, raises it, replaces `app::tax`
// instead, and has callbacks on the program and on `net`, an object that is not loaded.
mod plans {
    use livepatch_runtime::{
        CallbackError, FuncDesc, FuncSlot, ObjectDesc, ObjectName, PatchDesc, PostPatch, PrePatch,
        Replacement, StateDesc, StateHandle,
    };

    fn same(x: u64) -> u64 {
        x
    }

    fn more(x: u64) -> u64 {
        x + 1
    }

    static FEE: FuncSlot<fn(u64) -> u64> = FuncSlot::new("app::fee", ObjectName::Program, same);
    static TAX: FuncSlot<fn(u64) -> u64> = FuncSlot::new("app::tax", ObjectName::Program, same);
    static FEE_MORE: Replacement<fn(u64) -> u64> = Replacement::new(&FEE, more);
    static TAX_MORE: Replacement<fn(u64) -> u64> = Replacement::new(&TAX, more);

    const RATE: StateHandle<u64> = StateHandle::new(3, 2);

    fn set_rate(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut rate) = cx.state(RATE) {
            rate.set(40);
        }
        Ok(())
    }

    fn accept(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        Ok(())
    }

    fn noted(_: &mut PostPatch<'_>) {}

    static BASE_FUNCS: [FuncDesc; 1] = [FuncDesc::new(&FEE_MORE)];
    static BASE_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
        .pre_patch(set_rate)
        .functions(&BASE_FUNCS)];
    static BASE_STATES: [StateDesc; 1] = [RATE.desc()];
    pub static BASE: PatchDesc = PatchDesc::new("base")
        .states(&BASE_STATES)
        .objects(&BASE_OBJECTS);

    pub static ABOVE: PatchDesc = PatchDesc::new("above").states(&BASE_STATES);

    static LOWER_STATES: [StateDesc; 1] = [StateHandle::<u64>::new(3, 1).desc()];
    pub static LOWER: PatchDesc = PatchDesc::new("lower").replace(true).states(&LOWER_STATES);

    static NEWER_FUNCS: [FuncDesc; 1] = [FuncDesc::new(&TAX_MORE)];
    static NEWER_OBJECTS: [ObjectDesc; 2] = [
        ObjectDesc::program()
            .pre_patch(accept)
            .post_patch(noted)
            .functions(&NEWER_FUNCS),
        ObjectDesc::named("net").post_patch(noted),
    ];
    static NEWER_STATES: [StateDesc; 1] = [StateHandle::<u64>::new(3, 3).desc()];
    pub static NEWER: PatchDesc = PatchDesc::new("newer")
        .replace(true)
        .states(&NEWER_STATES)
        .objects(&NEWER_OBJECTS);
}

#[test]
fn plans_give_the_verdicts_callbacks_functions_and_removals_that_enable_then_follows() {
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let dir = scratch();
    let server = ControlServer::new(runtime)
        .offer(&plans::BASE)
        .offer(&plans::LOWER)
        .offer(&plans::ABOVE)
        .offer(&plans::NEWER)
        .start(dir.join("sock"))
        .unwrap();
    let socket = server.path();
    assert_eq!(livepatch(socket, &["enable", "base"]).0, 0);

    // Lowering the state is refused, naming the installed patch and both versions; what the
    // cumulative patch would do otherwise is still told: app::fee, which it does not replace,
    // would get its original back.
    assert_eq!(
        livepatch(socket, &["plan", "lower"]),
        (
            0,
            "plan for enabling 'lower'\n\
             verdict: refused: patch 'lower' is not compatible with the installed patches: state \
             3 is at version 2 in patch 'base' and the new patch lowers it to 1; raise the \
             patch's state versions, declare the states it drops, or disable the installed \
             patches first\n\
             states:\n\
             \x20 state 3 v1, installed by 'base' at v2: incompatible: version lowered to 1\n\
             callbacks, in order: none\n\
             functions:\n\
             \x20 vmlinux: app::fee: restored to the original (now: base)\n\
             removes:\n\
             \x20 'base'\n"
                .into(),
            String::new()
        )
    );
    // A patch stacked above `base` may take its data over, and passes it back when it goes.
    assert_eq!(
        livepatch(socket, &["plan", "above"]).1,
        "plan for enabling 'above'\n\
         verdict: would be enabled\n\
         states:\n\
         \x20 state 3 v2, installed by 'base' at v2: compatible: the patch may take over the data \
         of 'base', and passes it back if it goes away while 'base' stays\n\
         callbacks, in order: none\n\
         functions: none\n\
         removes: none\n"
    );
    // The cumulative patch takes the data over, runs the program's callbacks (not those of
    // `net`, which is not loaded), patches app::tax, gives app::fee its original back and
    // removes `base`.
    let newer = "plan for enabling 'newer'\n\
                 verdict: would be enabled\n\
                 states:\n\
                 \x20 state 3 v3, installed by 'base' at v2: compatible: the patch may take over the \
                 data of 'base', which is dropped with 'base' if it does not\n\
                 callbacks, in order:\n\
                 \x20 vmlinux: pre_patch\n\
                 \x20 vmlinux: post_patch\n\
                 functions:\n\
                 \x20 vmlinux: app::tax: patched\n\
                 \x20 vmlinux: app::fee: restored to the original (now: base)\n\
                 removes:\n\
                 \x20 'base'\n";
    assert_eq!(
        livepatch(socket, &["plan", "newer"]),
        (0, newer.into(), String::new())
    );
    assert_eq!(
        livepatch(socket, &["plan", "newer", "--json"]).1,
        r#"{
  "ok": true,
  "result": {
    "callbacks": [
      "vmlinux: pre_patch",
      "vmlinux: post_patch"
    ],
    "functions": [
      {
        "change": "patched",
        "name": "app::tax",
        "object": "vmlinux"
      },
      {
        "change": "restored to the original (now: base)",
        "name": "app::fee",
        "object": "vmlinux"
      }
    ],
    "patch": "newer",
    "refusal": null,
    "removes": [
      "base"
    ],
    "states": [
      {
        "id": 3,
        "installed": [
          "base",
          2
        ],
        "verdict": "compatible: the patch may take over the data of 'base', which is dropped with 'base' if it does not",
        "version": 3
      }
    ]
  },
  "log": []
}
"#
    );
    // A plan changed nothing: the same plan again, and `base` alone on the list.
    assert_eq!(livepatch(socket, &["plan", "newer"]).1, newer);
    assert_eq!(
        livepatch(socket, &["list"]).1,
        "NAME  ENABLED  TRANSITION  REPLACE  ORDER  OBJECTS  STATES\n\
         base  yes      no          no       1      vmlinux  3 v2\n"
    );
    // The enable that follows does what was planned: `newer` replaces `base`.
    // No thread is inside a function it changes: its transition completes at once, and
    // `base` leaves the list without callbacks, as the kernel's replaced patches do; the data of
    // state 3, which `newer` did not take over, is dropped with it, as the plan said, and a
    // warning says so.
    let dropped = "livepatch: 'newer' replaces 'base' without taking over the data of state 3, \
                   of type u64: the data is dropped; take it over in a patching callback \
                   (take_over or take_over_or_init)\n";
    let enabled = enabled_at_once("newer").replace(
        "patching complete\n",
        &format!("patching complete\n{dropped}"),
    );
    assert_eq!(
        livepatch(socket, &["enable", "newer"]),
        (0, enabled, String::new())
    );
    assert_eq!(
        livepatch(socket, &["list"]).1,
        "NAME   ENABLED  TRANSITION  REPLACE  ORDER  OBJECTS                     STATES\n\
         newer  yes      no          yes      1      vmlinux, net (not patched)  3 v3\n"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
