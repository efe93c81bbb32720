//! SPEC §1 (the patch list), §9 (what a user can read) and §10 (bad input): ordering, the
//! `enabled` switch, and every error of enable, disable, load and unload.

mod common;

use std::sync::LazyLock;

use common::{Harness, assert_log, chain, leak, record, slice};
use livepatch::prelude::*;
use livepatch::{
    DescriptorError, EnableError, ErrorKind, LoadObjectError, ObjectName, ObjectStatus,
    PatchStatus, Reentered, SetEnabledError, StateLabel, StateStatus, UnloadObjectError,
};
use livepatch::{ObjectDesc, PatchDesc, StateDesc, StateHandle};

fn patch(name: &'static str) -> &'static PatchDesc {
    leak(PatchDesc::new(name).objects(slice(vec![record::all(ObjectDesc::program())])))
}

fn names(h: &Harness) -> Vec<&'static str> {
    h.rt.patches().iter().map(|p| p.name).collect()
}

#[test]
fn patches_stack_in_enable_order_and_any_of_them_can_be_disabled() {
    let h = Harness::new();
    for name in ["a", "b", "c"] {
        h.rt.enable(patch(name)).unwrap();
    }
    let orders: Vec<_> =
        h.rt.patches()
            .iter()
            .map(|p| (p.name, p.stack_order))
            .collect();
    assert_eq!(orders, [("a", 1), ("b", 2), ("c", 3)]);
    // Disabling the one in the middle is allowed and moves the later ones down.
    h.rt.disable("b").unwrap();
    let orders: Vec<_> =
        h.rt.patches()
            .iter()
            .map(|p| (p.name, p.stack_order))
            .collect();
    assert_eq!(orders, [("a", 1), ("c", 2)]);
}

#[test]
fn status_shows_the_kernel_sysfs_fields() {
    let h = Harness::new();
    static STATES: [StateDesc; 1] = [StateHandle::<u32>::new(5, 3).desc()];
    let p = leak(
        PatchDesc::new("p")
            .replace(true)
            .states(&STATES)
            .objects(slice(vec![ObjectDesc::program(), ObjectDesc::named("net")])),
    );
    h.rt.enable(p).unwrap();
    assert_eq!(
        h.rt.patch("p"),
        Some(PatchStatus {
            name: "p",
            enabled: true,
            transition: false,
            replace: true,
            forced: false,
            stack_order: 1,
            objects: vec![
                ObjectStatus {
                    name: ObjectName::Program,
                    patched: true
                },
                ObjectStatus {
                    name: ObjectName::Named("net"),
                    patched: false
                },
            ],
            states: vec![StateStatus {
                id: 5,
                version: 3,
                has_data: false
            }],
        })
    );
    assert_eq!(h.rt.transition(), None);
    assert!(h.rt.is_object_loaded("vmlinux"));
    assert!(!h.rt.is_object_loaded("net"));
}

#[test]
fn enabling_a_name_already_on_the_list_fails_before_anything_else() {
    let h = Harness::new();
    // The second descriptor is also invalid and incompatible: the name is checked first.
    static S: [StateDesc; 1] = [StateHandle::<()>::new(1, 2).desc()];
    static BAD: [StateDesc; 1] = [StateHandle::<()>::new(0, 1).desc()];
    let first = leak(PatchDesc::new("p").states(&S));
    let second = leak(PatchDesc::new("p").replace(true).states(&BAD));
    h.rt.enable(first).unwrap();
    let err = h.run(|h| h.rt.enable(second).unwrap_err());
    assert!(matches!(err, EnableError::AlreadyExists("p")));
    assert_eq!(
        err.to_string(),
        "patch 'p' is already enabled; disable it first, or give the new patch another name"
    );
    assert_eq!(h.log.lines(), Vec::<String>::new());
    assert_eq!(names(&h), ["p"]);
    // Enabling the very same descriptor again is refused the same way.
    assert!(matches!(
        h.rt.enable(first),
        Err(EnableError::AlreadyExists("p"))
    ));
}

