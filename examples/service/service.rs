//! The shop service as a child process: started, relayed and stopped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::builds::Builds;

/// The running service.
pub struct Service {
    child: Child,
    /// Closing it stops the service.
    stdin: Option<ChildStdin>,
    pub address: SocketAddr,
    pub socket: PathBuf,
}

impl Service {
    /// Starts the shop with its control socket at `socket`, and waits until it listens.
    pub fn start(builds: &Builds, socket: &Path) -> Result<Service, String> {
        let std_dir = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args(["--print", "target-libdir"])
            .output()
            .map_err(|error| format!("cannot ask rustc where std's library is: {error}"))?;
        let std_dir = String::from_utf8_lossy(&std_dir.stdout).trim().to_owned();
        // The service needs std's shared library and its own, as `cargo run` would give it.
        let library_path = format!("{std_dir}:{}", builds.demo_library_dir().display());
        let mut child = Command::new(builds.demo_artifact("shop"))
            .arg("--socket")
            .arg(socket)
            .env("LD_LIBRARY_PATH", library_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start the shop: {error}"))?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().expect("stderr was piped");
        // What the service and its patches' callbacks say, as it comes.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                println!("   shop | {line}");
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let mut line = String::new();
        let mut next_line = |prefix: &str| -> Result<String, String> {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(n) if n > 0 => line
                    .trim_end()
                    .strip_prefix(prefix)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("the shop said {line:?} instead of `{prefix}…`")),
                _ => Err("the shop stopped before it listened; its messages are above".to_owned()),
            }
        };
        let address = next_line("listening ")?;
        let address = address
            .parse()
            .map_err(|error| format!("the shop listens on {address:?}: {error}"))?;
        let socket = PathBuf::from(next_line("control ")?);
        Ok(Service {
            child,
            stdin,
            address,
            socket,
        })
    }

    /// Stops the service by closing its standard input, and kills it if it has not exited
    /// within five seconds.
    pub fn stop(mut self) -> Result<(), String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("the shop exited with {status}")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("the shop did not stop within 5 s of its input closing".into());
                }
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Stopped already, or the demo failed: never leave the service running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
