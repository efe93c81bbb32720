//! Patches built after the program, loaded into it while it runs: real builds, no mocks.
//!
//! The test writes a program (its library, a `dylib` with all of its code, and a thin binary) and
//! patch crates against it into a directory of its own, builds them with separate `cargo`
//! invocations (offline, with this workspace's dependencies and `-C prefer-dynamic`), starts the
//! program, whose two worker threads keep calling the patched function, and drives it through its
//! standard input: one command a line, one reply line each. The builds are kept under the target
//! directory, so that a second run builds only what changed.

#[path = "patch_library/workspace.rs"]
mod workspace;

use serde_json::json;
use std::fs;
use std::path::Path;

use workspace::{
    FEE_LINE, FEE_LINE_CHANGED, PREFER_DYNAMIC, Running, Workspace, copy, manifest_range,
};

const SEEN_ORIGINAL: &str = "quote(1000) = [100] on 2 workers";

#[test]
fn patches_built_after_the_program_are_loaded_into_it_and_mismatched_ones_are_refused() {
    let program = Workspace::program();
    program.write_program(FEE_LINE);
    program.build("program");
    let mut first = Running::start(&program);
    assert_eq!(first.build_id.len(), 32);
    assert_eq!(first.ask("observe"), SEEN_ORIGINAL);

    // The patches are built while the program runs, against the build it runs.
    program.build("fix_fee_v1");
    program.build("fix_fee_v2");
    let v1 = copy(
        &program.artifact("libfix_fee_v1.so"),
        program.kept("fix_fee_v1.so"),
    );
    let v2 = copy(
        &program.artifact("libfix_fee_v2.so"),
        program.kept("fix_fee_v2.so"),
    );

    // What a built library holds, read from its manifest without opening it.
    let manifest = livepatch::library::read_manifest(&v2).unwrap();
    assert_eq!(
        (manifest.patch.as_str(), manifest.replace, &manifest.states),
        (
            "fix_fee_v2",
            true,
            &vec![livepatch::library::ManifestState {
                id: 1,
                version: 2,
                handle: "FEE_RATE".to_owned(),
                data: "u64".to_owned(),
            }]
        )
    );
    assert_eq!(
        manifest.objects,
        [livepatch::library::ManifestObject {
            name: "vmlinux".to_owned(),
            callbacks: vec![
                livepatch::library::ManifestCallback {
                    kind: "pre_patch".to_owned(),
                    function: "prepare".to_owned(),
                },
                livepatch::library::ManifestCallback {
                    kind: "post_unpatch".to_owned(),
                    function: "cleanup".to_owned(),
                },
            ],
            functions: vec![livepatch::library::ManifestFunction {
                target: "app::billing::fee".to_owned(),
                replacement: "fee".to_owned(),
            }],
        }]
    );

    // 1 and 2: the first fix; the workers run its code (15% of 1000).
    assert_eq!(first.load(&v1), "loaded fix_fee_v1");
    assert_eq!(first.ask("observe"), "quote(1000) = [150] on 2 workers");
    assert_eq!(first.ask("patches"), "patches: fix_fee_v1");

    // A second library whose patch has a name already on the list.
    let again = copy(&v1, program.kept("fix_fee_v1-again.so"));
    assert_eq!(
        first.load(&again),
        "not enabled: patch 'fix_fee_v1' is already enabled; disable it first, or give the new \
         patch another name"
    );

    // 3: the cumulative fix takes the first one's rate over, sets the program's discount
    // through the program's function and reads it back from the program's static.
    assert_eq!(first.load(&v2), "loaded fix_fee_v2");
    assert_eq!(first.ask("observe"), "quote(1000) = [147] on 2 workers");
    assert_eq!(first.ask("patches"), "patches: fix_fee_v2");
    assert_eq!(
        first.ask("audit"),
        "audit: fix_fee_v1 sets the rate to 15% | fix_fee_v2 takes over the rate Some(15) and \
         sets the discount to 3"
    );

    // 4: disabled, the original code runs again.
    assert_eq!(first.ask("disable fix_fee_v2"), "disabled fix_fee_v2");
    assert_eq!(first.ask("observe"), SEEN_ORIGINAL);
    assert_eq!(first.ask("patches"), "patches: none");
    assert_eq!(
        first.ask("audit"),
        "audit: fix_fee_v1 sets the rate to 15% | fix_fee_v2 takes over the rate Some(15) and \
         sets the discount to 3 | fix_fee_v2 is gone"
    );

    // The same through the program's control socket, as an operator drives it.
    let socket = program.kept("control/app.sock");
    assert_eq!(
        first.ask(&format!("control {}", socket.display())),
        format!("control at {}", socket.display())
    );
    let loaded = control(&socket, json!({"command": "load", "path": v1}));
    assert_eq!(loaded.result, Some(json!("fix_fee_v1")), "{loaded:?}");
    assert_eq!(loaded.log[0], "livepatch: enabling patch 'fix_fee_v1'");
    let waited = control(&socket, json!({"command": "transition", "wait_ms": 60_000}));
    assert_eq!((waited.ok, waited.result), (true, Some(json!(null))));
    assert_eq!(first.ask("observe"), "quote(1000) = [150] on 2 workers");
    let listed = control(&socket, json!({"command": "list"}));
    assert_eq!(listed.result.unwrap()[0]["name"], json!("fix_fee_v1"));
    // A dry run of the cumulative fix from its file: it would take the first fix's rate over,
    // re-patch the fee and remove the first fix. Its library is loaded, not enabled.
    let planned = control(&socket, json!({"command": "plan", "path": v2}));
    assert_eq!(
        planned.result,
        Some(json!({
            "patch": "fix_fee_v2",
            "refusal": null,
            "states": [{
                "id": 1,
                "version": 2,
                "installed": ["fix_fee_v1", 1],
                "verdict": "compatible: the patch may take over the data of 'fix_fee_v1', \
                            which is dropped with 'fix_fee_v1' if it does not",
            }],
            "callbacks": ["vmlinux: pre_patch"],
            "functions": [{
                "object": "vmlinux",
                "name": "app::billing::fee",
                "change": "re-patched (now: fix_fee_v1)",
            }],
            "removes": ["fix_fee_v1"],
            "loaded_from": v2,
        })),
        "{planned:?}"
    );
    assert_eq!(planned.log, Vec::<String>::new());
    let listed = control(&socket, json!({"command": "list"}));
    assert_eq!(listed.result.unwrap().as_array().unwrap().len(), 1);
    assert_eq!(first.ask("observe"), "quote(1000) = [150] on 2 workers");
    // The program names the function by its module path, and the data type by its own name.
    let info = control(&socket, json!({"command": "info", "name": "fix_fee_v1"}));
    assert_eq!(
        info.result,
        Some(json!({
            "name": "fix_fee_v1",
            "replace": false,
            "states": [{"id": 1, "version": 1, "data": "u64"}],
            "objects": [{
                "name": "vmlinux",
                "callbacks": [{"kind": "pre_patch"}],
                "functions": [{"name": "app::billing::fee"}],
            }],
        })),
        "{info:?}"
    );
    let disabled = control(&socket, json!({"command": "disable", "name": "fix_fee_v1"}));
    assert!(disabled.ok, "{disabled:?}");
    control(&socket, json!({"command": "transition", "wait_ms": 60_000}));
    assert_eq!(first.ask("observe"), SEEN_ORIGINAL);
    // A loaded library's patch can be enabled again by name.
    let enabled = control(&socket, json!({"command": "enable", "name": "fix_fee_v1"}));
    assert!(enabled.ok, "{enabled:?}");
    control(&socket, json!({"command": "transition", "wait_ms": 60_000}));
    assert_eq!(first.ask("observe"), "quote(1000) = [150] on 2 workers");
    assert!(control(&socket, json!({"command": "disable", "name": "fix_fee_v1"})).ok);
    control(&socket, json!({"command": "transition", "wait_ms": 60_000}));
    assert_eq!(first.ask("patches"), "patches: none");
    let missing_lib = control(
        &socket,
        json!({"command": "load", "path": "/no/such/patch.so"}),
    );
    assert_eq!(
        missing_lib.error.map(|e| (e.kind, e.message)),
        Some((
            "file".to_owned(),
            "/no/such/patch.so: No such file or directory (os error 2)".to_owned()
        ))
    );

    // Files that are not patch libraries for this program.
    let missing = program.kept("no-such-patch.so");
    let _ = fs::remove_file(&missing);
    assert_eq!(
        first.load(&missing),
        format!(
            "refused: no patch library at `{}`: check the path (a patch crate's `cargo build` \
             writes `target/<profile>/lib<crate>.so`)",
            missing.display()
        )
    );

    let not_a_patch = program.artifact("deps/libapp.so");
    assert_eq!(
        first.load(&not_a_patch),
        format!(
            "refused: `{}` is not a patch library: it has no `.livepatch.manifest` section; \
             export the patch crate's patch with `livepatch::patch_library!`",
            not_a_patch.display()
        )
    );

    let whole = fs::read(&v1).unwrap();
    let truncated = program.kept("fix_fee_v1-truncated.so");
    fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    // The linker puts the section headers at the end of the file: they describe all of it.
    assert_eq!(
        first.load(&truncated),
        format!(
            "refused: `{}` is truncated: it has {} bytes, and its ELF headers describe {}; copy \
             the patch library again from its build",
            truncated.display(),
            whole.len() / 2,
            whole.len()
        )
    );

    // A library that links its own std and runtime: its manifest already gives it away ...
    let statically_linked = Workspace::statically_linked();
    statically_linked.build("own_runtime");
    let own = copy(
        &statically_linked.artifact("libown_runtime.so"),
        program.kept("own_runtime.so"),
    );
    assert_eq!(
        first.load(&own),
        format!(
            "refused: `{}` was built with codegen flags ``, and the program with `{PREFER_DYNAMIC}`: \
             build the patch with the program's RUSTFLAGS (patch libraries need `-C \
             prefer-dynamic`, as the program does)",
            own.display()
        )
    );
    // ... and with a manifest that claims the program's build (copied from a real patch of
    // this build), the opened library shows its own runtime.
    let mut forged = fs::read(&own).unwrap();
    let (theirs, ours) = (manifest_range(&forged), manifest_range(&whole));
    assert_eq!(theirs.len(), ours.len());
    forged[theirs].copy_from_slice(&whole[ours]);
    let forged_path = program.kept("own_runtime-forged.so");
    fs::write(&forged_path, forged).unwrap();
    assert_eq!(
        first.load(&forged_path),
        format!(
            "refused: `{}` carries its own copy of the livepatch runtime: its patch would change \
             that copy, not the running program; build the patch as a `cdylib` with `-C \
             prefer-dynamic`, depending on the program's library and on `livepatch` built as \
             dylibs, as the program is",
            forged_path.display()
        )
    );

    // Nothing of a refused library stays registered.
    assert_eq!(first.ask("patches"), "patches: none");
    assert_eq!(first.ask("observe"), SEEN_ORIGINAL);
    first.quit();

    // The program changes by one line and is built again; the first fix, built against the
    // earlier build, is refused by the new one.
    program.write_program(FEE_LINE_CHANGED);
    program.build("program");
    let mut second = Running::start(&program);
    assert_ne!(second.build_id, first_build_id(&v1));
    assert_eq!(second.ask("observe"), "quote(1000) = [125] on 2 workers");
    assert_eq!(
        second.load(&v1),
        format!(
            "refused: `{}` was built against build {} of `app`, and this process runs build {}: \
             rebuild the patch against build {} of `app`",
            v1.display(),
            first_build_id(&v1),
            second.build_id,
            second.build_id
        )
    );
    assert_eq!(second.ask("patches"), "patches: none");
    second.quit();
}

/// One request to the control socket at `socket`, and its reply.
fn control(socket: &Path, request: serde_json::Value) -> livepatch_control::Reply {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    writeln!(stream, "{request}").unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

/// The build of the program a patch library was built against, from its manifest's `program`
/// line.
fn first_build_id(library: &Path) -> String {
    let bytes = fs::read(library).unwrap();
    let section = &bytes[manifest_range(&bytes)];
    let text =
        std::str::from_utf8(&section[..section.iter().position(|&b| b == 0).unwrap()]).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("program app "))
        .unwrap();
    line["program app ".len()..].to_owned()
}