#[test]
fn a_patch_that_left_the_list_is_enabled_again_as_a_new_instance() {
    let h = Harness::new();
    const DATA: StateHandle<u32> = StateHandle::new(1, 1);
    static STATES: [StateDesc; 1] = [DATA.desc()];
    fn store(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        let mut state = cx
            .state(DATA)
            .ok_or_else(|| CallbackError::new("no state"))?;
        // A fresh instance starts with no data.
        assert!(state.data().is_none());
        state.set(7);
        Ok(())
    }
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(store)];
    static P: PatchDesc = PatchDesc::new("p").states(&STATES).objects(&OBJECTS);
    h.rt.enable(&P).unwrap();
    h.rt.disable("p").unwrap();
    h.rt.enable(&P).unwrap();
    assert!(h.rt.patch("p").unwrap().states[0].has_data);
}

#[test]
fn the_enabled_switch_refuses_its_current_value_and_unknown_patches() {
    let h = Harness::new();
    h.rt.enable(patch("p")).unwrap();
    let err = h.run(|h| h.rt.set_enabled("p", true).unwrap_err());
    assert_eq!(
        err,
        SetEnabledError::Unchanged {
            patch: "p",
            enabled: true
        }
    );
    assert_eq!(
        err.to_string(),
        "patch 'p' is already enabled; nothing to do"
    );
    let err = h.run(|h| h.rt.disable("nope").unwrap_err());
    assert_eq!(
        err,
        SetEnabledError::NotFound {
            name: "nope".into(),
            did_you_mean: None
        }
    );
    assert_eq!(
        err.to_string(),
        "no patch named 'nope' is enabled; see Runtime::patches for the list"
    );
    // A name one typo away from an enabled patch's is suggested.
    h.rt.enable(patch("fix_fee")).unwrap();
    h.log.take();
    let err = h.run(|h| h.rt.disable("fix_fe").unwrap_err());
    assert_eq!(
        err,
        SetEnabledError::NotFound {
            name: "fix_fe".into(),
            did_you_mean: Some("fix_fee")
        }
    );
    assert_eq!(
        err.to_string(),
        "no patch named 'fix_fe' is enabled; did you mean 'fix_fee'?"
    );
    h.rt.disable("fix_fee").unwrap();
    h.log.take();
    assert_eq!(h.log.lines(), Vec::<String>::new());
    // set_enabled(false) is the disable.
    h.rt.set_enabled("p", false).unwrap();
    assert!(h.rt.patches().is_empty());
    assert_eq!(
        h.rt.disable("p"),
        Err(SetEnabledError::NotFound {
            name: "p".into(),
            did_you_mean: None
        })
    );
}

