//! The control protocol: one JSON request per line, answered by one JSON reply per line.
//!
//! ```
//! use livepatch_control::Request;
//!
//! let request: Request = serde_json::from_str(r#"{"command":"disable","name":"fix"}"#)?;
//! assert_eq!(request, Request::Disable { name: "fix".into() });
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A request, by its `command` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Every patch on the list, as sysfs shows them.
    List {},
    /// Opens a patch library and, unless `enable` is `false`, enables its patch.
    Load {
        /// The library's path, as the program sees it.
        path: PathBuf,
        /// Whether to enable the patch once loaded.
        #[serde(default = "yes")]
        enable: bool,
    },
    /// Enables a patch the program knows: one loaded earlier, or one it offers compiled in.
    Enable {
        /// The patch's name.
        name: String,
    },
    /// Disables a patch on the list.
    Disable {
        /// The patch's name.
        name: String,
    },
    /// The transition in progress, after waiting for it up to `wait_ms` milliseconds.
    Transition {
        /// How long to wait for the transition to complete first.
        #[serde(default)]
        wait_ms: u64,
    },
    /// Forces the transition in progress; refused unless `confirm` is `true`.
    Force {
        /// The operator's confirmation.
        #[serde(default)]
        confirm: bool,
    },
    /// What a patch the program knows holds: its states, objects, callbacks and functions.
    Info {
        /// The patch's name.
        name: String,
    },
    /// A dry run of enabling a patch: one the program knows, by `name`, or the patch of the
    /// library at `path`. A library is opened as `load` with `"enable": false` opens it (the same
    /// checks, then its initialisers run) and stays loaded, not enabled, so that `enable` can name
    /// its patch: a patch library is never closed once opened. Nothing is enabled and no
    /// callback runs.
    Plan {
        /// The patch's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The library's path, as the program sees it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
}

fn yes() -> bool {
    true
}

/// The reply to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request succeeded.
    pub ok: bool,
    /// What it answers, when it succeeded: `null` is an answer too (no transition, say), kept
    /// apart from a reply without a result.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result: Option<serde_json::Value>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReply>,
    /// The runtime's log lines while the request ran (the kernel-style messages), after those
    /// that transitions started by earlier requests logged since the last reply (their
    /// completion, on the runtime's own thread).
    #[serde(default)]
    pub log: Vec<String>,
}

/// A field that is there, `null` or not: `Some`, where a missing one is `None`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// A stable name of the kind of failure, for scripts: `malformed`, `oversized`, `refused`,
    /// `busy`, `file`, `load`, `enable`, `disable`, `transition`, `unknown_patch`,
    /// `not_confirmed`.
    pub kind: String,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl Reply {
    /// A successful reply.
    pub fn success(result: impl Serialize, log: Vec<String>) -> Reply {
        Reply {
            ok: true,
            result: Some(serde_json::to_value(result).unwrap_or(serde_json::Value::Null)),
            error: None,
            log,
        }
    }

    /// A failed reply.
    pub fn failure(kind: &str, message: impl ToString, log: Vec<String>) -> Reply {
        Reply {
            ok: false,
            result: None,
            error: Some(ErrorReply {
                kind: kind.to_owned(),
                message: message.to_string(),
            }),
            log,
        }
    }
}

/// One patch on the list, as sysfs shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchView {
    /// The patch's name.
    pub name: String,
    /// The `enabled` switch.
    pub enabled: bool,
    /// Whether it is the patch in transition.
    pub transition: bool,
    /// Whether it is cumulative.
    pub replace: bool,
    /// Its 1-based position on the list.
    pub stack_order: usize,
    /// Its objects and whether each is patched.
    pub objects: Vec<ObjectView>,
    /// Its states.
    pub states: Vec<StateView>,
}

/// One object of a patch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectView {
    /// The object's name (`vmlinux` for the program).
    pub name: String,
    /// Whether the patch is applied to it.
    pub patched: bool,
}

/// One state of a patch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateView {
    /// The state's id.
    pub id: u64,
    /// The version the patch declares.
    pub version: u32,
    /// Whether it holds data.
    pub has_data: bool,
}

/// The transition in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionView {
    /// The patch in transition.
    pub patch: String,
    /// `patching` or `unpatching`.
    pub target: String,
    /// The threads that have not switched yet.
    pub waiting_threads: Vec<WaitingThread>,
}

