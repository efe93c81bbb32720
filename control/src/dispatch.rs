//! What each request does, against the runtime.

use std::sync::Mutex;
use std::time::Duration;

use livepatch_loader::{PatchLibrary, Program};
use livepatch_runtime::{Chain, Dmesg, PatchDesc, PatchStatus, Runtime, TransitionTarget};

use crate::patch_file;
use crate::protocol::{
    ObjectView, PatchInfo, PatchView, PlanView, Reply, Request, StateView, TransitionView,
    WaitingThread,
};

/// What the server drives: the runtime, the program patch libraries are built against, and
/// the patches the program knows by name.
pub(crate) struct Control {
    pub(crate) runtime: &'static Runtime,
    pub(crate) program: Option<&'static Program>,
    /// Patches loaded from libraries, then the ones the program offers compiled in.
    pub(crate) known: Mutex<Vec<&'static PatchDesc>>,
    pub(crate) service_uid: u32,
    /// The logs of requests that left a transition going: the runtime's own thread logs the
    /// rest of that transition (its completion, `post_patch`) into them, and the next replies
    /// carry those lines.
    pub(crate) late: Mutex<Vec<Dmesg>>,
}

/// The most logs of earlier requests kept for their late lines.
const LATE_LOGS: usize = 8;

impl Control {
    /// Runs one request, with the runtime's log lines captured for the reply.
    /// A reply also carries the lines that transitions left going by earlier requests have
    /// logged since, first.
    pub(crate) fn handle(&self, request: Request) -> Reply {
        let starts = matches!(
            request,
            Request::Load { enable: true, .. }
                | Request::Enable { .. }
                | Request::Disable { .. }
                | Request::Force { .. }
        );
        let log = Dmesg::new();
        let answer = log.capture(|| self.run(request));
        let mut late = self.late.lock().unwrap_or_else(|e| e.into_inner());
        // Read before the lines: once no transition goes on, every line of one is logged.
        let over = self.runtime.transition().is_none();
        let mut lines: Vec<String> = late.iter().flat_map(Dmesg::take).collect();
        lines.extend(log.take());
        if over {
            late.clear();
        } else if starts {
            if late.len() == LATE_LOGS {
                late.remove(0);
            }
            late.push(log);
        }
        drop(late);
        match answer {
            Ok(result) => Reply::success(result, lines),
            Err((kind, message)) => Reply::failure(kind, message, lines),
        }
    }

    fn run(&self, request: Request) -> Result<serde_json::Value, (&'static str, String)> {
        match request {
            Request::List {} => json(self.list()),
            Request::Load { path, enable } => {
                let desc = self.load(&path)?;
                if enable {
                    self.runtime
                        .enable(desc)
                        .map_err(|e| ("enable", Chain(&e).to_string()))?;
                }
                json(desc.name())
            }
            Request::Enable { name } => {
                let desc = self.known(&name)?;
                self.runtime
                    .enable(desc)
                    .map_err(|e| ("enable", Chain(&e).to_string()))?;
                json(desc.name())
            }
            Request::Disable { name } => {
                self.runtime
                    .disable(&name)
                    .map_err(|e| ("disable", Chain(&e).to_string()))?;
                json(&name)
            }
            Request::Transition { wait_ms } => {
                if wait_ms > 0 && self.runtime.transition().is_some() {
                    // Timing out is an answer here, not a failure: the reply says what still
                    // waits.
                    let _ = self.runtime.wait_transition(Duration::from_millis(wait_ms));
                }
                json(self.transition())
            }
            Request::Force { confirm } => {
                if !confirm {
                    return Err((
                        "not_confirmed",
                        "forcing a transition may let threads mix old and new code; repeat the \
                         request with \"confirm\": true if the threads that block it are known \
                         not to"
                            .to_owned(),
                    ));
                }
                self.runtime
                    .force()
                    .map_err(|e| ("transition", Chain(&e).to_string()))?;
                json(self.list())
            }
            Request::Info { name } => {
                // The patch on the list first: it may be one the program enabled itself.
                let desc = match self.runtime.patch_desc(&name) {
                    Some(desc) => desc,
                    None => self.known(&name)?,
                };
                json(PatchInfo::from(desc))
            }
            Request::Plan { name, path } => {
                let desc = match (name, &path) {
                    (Some(name), None) => self.known(&name)?,
                    (None, Some(path)) => self.load(path)?,
                    _ => {
                        return Err((
                            "malformed",
                            "a plan names either a patch the program knows (\"name\") or a \
                             patch library (\"path\"): give one of them"
                                .to_owned(),
                        ));
                    }
                };
                let plan = self
                    .runtime
                    .plan(desc)
                    .map_err(|e| ("busy", Chain(&e).to_string()))?;
                let mut view = PlanView::from(&plan);
                view.loaded_from = path;
                json(view)
            }
        }
    }