#[test]
fn hand_built_descriptors_with_bad_ids_or_objects_are_refused_at_enable() {
    static ZERO: [StateDesc; 1] = [StateHandle::<()>::new(0, 1).desc()];
    static DUP: [StateDesc; 3] = [
        StateHandle::<()>::new(4, 1).desc(),
        StateHandle::<u8>::new(9, 1).desc(),
        StateHandle::<u16>::new(4, 2).named("SECOND").desc(),
    ];
    static TWICE: [ObjectDesc; 2] = [ObjectDesc::named("net"), ObjectDesc::named("net")];
    static VMLINUX: [ObjectDesc; 1] = [ObjectDesc::named("vmlinux")];
    static NAMELESS: [ObjectDesc; 2] = [ObjectDesc::program(), ObjectDesc::named("")];
    let cases: [(&'static PatchDesc, DescriptorError, &str); 6] = [
        (
            leak(PatchDesc::new("zero").states(&ZERO)),
            DescriptorError::ZeroStateId { patch: "zero" },
            "patch 'zero' declares a state with id 0; state ids must be non-zero",
        ),
        (
            leak(PatchDesc::new("dup").states(&DUP)),
            DescriptorError::DuplicateStateId {
                patch: "dup",
                state: StateLabel {
                    id: 4,
                    name: Some("SECOND"),
                },
            },
            "patch 'dup' declares state SECOND (id 4) twice; give each state its own id",
        ),
        (
            leak(PatchDesc::new("twice").objects(&TWICE)),
            DescriptorError::DuplicateObject {
                patch: "twice",
                object: ObjectName::Named("net"),
            },
            "patch 'twice' lists object 'net' twice; put all of an object's callbacks in one entry",
        ),
        (
            leak(PatchDesc::new("kernel").objects(&VMLINUX)),
            DescriptorError::UnloadableObject {
                patch: "kernel",
                object: "vmlinux",
            },
            "patch 'kernel' has an object entry named 'vmlinux', which can never be loaded: use \
             ObjectDesc::program() for the program itself, and a non-empty name other than \
             'vmlinux' for any other object",
        ),
        (
            leak(PatchDesc::new("nameless").objects(&NAMELESS)),
            DescriptorError::UnloadableObject {
                patch: "nameless",
                object: "",
            },
            "patch 'nameless' has an object entry named '', which can never be loaded: use \
             ObjectDesc::program() for the program itself, and a non-empty name other than \
             'vmlinux' for any other object",
        ),
        (
            leak(PatchDesc::new("")),
            DescriptorError::EmptyName,
            "the patch has an empty name; give it a name that is unique among enabled patches",
        ),
    ];
    for (desc, expected, message) in cases {
        let h = Harness::new();
        let err = h.run(|h| h.rt.enable(desc).unwrap_err());
        match err {
            EnableError::InvalidDescriptor(e) => {
                assert_eq!(e, expected);
                assert_eq!(e.to_string(), message);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(h.rt.patches().is_empty());
        assert_eq!(h.log.lines(), Vec::<String>::new());
    }
}

#[test]
fn object_names_are_checked_on_load_and_unload() {
    let h = Harness::new();
    for bad in ["", "vmlinux"] {
        let err = h.rt.load_object(bad).unwrap_err();
        assert!(matches!(&err, LoadObjectError::InvalidName(n) if n == bad));
        assert_eq!(
            err.to_string(),
            format!("'{bad}' cannot be loaded: name a loadable object, not the program itself")
        );
        assert_eq!(
            h.rt.unload_object(bad),
            Err(UnloadObjectError::InvalidName(bad.into()))
        );
    }
    h.rt.load_object("net").unwrap();
    let err = h.rt.load_object("net").unwrap_err();
    assert!(matches!(&err, LoadObjectError::AlreadyLoaded(n) if n == "net"));
    assert_eq!(
        err.to_string(),
        "object 'net' is already loaded; unload it first"
    );
    h.rt.unload_object("net").unwrap();
    let err = h.rt.unload_object("net").unwrap_err();
    assert_eq!(err, UnloadObjectError::NotLoaded("net".into()));
    assert_eq!(err.to_string(), "object 'net' is not loaded");
}

/// The runtime a re-entering callback calls back into.
static SHARED: LazyLock<Runtime> = LazyLock::new(Runtime::new);

fn reenter(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    static OTHER: PatchDesc = PatchDesc::new("other");
    let enable = SHARED.enable(&OTHER).map_err(CallbackError::from_error);
    let disable = SHARED.disable(cx.patch_name());
    let load = SHARED.load_object("net");
    let unload = SHARED.unload_object("net");
    assert!(matches!(enable, Err(ref e) if e.message() == Reentered::OwnCallback.to_string()));
    assert_eq!(
        disable,
        Err(SetEnabledError::Reentered(Reentered::OwnCallback))
    );
    assert!(matches!(
        load,
        Err(LoadObjectError::Reentered(Reentered::OwnCallback))
    ));
    assert_eq!(
        unload,
        Err(UnloadObjectError::Reentered(Reentered::OwnCallback))
    );
    // Reading works from inside a callback; it shows the list before this enable.
    assert!(SHARED.patches().is_empty());
    enable
}

#[test]
fn calling_the_runtime_from_its_own_callback_is_refused_not_deadlocked() {
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(reenter)];
    static P: PatchDesc = PatchDesc::new("reentrant").objects(&OBJECTS);
    let err = SHARED.enable(&P).unwrap_err();
    assert_eq!(
        chain(&err),
        [
            "pre_patch of patch 'reentrant' failed for object 'vmlinux'",
            "the runtime was called from inside one of its own callbacks; do the work after the \
             callback returns"
        ]
    );
    assert!(SHARED.patches().is_empty());
    // Outside callbacks the same runtime works.
    static PLAIN: PatchDesc = PatchDesc::new("plain");
    SHARED.enable(&PLAIN).unwrap();
    SHARED.disable("plain").unwrap();
}

#[test]
fn every_operation_says_the_kind_of_its_failure_and_its_errors_compare() {
    let h = Harness::new();
    h.rt.enable(patch("p")).unwrap();
    let exists = h.rt.enable(patch("p")).unwrap_err();
    assert_eq!(exists.kind(), ErrorKind::AlreadyExists);
    // Errors clone and compare, the ones carrying a callback's error too.
    assert_eq!(exists.clone(), EnableError::AlreadyExists("p"));
    static REFUSING: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(record::failing_pre_patch)];
    let refused = h.rt.enable(leak(PatchDesc::new("q").objects(&REFUSING)));
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::CallbackFailed);
    assert_eq!(
        refused.clone(),
        EnableError::PrePatchFailed {
            patch: "q",
            object: ObjectName::Program,
            source: CallbackError::new("out of memory"),
        }
    );
    assert_ne!(
        refused,
        EnableError::PrePatchFailed {
            patch: "q",
            object: ObjectName::Program,
            source: CallbackError::new("out of disk"),
        }
    );
    let kinds = [
        h.rt.disable("nope").unwrap_err().kind(),
        h.rt.set_enabled("p", true).unwrap_err().kind(),
        h.rt.load_object("").unwrap_err().kind(),
        h.rt.unload_object("vmlinux").unwrap_err().kind(),
        h.rt.unload_object("net").unwrap_err().kind(),
        h.rt.force().unwrap_err().kind(),
    ];
    assert_eq!(
        kinds,
        [
            ErrorKind::NotFound,
            ErrorKind::Unchanged,
            ErrorKind::InvalidName,
            ErrorKind::InvalidName,
            ErrorKind::NotLoaded,
            ErrorKind::NoTransition,
        ]
    );
    h.rt.load_object("net").unwrap();
    assert_eq!(
        h.rt.load_object("net").unwrap_err().kind(),
        ErrorKind::AlreadyLoaded
    );
}