/// A thread that has not switched yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingThread {
    /// Its name, or its id when it has none.
    pub thread: String,
    /// The functions the transition changes that it is inside, outermost first: while it is in
    /// one, it cannot switch. Empty when it is in none, and will switch shortly.
    pub inside: Vec<String>,
}

/// What a patch holds: from its descriptor, for a patch the program knows, or from its
/// library's manifest, for a file (`livepatch info FILE`, which loads nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchInfo {
    /// The patch's name.
    pub name: String,
    /// Whether it is cumulative.
    pub replace: bool,
    /// Its states, in declaration order.
    pub states: Vec<StateInfo>,
    /// Its objects, in the order their callbacks run, the program (`vmlinux`) first.
    pub objects: Vec<ObjectInfo>,
    /// What a patch library was built with and against, when read from its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<BuiltInfo>,
}

/// One state a patch declares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInfo {
    /// The state's id.
    pub id: u64,
    /// Its version.
    pub version: u32,
    /// The type of its data: the program's name for it, or, from a file, as the patch writes it.
    pub data: String,
    /// The name of its handle in the patch, when read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

/// One object of a patch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The object's name (`vmlinux` for the program).
    pub name: String,
    /// Its callbacks, in the order `pre_patch`, `post_patch`, `pre_unpatch`, `post_unpatch`.
    pub callbacks: Vec<CallbackInfo>,
    /// The functions of the object the patch replaces.
    pub functions: Vec<FunctionInfo>,
}

/// One callback of an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackInfo {
    /// `pre_patch`, `post_patch`, `pre_unpatch` or `post_unpatch`.
    pub kind: String,
    /// The patch's function for it, when read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
}

/// One function a patch replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// The replaced function: the program's name for it, or, from a file, as the patch names it.
    pub name: String,
    /// The patch's function that replaces it, when read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// What a patch library was built with and against, from its manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltInfo {
    /// The program's library crate.
    pub program: String,
    /// The id of the build of it the library was built against.
    pub program_build: String,
    /// The `livepatch` version.
    pub livepatch: String,
    /// The compiler.
    pub rustc: String,
    /// The target.
    pub target: String,
    /// The profile.
    pub profile: String,
    /// The codegen flags.
    pub codegen: String,
}

impl From<&livepatch_runtime::PatchDesc> for PatchInfo {
    fn from(desc: &livepatch_runtime::PatchDesc) -> Self {
        PatchInfo {
            name: desc.name().to_owned(),
            replace: desc.is_replace(),
            states: desc
                .state_descs()
                .iter()
                .map(|s| StateInfo {
                    id: s.id(),
                    version: s.version(),
                    data: s.data_type().name().to_owned(),
                    handle: None,
                })
                .collect(),
            objects: desc
                .object_descs()
                .iter()
                .map(|o| ObjectInfo {
                    name: o.name().to_string(),
                    callbacks: o
                        .callback_names()
                        .into_iter()
                        .map(|kind| CallbackInfo {
                            kind: kind.to_owned(),
                            function: None,
                        })
                        .collect(),
                    functions: o
                        .function_descs()
                        .iter()
                        .map(|f| FunctionInfo {
                            name: f.name().to_owned(),
                            replacement: None,
                        })
                        .collect(),
                })
                .collect(),
            built: None,
        }
    }
}

impl From<&livepatch_loader::Manifest> for PatchInfo {
    fn from(manifest: &livepatch_loader::Manifest) -> Self {
        PatchInfo {
            name: manifest.patch.clone(),
            replace: manifest.replace,
            states: manifest
                .states
                .iter()
                .map(|s| StateInfo {
                    id: s.id,
                    version: s.version,
                    data: s.data.clone(),
                    handle: Some(s.handle.clone()),
                })
                .collect(),
            objects: manifest
                .objects
                .iter()
                .map(|o| ObjectInfo {
                    name: o.name.clone(),
                    callbacks: o
                        .callbacks
                        .iter()
                        .map(|c| CallbackInfo {
                            kind: c.kind.clone(),
                            function: Some(c.function.clone()),
                        })
                        .collect(),
                    functions: o
                        .functions
                        .iter()
                        .map(|f| FunctionInfo {
                            name: f.target.clone(),
                            replacement: Some(f.replacement.clone()),
                        })
                        .collect(),
                })
                .collect(),
            built: Some(BuiltInfo {
                program: manifest.program.clone(),
                program_build: manifest.program_build.clone(),
                livepatch: manifest.livepatch.clone(),
                rustc: manifest.build.rustc.clone(),
                target: manifest.build.target.clone(),
                profile: manifest.build.profile.clone(),
                codegen: manifest.build.codegen.clone(),
            }),
        }
    }
}

