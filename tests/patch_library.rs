//! Patches built after the program, loaded into it while it runs: real builds, no mocks.
//!
//! The test writes a program (its library, a `dylib` with all of its code, and a thin binary) and
//! patch crates against it into a directory of its own, builds them with separate `cargo`
//! invocations (offline, with this workspace's dependencies and `-C prefer-dynamic`), starts the
//! program, whose two worker threads keep calling the patched function, and drives it through its
//! standard input: one command a line, one reply line each. The builds are kept under the target
//! directory, so that a second run builds only what changed.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use object::{Object, ObjectSection};

/// This workspace, which the generated crates depend on.
const LIVEPATCH: &str = env!("CARGO_MANIFEST_DIR");

/// The program's one line that its second build changes.
const FEE_LINE: &str = "amount / 10 // the fee's line";
const FEE_LINE_CHANGED: &str = "amount / 8 // the fee's line";

/// The flags every build of the program and its patches uses.
const PREFER_DYNAMIC: &str = "-C prefer-dynamic";

/// A cargo workspace the test writes and builds.
struct Workspace {
    root: PathBuf,
    rustflags: &'static str,
}

impl Workspace {
    fn new(name: &str, rustflags: &'static str) -> Workspace {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("patch-library")
            .join(name);
        fs::create_dir_all(&root).unwrap();
        Workspace { root, rustflags }
    }

    /// The program, its patches and a workspace over them.
    fn program() -> Workspace {
        let workspace = Workspace::new("program", PREFER_DYNAMIC);
        workspace.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"program\", \"fix_fee_v1\", \"fix_fee_v2\"]\n\
             resolver = \"3\"\n",
        );
        workspace.write(
            "app/Cargo.toml",
            &manifest("app", "[lib]\ncrate-type = [\"dylib\"]\n", &[]),
        );
        workspace.write(
            "program/Cargo.toml",
            &manifest("program", "", &["app = { path = \"../app\" }"]),
        );
        workspace.write("program/src/main.rs", "fn main() {\n    app::main()\n}\n");
        for (patch, source) in [
            ("fix_fee_v1", include_str!("patch_library/fix_fee_v1.rs")),
            ("fix_fee_v2", include_str!("patch_library/fix_fee_v2.rs")),
        ] {
            workspace.write(
                &format!("{patch}/Cargo.toml"),
                &manifest(
                    patch,
                    "[lib]\ncrate-type = [\"cdylib\"]\n",
                    &["app = { path = \"../app\" }"],
                ),
            );
            workspace.write(&format!("{patch}/src/lib.rs"), source);
        }
        workspace
    }

    /// A patch library crate linked without `-C prefer-dynamic`.
    fn statically_linked() -> Workspace {
        let workspace = Workspace::new("static", "");
        workspace.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"own_runtime\"]\nresolver = \"3\"\n",
        );
        workspace.write(
            "own_runtime/Cargo.toml",
            &manifest("own_runtime", "[lib]\ncrate-type = [\"cdylib\"]\n", &[]),
        );
        workspace.write(
            "own_runtime/src/lib.rs",
            include_str!("patch_library/own_runtime.rs"),
        );
        workspace
    }

    /// Writes the program's library, with its fee line as given.
    fn write_program(&self, fee_line: &str) {
        let source = include_str!("patch_library/program.rs");
        assert!(source.contains(FEE_LINE));
        self.write("app/src/lib.rs", &source.replace(FEE_LINE, fee_line));
    }

    /// Writes a file, leaving it untouched when it already says the same (so that cargo does
    /// not rebuild it).
    fn write(&self, relative: &str, contents: &str) {
        let path = self.root.join(relative);
        if fs::read_to_string(&path).is_ok_and(|old| old == contents) {
            return;
        }
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn target(&self) -> PathBuf {
        self.root.join("target")
    }

    /// Builds one package, with cargo as a user would run it, and says how long it took.
    fn build(&self, package: &str) {
        // The lock file pins the registry crates to this workspace's versions, which are in the
        // local cache: the build needs no network.
        fs::copy(
            Path::new(LIVEPATCH).join("Cargo.lock"),
            self.root.join("Cargo.lock"),
        )
        .unwrap();
        let started = Instant::now();
        let output = Command::new(env!("CARGO"))
            .args(["build", "--offline", "-p", package])
            .current_dir(&self.root)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env("RUSTFLAGS", self.rustflags)
            .env("CARGO_TARGET_DIR", self.target())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo build -p {package} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("built {package} in {:.1?}", started.elapsed());
    }

    /// A file the build wrote to `target/debug`.
    fn artifact(&self, name: &str) -> PathBuf {
        self.target().join("debug").join(name)
    }

    /// A place for copies of the builds' files.
    fn kept(&self, name: &str) -> PathBuf {
        let dir = self.root.join("kept");
        fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }
}

/// The manifest of a generated crate that depends on `livepatch` and on `extra`.
fn manifest(name: &str, lib: &str, extra: &[&str]) -> String {
    let mut deps = format!("livepatch = {{ path = {LIVEPATCH:?} }}\n");
    for dep in extra {
        deps.push_str(dep);
        deps.push('\n');
    }
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         {lib}\n[dependencies]\n{deps}"
    )
}

/// Copies `from` to `to` and returns `to`: a build's output, kept as it is now.
fn copy(from: &Path, to: PathBuf) -> PathBuf {
    fs::copy(from, &to).unwrap();
    to
}

/// The running program, as a child process.
struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    build_id: String,
}

impl Running {
    fn start(workspace: &Workspace) -> Running {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let libdir = Command::new(rustc)
            .args(["--print", "target-libdir"])
            .output()
            .unwrap();
        let std_dir = String::from_utf8(libdir.stdout).unwrap();
        // The program needs std's shared library and its own; a user's `cargo run` sets the
        // same path.
        let library_path = format!(
            "{}:{}",
            std_dir.trim(),
            workspace.target().join("debug/deps").display()
        );
        let mut child = Command::new(workspace.artifact("program"))
            .env("LD_LIBRARY_PATH", library_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            stdin,
            lines,
            build_id: String::new(),
        };
        let first = running.next_line();
        running.build_id = first
            .strip_prefix("build ")
            .unwrap_or_else(|| panic!("the program said {first:?} instead of its build"))
            .to_owned();
        running
    }

    fn next_line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(180))
            .expect("the program answers within three minutes")
    }

    /// Sends one command and returns the reply.
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.next_line()
    }

    fn load(&mut self, path: &Path) -> String {
        self.ask(&format!("load {}", path.display()))
    }

    fn quit(mut self) {
        assert_eq!(self.ask("quit"), "bye");
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file range of a library's manifest section.
fn manifest_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let file = object::File::parse(bytes).unwrap();
    let section = file.section_by_name(".livepatch.manifest").unwrap();
    let (offset, size) = section.file_range().unwrap();
    offset as usize..(offset + size) as usize
}

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
