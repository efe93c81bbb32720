//! A callback can ask whether its patch is in transition as it runs, and in which direction:
//! enabling, disabling and cancelling run callbacks inside their transition; an object that loads
//! or unloads while its patch is settled runs them outside any.

use std::sync::Mutex;

use livepatch::prelude::*;
use livepatch::{CallbackContext, CallbackError, ObjectDesc, PatchDesc};

/// What each callback saw: `object kind transition`.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(kind: &str, cx: &CallbackContext<'_>) {
    SEEN.lock()
        .unwrap()
        .push(format!("{} {kind} {:?}", cx.object(), cx.transition()));
}

fn pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    record("pre_patch", cx);
    Ok(())
}
fn failing_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    record("pre_patch", cx);
    Err(CallbackError::new("no"))
}
fn post_patch(cx: &mut PostPatch<'_>) {
    record("post_patch", cx);
}
fn pre_unpatch(cx: &mut PreUnpatch<'_>) {
    record("pre_unpatch", cx);
}
fn post_unpatch(cx: &mut PostUnpatch<'_>) {
    record("post_unpatch", cx);
}

const fn every_callback(object: ObjectDesc) -> ObjectDesc {
    object
        .pre_patch(pre_patch)
        .post_patch(post_patch)
        .pre_unpatch(pre_unpatch)
        .post_unpatch(post_unpatch)
}

static OBJECTS: [ObjectDesc; 2] = [
    every_callback(ObjectDesc::program()),
    every_callback(ObjectDesc::named("net")),
];
static WATCHED: PatchDesc = PatchDesc::new("watched").objects(&OBJECTS);

static REFUSING_OBJECTS: [ObjectDesc; 2] = [
    every_callback(ObjectDesc::program()),
    ObjectDesc::named("net").pre_patch(failing_pre_patch),
];
static REFUSING: PatchDesc = PatchDesc::new("refusing").objects(&REFUSING_OBJECTS);

fn seen() -> Vec<String> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

#[test]
fn callbacks_know_whether_their_patch_is_in_transition_and_which_way() {
    let rt = Runtime::new();

    rt.enable(&WATCHED).unwrap();
    assert_eq!(
        seen(),
        [
            "vmlinux pre_patch Some(Patched)",
            "vmlinux post_patch Some(Patched)"
        ]
    );

    // The object comes and goes while the patch is settled.
    rt.load_object("net").unwrap();
    rt.unload_object("net").unwrap();
    assert_eq!(
        seen(),
        [
            "net pre_patch None",
            "net post_patch None",
            "net pre_unpatch None",
            "net post_unpatch None"
        ]
    );

    rt.disable("watched").unwrap();
    assert_eq!(
        seen(),
        [
            "vmlinux pre_unpatch Some(Unpatched)",
            "vmlinux post_unpatch Some(Unpatched)"
        ]
    );

    // A cancelled enable: the patching transition turns into an unpatching one.
    rt.load_object("net").unwrap();
    rt.enable(&REFUSING).unwrap_err();
    assert_eq!(
        seen(),
        [
            "vmlinux pre_patch Some(Patched)",
            "net pre_patch Some(Patched)",
            "vmlinux post_unpatch Some(Unpatched)"
        ]
    );
}
