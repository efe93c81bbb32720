//! The bench mode: the fix enabled and disabled many times under the same load, straight
//! through the control socket (no command-line process in the way), so that the latency while a
//! patch is enabled can be set against steady state with enough requests on both sides.

use std::path::Path;
use std::time::Duration;

use livepatch::control::{Reply, Request};

use crate::fees::Code;
use crate::load::Load;
use crate::report::Timeline;

/// How long each steady phase between two transitions lasts.
const GAP: Duration = Duration::from_millis(150);

/// Loads `library` without enabling it, then `rounds` times enables and disables its patch
/// `name`, waiting for each transition to complete.
pub fn cycle(
    socket: &Path,
    library: &Path,
    name: &str,
    load: &Load,
    timeline: &mut Timeline,
    rounds: usize,
) -> Result<(), String> {
    ask(
        socket,
        Request::Load {
            path: library.to_owned(),
            enable: false,
        },
    )?;
    println!("== {rounds} rounds of enabling and disabling {name}");
    for round in 1..=rounds {
        for (before, after, request) in [
            (
                Code::Shipped,
                Code::Fixed,
                Request::Enable { name: name.into() },
            ),
            (
                Code::Fixed,
                Code::Shipped,
                Request::Disable { name: name.into() },
            ),
        ] {
            timeline.begin("steady", load.now(), before, before);
            std::thread::sleep(GAP);
            timeline.begin("transition", load.now(), before, after);
            ask(socket, request)?;
            let waited = ask(socket, Request::Transition { wait_ms: 30_000 })?;
            // A completed transition answers no transition: `null`.
            if let Some(transition) = waited.result.filter(|result| !result.is_null()) {
                return Err(format!(
                    "the transition did not complete in 30 s: {transition}"
                ));
            }
        }
        if round % 10 == 0 {
            println!("  {round} of {rounds} rounds");
        }
    }
    timeline.begin("steady", load.now(), Code::Shipped, Code::Shipped);
    std::thread::sleep(GAP);
    Ok(())
}

/// One request, which must succeed.
fn ask(socket: &Path, request: Request) -> Result<Reply, String> {
    let reply = livepatch::control::request(socket, &request)?;
    match reply.error {
        None if reply.ok => Ok(reply),
        error => Err(format!("{request:?} failed: {error:?}")),
    }
}