/// A dry run of an enable: what `Runtime::plan` answers, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    /// The patch.
    pub patch: String,
    /// Why the enable would be refused, if it would.
    pub refusal: Option<String>,
    /// The verdict on each state.
    pub states: Vec<PlannedStateView>,
    /// The callbacks that would run, in order, as `object: callback`.
    pub callbacks: Vec<String>,
    /// The functions whose code would change.
    pub functions: Vec<PlannedFunctionView>,
    /// The patches a cumulative patch would remove.
    pub removes: Vec<String>,
    /// The library the patch was loaded from for this plan, when the plan named a file: it is
    /// loaded now, not enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_from: Option<PathBuf>,
}

/// One state of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStateView {
    /// The state's id.
    pub id: u64,
    /// The version the patch declares, if it declares the state.
    pub version: Option<u32>,
    /// The installed patch that declares it, and its version.
    pub installed: Option<(String, u32)>,
    /// What the enable makes of it: created (`new`), `compatible` (with what becomes of the
    /// installed patch's data: taken over, passed back or dropped), or why it is incompatible.
    pub verdict: String,
}

/// One function of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFunctionView {
    /// Its object.
    pub object: String,
    /// Its name.
    pub name: String,
    /// `patched`, `re-patched (now: P)` or `restored (now: P)`.
    pub change: String,
}

impl From<&livepatch_runtime::Plan> for PlanView {
    fn from(plan: &livepatch_runtime::Plan) -> Self {
        use livepatch_runtime::{CallbackKind, ConflictReason, FunctionChange, StateVerdict};
        let now = |current: Option<&str>| current.unwrap_or("another runtime's patch").to_owned();
        PlanView {
            patch: plan.patch.to_owned(),
            refusal: plan.refusal.as_ref().map(ToString::to_string),
            states: plan
                .states
                .iter()
                .map(|s| PlannedStateView {
                    id: s.id,
                    version: s.version,
                    installed: s.installed.map(|(p, v)| (p.to_owned(), v)),
                    verdict: match (&s.verdict, s.installed) {
                        (StateVerdict::New, _) => "new: created by this patch".to_owned(),
                        (StateVerdict::Compatible { has_data: false }, _) => {
                            "compatible".to_owned()
                        }
                        // SPEC §2: a replaced patch's states go with it; a patch that goes
                        // away above one that stays passes its data back.
                        (StateVerdict::Compatible { has_data: true }, Some((holder, _)))
                            if plan.removes.contains(&holder) =>
                        {
                            format!(
                                "compatible: the patch may take over the data of '{holder}', \
                                 which is dropped with '{holder}' if it does not"
                            )
                        }
                        (StateVerdict::Compatible { has_data: true }, installed) => {
                            let holder = installed.map_or("the installed patch", |(p, _)| p);
                            format!(
                                "compatible: the patch may take over the data of '{holder}', \
                                 and passes it back if it goes away while '{holder}' stays"
                            )
                        }
                        (
                            StateVerdict::Incompatible(ConflictReason::VersionLowered {
                                new_version,
                            }),
                            _,
                        ) => format!("incompatible: version lowered to {new_version}"),
                        (StateVerdict::Incompatible(ConflictReason::DroppedByCumulative), _) => {
                            "incompatible: a cumulative patch must declare it".to_owned()
                        }
                    },
                })
                .collect(),
            callbacks: plan
                .callbacks
                .iter()
                .map(|c| {
                    let callback = match c.callback {
                        CallbackKind::PrePatch => "pre_patch",
                        CallbackKind::PostPatch => "post_patch",
                    };
                    format!("{}: {callback}", c.object)
                })
                .collect(),
            functions: plan
                .functions
                .iter()
                .map(|f| PlannedFunctionView {
                    object: f.object.to_string(),
                    name: f.name.to_owned(),
                    change: match f.change {
                        FunctionChange::Patched => "patched".to_owned(),
                        FunctionChange::Repatched { current } => {
                            format!("re-patched (now: {})", now(current))
                        }
                        FunctionChange::Restored { current } => {
                            format!("restored to the original (now: {})", now(current))
                        }
                    },
                })
                .collect(),
            removes: plan.removes.iter().map(|p| (*p).to_owned()).collect(),
            loaded_from: None,
        }
    }
}
