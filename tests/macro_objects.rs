//! A macro-written patch with callbacks on the program and on named objects: the descriptor lists
//! the program first, then the objects in the order of their first callback, and the runtime runs
//! the callbacks in that order, for loaded objects only.

use livepatch::StateHandle;
use livepatch::prelude::*;
use livepatch::{Dmesg, ObjectName};

/// Data kept by the patch: how many times `pre_patch` ran on the program.
pub struct Runs(u32);

#[livepatch(
    name = "objects",
    states = [
        /// Counts the program's `pre_patch` runs.
        RUNS { id: 5, version: 1, data: Runs },
    ],
)]
pub mod objects {
    use super::*;

    #[post_unpatch(object = "disk")]
    fn disk_post_unpatch(cx: &mut PostUnpatch<'_>) {
        tracing::info!(target: "objects", "post_unpatch: {} ({:?})", cx.object(), cx.reason());
    }

    #[pre_patch(object = "net")]
    fn net_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tracing::info!(target: "objects", "pre_patch: {}", cx.object());
        Ok(())
    }

    #[pre_patch]
    fn program_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tracing::info!(target: "objects", "pre_patch: {}", cx.object());
        if let Some(mut runs) = cx.state(RUNS) {
            let count = runs.data().map_or(0, |r| r.0) + 1;
            runs.set(Runs(count));
        }
        Ok(())
    }

    #[pre_patch(object = "disk")]
    fn disk_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tracing::info!(target: "objects", "pre_patch: {}", cx.object());
        Ok(())
    }

    #[post_patch(object = "net")]
    fn net_post_patch(cx: &mut PostPatch<'_>) {
        tracing::info!(target: "objects", "post_patch: {}", cx.object());
    }

    #[post_unpatch]
    fn program_post_unpatch(cx: &mut PostUnpatch<'_>) {
        let runs = cx.state(RUNS).and_then(|r| r.data().map(|r| r.0));
        tracing::info!(target: "objects", "post_unpatch: {} after {runs:?} run", cx.object());
    }
}

/// The objects of `patch`'s descriptor, in order.
fn object_names(patch: &livepatch::PatchDesc) -> Vec<ObjectName> {
    patch.object_descs().iter().map(|o| o.name()).collect()
}

/// The lines of `log` under `target`.
fn lines_of(log: &Dmesg, target: &str) -> Vec<String> {
    let prefix = format!("{target}:");
    log.lines()
        .into_iter()
        .filter(|l| l.starts_with(&prefix))
        .collect()
}

#[test]
fn objects_are_listed_program_first_then_in_order_of_first_callback() {
    let names = object_names(&objects::PATCH);
    assert_eq!(
        names,
        [
            ObjectName::Program,
            ObjectName::Named("disk"),
            ObjectName::Named("net"),
        ]
    );
}

#[test]
fn callbacks_run_in_object_order_for_loaded_objects() {
    let rt = Runtime::new();
    let log = Dmesg::new();
    rt.load_object("net").unwrap();
    log.capture(|| {
        rt.enable(&objects::PATCH).unwrap();
        rt.disable("objects").unwrap();
    });
    let ours = lines_of(&log, "objects");
    assert_eq!(
        ours,
        [
            "objects: pre_patch: vmlinux",
            "objects: pre_patch: net",
            "objects: post_patch: net",
            "objects: post_unpatch: vmlinux after Some(1) run",
        ]
    );
}

#[test]
fn the_state_handle_carries_the_declared_id_version_and_type() {
    // The handle is marked as one of this patch's.
    let handle: StateHandle<Runs, objects::__Patch> = objects::RUNS;
    assert_eq!((handle.id(), handle.version()), (5, 1));
    let desc = objects::PATCH.state(5).unwrap();
    assert_eq!(desc.version(), 1);
    assert_eq!(desc.data_type().name(), std::any::type_name::<Runs>());
    assert!(!objects::PATCH.is_replace());
}

/// One function serving a callback kind for several objects.
#[livepatch]
pub mod shared {
    use super::*;

    #[post_patch(object = ["net", "disk"])]
    fn attach(cx: &mut PostPatch<'_>) {
        tracing::info!(target: "shared", "post_patch: {}", cx.object());
    }
}

const PROGRAM_NET_DISK: [ObjectName; 3] = [
    ObjectName::Program,
    ObjectName::Named("net"),
    ObjectName::Named("disk"),
];

/// Enables `patch` on a runtime with `net` loaded, then runs `then`: the log of both.
fn enabled_with_net(patch: &'static livepatch::PatchDesc, then: impl FnOnce(&Runtime)) -> Dmesg {
    let rt = Runtime::new();
    let log = Dmesg::new();
    rt.load_object("net").unwrap();
    log.capture(|| {
        rt.enable(patch).unwrap();
        then(&rt);
    });
    log
}

#[test]
fn a_callback_may_serve_a_list_of_objects() {
    assert_eq!(object_names(&shared::PATCH), PROGRAM_NET_DISK);
    let log = enabled_with_net(&shared::PATCH, |rt| rt.load_object("disk").unwrap());
    let ours = lines_of(&log, "shared");
    assert_eq!(
        ours,
        ["shared: post_patch: net", "shared: post_patch: disk"]
    );
}

/// The program's name for an object, declared once: a misspelled constant does not compile.
pub const NET: &str = "net";

#[livepatch]
pub mod by_constant {
    use super::*;

    #[post_patch(object = NET)]
    fn attach(cx: &mut PostPatch<'_>) {
        tracing::info!(target: "by_constant", "post_patch: {}", cx.object());
    }

    #[post_unpatch(object = [NET, "disk"])]
    fn detach(cx: &mut PostUnpatch<'_>) {
        tracing::info!(target: "by_constant", "post_unpatch: {}", cx.object());
    }
}

#[test]
fn a_callback_may_name_its_object_by_a_constant() {
    assert_eq!(object_names(&by_constant::PATCH), PROGRAM_NET_DISK);
    let log = enabled_with_net(&by_constant::PATCH, |rt| rt.disable("by_constant").unwrap());
    assert_eq!(
        lines_of(&log, "by_constant"),
        [
            "by_constant: post_patch: net",
            "by_constant: post_unpatch: net"
        ]
    );
}
