//! The builds and the running program of the patch library test and bench: a cargo workspace
//! the caller writes and builds, and the program as a child process driven by lines on its
//! standard input.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use object::{Object, ObjectSection};

/// This workspace, which the generated crates depend on.
pub const LIVEPATCH: &str = env!("CARGO_MANIFEST_DIR");
/// The control socket's crate, which the program serves.
pub const CONTROL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/control");

/// The program's one line that its second build changes.
pub const FEE_LINE: &str = "amount / 10 // the fee's line";
pub const FEE_LINE_CHANGED: &str = "amount / 8 // the fee's line";

/// The flags every build of the program and its patches uses.
pub const PREFER_DYNAMIC: &str = "-C prefer-dynamic";

/// A cargo workspace the test writes and builds.
pub struct Workspace {
    root: PathBuf,
    rustflags: &'static str,
    release: bool,
}

impl Workspace {
    fn new(name: &str, rustflags: &'static str) -> Workspace {
        let release = name.ends_with("-release");
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("patch-library")
            .join(name);
        fs::create_dir_all(&root).unwrap();
        Workspace {
            root,
            rustflags,
            release,
        }
    }

    /// The program, its patches and a workspace over them.
    pub fn program() -> Workspace {
        Workspace::program_in("program")
    }

    /// The same, built with the release profile.
    pub fn program_release() -> Workspace {
        Workspace::program_in("program-release")
    }

    fn program_in(name: &str) -> Workspace {
        let workspace = Workspace::new(name, PREFER_DYNAMIC);
        workspace.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"program\", \"fix_fee_v1\", \"fix_fee_v2\"]\n\
             resolver = \"3\"\n",
        );
        workspace.write(
            "app/Cargo.toml",
            &manifest(
                "app",
                "[lib]\ncrate-type = [\"dylib\"]\n",
                &[&format!("livepatch-control = {{ path = {:?} }}", CONTROL)],
            ),
        );
        workspace.write(
            "program/Cargo.toml",
            &manifest("program", "", &["app = { path = \"../app\" }"]),
        );
        workspace.write("program/src/main.rs", "fn main() {\n    app::main()\n}\n");
        for (patch, source) in [
            ("fix_fee_v1", include_str!("fix_fee_v1.rs")),
            ("fix_fee_v2", include_str!("fix_fee_v2.rs")),
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
    pub fn statically_linked() -> Workspace {
        let workspace = Workspace::new("static", "");
        workspace.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"own_runtime\"]\nresolver = \"3\"\n",
        );
        workspace.write(
            "own_runtime/Cargo.toml",
            &manifest("own_runtime", "[lib]\ncrate-type = [\"cdylib\"]\n", &[]),
        );
        workspace.write("own_runtime/src/lib.rs", include_str!("own_runtime.rs"));
        workspace
    }

    /// Writes the program's library, with its fee line as given.
    pub fn write_program(&self, fee_line: &str) {
        let source = include_str!("program.rs");
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
    pub fn build(&self, package: &str) {
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
            .args(self.release.then_some("--release"))
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
    pub fn artifact(&self, name: &str) -> PathBuf {
        self.target()
            .join(if self.release { "release" } else { "debug" })
            .join(name)
    }

    /// A place for copies of the builds' files.
    pub fn kept(&self, name: &str) -> PathBuf {
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
pub fn copy(from: &Path, to: PathBuf) -> PathBuf {
    fs::copy(from, &to).unwrap();
    to
}

/// The running program, as a child process.
pub struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    pub build_id: String,
}

impl Running {
    pub fn start(workspace: &Workspace) -> Running {
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
            workspace.artifact("deps").display()
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
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.next_line()
    }

    pub fn load(&mut self, path: &Path) -> String {
        self.ask(&format!("load {}", path.display()))
    }

    pub fn quit(mut self) {
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
pub fn manifest_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let file = object::File::parse(bytes).unwrap();
    let section = file.section_by_name(".livepatch.manifest").unwrap();
    let (offset, size) = section.file_range().unwrap();
    offset as usize..(offset + size) as usize
}
