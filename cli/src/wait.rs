//! Waiting for a patch's transition, with a line of progress at each interval.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use livepatch_control::Request;
use livepatch_control::protocol::TransitionView;

use crate::render;

/// Waits until `patch` is no longer in transition, asking the program every `every` (each
/// question waits that long for the transition to end), and writes a line to `progress` each
/// time it still goes on: the threads not switched yet, and the functions they are inside.
/// Returns the runtime's lines logged meanwhile (the transition's completion).
pub(crate) fn transition(
    socket: &Path,
    patch: &str,
    every: Duration,
    progress: &mut dyn Write,
) -> Result<Vec<String>, String> {
    let wait_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
    let mut log = Vec::new();
    loop {
        let reply = livepatch_control::request(socket, &Request::Transition { wait_ms })?;
        log.extend(reply.log);
        if let Some(error) = reply.error {
            return Err(format!(
                "cannot follow the transition of '{patch}' ({}); see `livepatch transition`",
                error.message
            ));
        }
        let result = reply.result.unwrap_or(serde_json::Value::Null);
        let t: Option<TransitionView> = serde_json::from_value(result)
            .map_err(|e| format!("the program's reply does not read as a transition ({e})"))?;
        match t {
            Some(t) if t.patch == patch => {
                // Progress is a courtesy: a closed stderr does not stop the wait.
                let _ = progress.write_all(render::progress(&t).as_bytes());
            }
            _ => return Ok(log),
        }
    }
}

#[cfg(test)]
#[path = "../tests/hold/mod.rs"]
mod hold;

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Duration;

    use livepatch_control::Request;

    /// Hands each write to a channel: the lines of progress, as they come.
    struct Lines(mpsc::Sender<String>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(String::from_utf8_lossy(bytes).into_owned());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_interval_says_which_threads_are_not_switched_and_what_they_are_inside() {
        let dir = std::env::temp_dir().join(format!("livepatch-cli-wait-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (server, worker) = super::hold::start(&dir);
        let enable = Request::Enable {
            name: "hold".into(),
        };
        assert!(
            livepatch_control::request(server.path(), &enable)
                .unwrap()
                .ok
        );
        let socket = server.path().to_owned();
        let (lines, progress) = mpsc::channel();
        let waiting = std::thread::spawn(move || {
            super::transition(
                &socket,
                "hold",
                Duration::from_millis(10),
                &mut Lines(lines),
            )
        });
        let first = progress.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(
            first,
            "'hold' is patching: 1 thread not switched yet: worker (inside app::hold)\n"
        );
        // The worker leaves the original, which it entered before the patch.
        assert_eq!(worker.release(), 7);
        assert_eq!(
            waiting.join().unwrap(),
            Ok(vec![
                "livepatch: 'hold': completing patching transition".to_owned(),
                "livepatch: 'hold': patching complete".to_owned(),
            ])
        );
        // Any later line was written before the worker left, and says the same.
        assert!(progress.try_iter().all(|line| line == first));
        let after =
            livepatch_control::request(server.path(), &Request::Transition { wait_ms: 0 }).unwrap();
        assert_eq!(
            (after.ok, after.result),
            (true, Some(serde_json::Value::Null))
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