#[test]
fn the_global_runtime_is_one_instance() {
    static ONE: PatchDesc = PatchDesc::new("global_one");
    Runtime::global().enable(&ONE).unwrap();
    // Another thread's `global()` sees the patch this thread enabled through its own.
    let seen = std::thread::spawn(|| Runtime::global().patch("global_one").is_some());
    assert!(seen.join().unwrap());
    Runtime::global().disable("global_one").unwrap();
    assert!(Runtime::global().patch("global_one").is_none());
}

#[test]
fn the_facade_log_shows_events_of_the_calling_thread_only() {
    // Two harnesses on two threads never see each other's lines.
    let a = std::thread::spawn(|| {
        let h = Harness::new();
        h.run(|h| h.rt.enable(patch("a")).unwrap());
        h.log.lines()
    });
    let b = std::thread::spawn(|| {
        let h = Harness::new();
        h.run(|h| h.rt.enable(patch("b")).unwrap());
        h.log.lines()
    });
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_log(
        &a,
        "
        livepatch: enabling patch 'a'
        livepatch: 'a': initializing patching transition
        test: a: pre_patch: vmlinux
        livepatch: 'a': starting patching transition
        livepatch: 'a': completing patching transition
        test: a: post_patch: vmlinux
        livepatch: 'a': patching complete
        ",
    );
    assert_eq!(b.len(), a.len());
    assert!(b.iter().all(|l| !l.contains("'a'")));
}
