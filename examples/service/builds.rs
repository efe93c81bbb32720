//! The demo's builds, run as a user would run them, with cargo's progress shown as it goes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Where the builds run and put their files.
pub struct Builds {
    cargo: PathBuf,
    /// This repository.
    root: PathBuf,
    /// This workspace's target directory and the profile this driver was built with.
    target: PathBuf,
    profile: String,
}

impl Builds {
    /// Located from this driver's own executable, `<target>/<profile>/examples/service`.
    pub fn locate() -> Result<Builds, String> {
        let exe = std::env::current_exe()
            .map_err(|error| format!("cannot find this program's executable: {error}"))?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("{} is not under a target directory", exe.display()))?;
        let target = profile_dir
            .parent()
            .ok_or_else(|| format!("{} is not under a target directory", exe.display()))?;
        Ok(Builds {
            cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            target: target.to_owned(),
            profile: profile_dir
                .file_name()
                .map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
        })
    }

    /// The demo's own target directory.
    fn demo_target(&self) -> PathBuf {
        self.target.join("demo")
    }

    /// Whether this driver, and so the demo, is built with the release profile.
    pub fn release(&self) -> bool {
        self.profile == "release"
    }

    /// A file the demo's build wrote.
    pub fn demo_artifact(&self, name: &str) -> PathBuf {
        self.demo_target().join(&self.profile).join(name)
    }

    /// Where the service finds its own shared library and the patches' dependencies.
    pub fn demo_library_dir(&self) -> PathBuf {
        self.demo_target().join(&self.profile).join("deps")
    }

    /// Builds packages of the demo's workspace (`demo/`), with `-C prefer-dynamic` as every
    /// program that takes patch libraries and its patches are built, and with this driver's
    /// profile.
    pub fn demo(&self, packages: &[&str]) -> Result<(), String> {
        let mut command = Command::new(&self.cargo);
        command
            .arg("build")
            .args(packages.iter().flat_map(|package| ["-p", package]))
            .current_dir(self.root.join("demo"))
            // The flags of the build that runs this driver are not the demo's.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env("RUSTFLAGS", "-C prefer-dynamic")
            .env("CARGO_TARGET_DIR", self.demo_target());
        if self.release() {
            command.arg("--release");
        }
        run_with_progress(command, &packages.join(", "))
    }

    /// Builds the `livepatch` command in this workspace and returns its path.
    pub fn cli(&self) -> Result<PathBuf, String> {
        let mut command = Command::new(&self.cargo);
        command
            .args(["build", "-p", "livepatch-cli"])
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target);
        if self.release() {
            command.arg("--release");
        }
        run_with_progress(command, "livepatch-cli")?;
        Ok(self.target.join(&self.profile).join("livepatch"))
    }
}

/// Runs a cargo build, showing each line cargo prints as it comes, then how long it took.
fn run_with_progress(mut command: Command, what: &str) -> Result<(), String> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run cargo: {error}; is it on the PATH?"))?;
    let stderr = child.stderr.take().expect("stderr was piped");
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        println!("  build | {}", line.trim_start());
    }
    let status = child
        .wait()
        .map_err(|error| format!("cargo did not finish: {error}"))?;
    if !status.success() {
        return Err(format!(
            "building {what} failed ({status}); cargo's messages are above"
        ));
    }
    println!("  built {what} in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