    fn list(&self) -> Vec<PatchView> {
        self.runtime.patches().iter().map(patch_view).collect()
    }

    fn transition(&self) -> Option<TransitionView> {
        let t = self.runtime.transition()?;
        let behind = match t.target {
            TransitionTarget::Patched => 0,
            TransitionTarget::Unpatched => 1,
        };
        let waiting_threads = self
            .runtime
            .thread_states()
            .into_iter()
            .filter(|s| s.state == behind)
            .map(|s| WaitingThread {
                thread: s.name.unwrap_or_else(|| format!("{:?}", s.thread)),
                inside: s.inside.iter().map(|f| (*f).to_owned()).collect(),
            })
            .collect();
        Some(TransitionView {
            patch: t.patch.to_owned(),
            target: t.target.to_string(),
            waiting_threads,
        })
    }

    fn known(&self, name: &str) -> Result<&'static PatchDesc, (&'static str, String)> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .iter()
            .find(|d| d.name() == name)
            .copied()
            .ok_or_else(|| {
                (
                    "unknown_patch",
                    format!(
                        "the program knows no patch '{name}'; load its library first (known: {})",
                        match known.is_empty() {
                            true => "none".to_owned(),
                            false => known
                                .iter()
                                .map(|d| d.name())
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                    ),
                )
            })
    }

    fn load(&self, path: &std::path::Path) -> Result<&'static PatchDesc, (&'static str, String)> {
        let Some(program) = self.program else {
            return Err((
                "load",
                "this program takes no patch libraries: it started its control socket without \
                 its `LIVEPATCH_PROGRAM`; see ControlServer::program"
                    .to_owned(),
            ));
        };
        let file = patch_file::open(path, self.service_uid)
            .map_err(|e| ("file", Chain(&e).to_string()))?;
        // SAFETY: the file passed the ownership and mode checks of `patch_file`; the program
        // that started the control socket accepted, by doing so, that its user and root decide
        // which patch libraries run in it (see `ControlServer`).
        let library = unsafe { PatchLibrary::open_file(path, file.into_file(), program) }
            .map_err(|e| ("load", Chain(&e).to_string()))?;
        let desc = library.patch();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if !known.iter().any(|d| std::ptr::eq(*d, desc)) {
            known.insert(0, desc);
        }
        Ok(desc)
    }
}

fn patch_view(p: &PatchStatus) -> PatchView {
    PatchView {
        name: p.name.to_owned(),
        enabled: p.enabled,
        transition: p.transition,
        replace: p.replace,
        stack_order: p.stack_order,
        objects: p
            .objects
            .iter()
            .map(|o| ObjectView {
                name: o.name.to_string(),
                patched: o.patched,
            })
            .collect(),
        states: p
            .states
            .iter()
            .map(|s| StateView {
                id: s.id,
                version: s.version,
                has_data: s.has_data,
            })
            .collect(),
    }
}

/// A reply's `result`.
fn json(value: impl serde::Serialize) -> Result<serde_json::Value, (&'static str, String)> {
    Ok(serde_json::to_value(value).unwrap_or(serde_json::Value::Null))
}
