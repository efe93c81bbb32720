//! SPEC §3 and §4: which callbacks run, in which order, with which messages, for every operation
//! that needs no threads inside patched functions.

mod common;

use common::{Harness, assert_log, chain, leak, record, slice};
use livepatch::prelude::*;
use livepatch::{EnableError, LoadObjectError, ObjectName};
use livepatch::{ObjectDesc, PatchDesc, StateHandle};

fn program() -> ObjectDesc {
    record::all(ObjectDesc::program())
}

fn named(name: &'static str) -> ObjectDesc {
    record::all(ObjectDesc::named(name))
}

fn patch(name: &'static str, objects: Vec<ObjectDesc>) -> &'static PatchDesc {
    leak(PatchDesc::new(name).objects(slice(objects)))
}

#[test]
fn enable_runs_pre_patch_on_loaded_objects_in_order_then_post_patch_at_completion() {
    let h = Harness::new();
    let p = patch("p", vec![named("net"), program(), named("fs")]);
    h.run(|h| {
        h.rt.load_object("fs").unwrap();
        h.rt.enable(p).unwrap();
    });
    // `net` is not loaded: none of its callbacks run.
    assert_log(
        &h.log.lines(),
        "
        livepatch: enabling patch 'p'
        livepatch: 'p': initializing patching transition
        test: p: pre_patch: vmlinux
        test: p: pre_patch: fs
        livepatch: 'p': starting patching transition
        livepatch: 'p': completing patching transition
        test: p: post_patch: vmlinux
        test: p: post_patch: fs
        livepatch: 'p': patching complete
        ",
    );
    let status = h.rt.patch("p").unwrap();
    let patched: Vec<_> = status.objects.iter().map(|o| (o.name, o.patched)).collect();
    assert_eq!(
        patched,
        [
            (ObjectName::Named("net"), false),
            (ObjectName::Program, true),
            (ObjectName::Named("fs"), true)
        ]
    );
}

#[test]
fn failing_pre_patch_of_object_k_cancels_and_unpatches_objects_before_it() {
    let h = Harness::new();
    let p = patch(
        "p",
        vec![
            program(),
            named("a"),
            named("b").pre_patch(record::failing_pre_patch),
            named("c"),
        ],
    );
    let err = h.run(|h| {
        for o in ["a", "b", "c"] {
            h.rt.load_object(o).unwrap();
        }
        h.rt.enable(p).unwrap_err()
    });
    match &err {
        EnableError::PrePatchFailed {
            patch,
            object,
            source,
        } => {
            assert_eq!(*patch, "p");
            assert_eq!(*object, ObjectName::Named("b"));
            assert_eq!(source.message(), "out of memory");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        chain(&err),
        [
            "pre_patch of patch 'p' failed for object 'b'",
            "out of memory"
        ]
    );
    assert_log(
        &h.log.lines(),
        "
        livepatch: enabling patch 'p'
        livepatch: 'p': initializing patching transition
        test: p: pre_patch: vmlinux
        test: p: pre_patch: a
        test: p: pre_patch: b (fails)
        livepatch: pre-patch callback failed for object 'b'
        livepatch: failed to enable patch 'p'
        livepatch: 'p': canceling patching transition, going to unpatch
        livepatch: 'p': completing unpatching transition
        test: p: post_unpatch: vmlinux (Cancelled)
        test: p: post_unpatch: a (Cancelled)
        livepatch: 'p': unpatching complete
        ",
    );
    assert!(h.rt.patches().is_empty());
    assert!(h.rt.transition().is_none());
    // Nothing is left behind: the same descriptor can be tried again.
    assert!(matches!(
        h.rt.enable(p),
        Err(EnableError::PrePatchFailed { .. })
    ));
}

/// A callback's own error with a cause of its own.
#[derive(Debug)]
struct RateTableError(std::io::Error);

impl std::fmt::Display for RateTableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the rate table could not be allocated")
    }
}

impl std::error::Error for RateTableError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn pre_patch_with_a_cause(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    let io = std::io::Error::other("cannot allocate 4096 bytes");
    Err(CallbackError::from_error(RateTableError(io)))
}

#[test]
fn a_failed_enable_names_each_cause_of_the_callback_error_once() {
    let h = Harness::new();
    let p = patch("p", vec![program().pre_patch(pre_patch_with_a_cause)]);
    let err = h.rt.enable(p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pre_patch of patch 'p' failed for object 'vmlinux'"
    );
    assert_eq!(
        chain(&err),
        [
            "pre_patch of patch 'p' failed for object 'vmlinux'",
            "the rate table could not be allocated",
            "cannot allocate 4096 bytes",
        ]
    );
    assert_eq!(
        livepatch::Chain(&err).to_string(),
        "pre_patch of patch 'p' failed for object 'vmlinux': the rate table could not be \
         allocated: cannot allocate 4096 bytes"
    );
    let EnableError::PrePatchFailed { source, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert!(source.get_ref().is_some_and(|e| e.is::<RateTableError>()));
}

/// The runtime's events with their structured fields and the span they are in, as
/// `span: message {name=value, ...}`.
#[derive(Clone, Default)]
struct Fields(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S> tracing_subscriber::Layer<S> for Fields
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, cx: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Visit(String, Vec<String>);
        impl tracing::field::Visit for Visit {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.0 = format!("{value:?}"),
                    name => self.1.push(format!("{name}={value:?}")),
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "message" => self.0 = value.to_owned(),
                    name => self.1.push(format!("{name}={value}")),
                }
            }
        }
        if event.metadata().target() == livepatch::TARGET {
            let mut visit = Visit::default();
            event.record(&mut visit);
            let span = cx.event_span(event).map_or("-", |span| span.name());
            let line = format!("{span}: {} {{{}}}", visit.0, visit.1.join(", "));
            self.0.lock().unwrap().push(line);
        }
    }
}

#[test]
fn events_carry_the_patch_the_object_the_direction_and_the_callback_s_error_in_a_span() {
    use tracing_subscriber::layer::SubscriberExt;
    let fields = Fields::default();
    let subscriber = tracing_subscriber::registry().with(fields.clone());
    let p = patch("p", vec![program().pre_patch(pre_patch_with_a_cause)]);
    tracing::subscriber::with_default(subscriber, || {
        let rt = Runtime::new();
        rt.enable(p).unwrap_err();
    });
    let lines = fields.0.lock().unwrap().clone();
    assert_eq!(
        &lines[..3],
        [
            "enable: enabling patch 'p' {patch=p}",
            // The transition's own span: a root of its own, since a transition outlives the
            // operation that started it.
            "transition: 'p': initializing patching transition {patch=p, direction=patching}",
            "enable: pre-patch callback failed for object 'vmlinux' {patch=p, object=vmlinux, \
             error=the rate table could not be allocated: cannot allocate 4096 bytes}",
        ]
    );
}

fn direction_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    tracing::info!(target: "test", "pre_patch {}: {:?}", cx.object(), cx.transition());
    Ok(())
}

fn direction_post_patch(cx: &mut PostPatch<'_>) {
    tracing::info!(target: "test", "post_patch {}: {:?}", cx.object(), cx.transition());
}

fn direction_pre_unpatch(cx: &mut PreUnpatch<'_>) {
    tracing::info!(target: "test", "pre_unpatch {}: {:?}", cx.object(), cx.transition());
}

fn direction_post_unpatch(cx: &mut PostUnpatch<'_>) {
    tracing::info!(target: "test", "post_unpatch {}: {:?}", cx.object(), cx.transition());
}

#[test]
fn a_callback_knows_the_direction_of_the_transition_it_runs_in() {
    let h = Harness::new();
    let all = |o: ObjectDesc| {
        o.pre_patch(direction_pre_patch)
            .post_patch(direction_post_patch)
            .pre_unpatch(direction_pre_unpatch)
            .post_unpatch(direction_post_unpatch)
    };
    let p = patch("p", vec![all(program()), all(named("net"))]);
    h.run(|h| {
        h.rt.enable(p).unwrap();
        // Outside any transition.
        h.rt.load_object("net").unwrap();
        h.rt.unload_object("net").unwrap();
        h.rt.disable("p").unwrap();
    });
    assert_log(
        &common::test_lines(&h.log),
        "
        test: pre_patch vmlinux: Some(Patched)
        test: post_patch vmlinux: Some(Patched)
        test: pre_patch net: None
        test: post_patch net: None
        test: pre_unpatch net: None
        test: post_unpatch net: None
        test: pre_unpatch vmlinux: Some(Unpatched)
        test: post_unpatch vmlinux: Some(Unpatched)
        ",
    );
}

fn panicking_pre_patch(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    panic!("allocation invariant broken")
}

#[test]
fn panicking_pre_patch_cancels_like_a_failing_one() {
    let h = Harness::new();
    let p = patch(
        "p",
        vec![named("a"), program().pre_patch(panicking_pre_patch)],
    );
    let err = h.run(|h| {
        h.rt.load_object("a").unwrap();
        h.rt.enable(p).unwrap_err()
    });
    assert_eq!(
        chain(&err),
        [
            "pre_patch of patch 'p' failed for object 'vmlinux'",
            "pre_patch callback panicked: allocation invariant broken"
        ]
    );
    assert_log(
        &h.log.lines(),
        "
        livepatch: enabling patch 'p'
        livepatch: 'p': initializing patching transition
        test: p: pre_patch: a
        livepatch: pre-patch callback failed for object 'vmlinux'
        livepatch: failed to enable patch 'p'
        livepatch: 'p': canceling patching transition, going to unpatch
        livepatch: 'p': completing unpatching transition
        test: p: post_unpatch: a (Cancelled)
        livepatch: 'p': unpatching complete
        ",
    );
    // The runtime is still usable.
    let q = patch("q", vec![program()]);
    h.rt.enable(q).unwrap();
    assert_eq!(h.rt.patches().len(), 1);
}

fn panicking_post_patch(_: &mut PostPatch<'_>) {
    panic!("post_patch bug")
}

fn panicking_pre_unpatch(_: &mut PreUnpatch<'_>) {
    panic!("pre_unpatch bug")
}

fn panicking_post_unpatch(_: &mut PostUnpatch<'_>) {
    panic!("post_unpatch bug")
}

#[test]
fn panics_in_other_callbacks_are_logged_and_contained() {
    let h = Harness::new();
    let p = patch(
        "p",
        vec![
            ObjectDesc::program()
                .post_patch(panicking_post_patch)
                .pre_unpatch(panicking_pre_unpatch)
                .post_unpatch(panicking_post_unpatch),
            named("a"),
        ],
    );
    h.run(|h| {
        h.rt.load_object("a").unwrap();
        h.rt.enable(p).unwrap();
        h.rt.disable("p").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: enabling patch 'p'
        livepatch: 'p': initializing patching transition
        test: p: pre_patch: a
        livepatch: 'p': starting patching transition
        livepatch: 'p': completing patching transition
        livepatch: 'p': post_patch callback for object 'vmlinux' panicked: post_patch bug
        test: p: post_patch: a
        livepatch: 'p': patching complete
        livepatch: 'p': initializing unpatching transition
        livepatch: 'p': pre_unpatch callback for object 'vmlinux' panicked: pre_unpatch bug
        test: p: pre_unpatch: a
        livepatch: 'p': starting unpatching transition
        livepatch: 'p': completing unpatching transition
        livepatch: 'p': post_unpatch callback for object 'vmlinux' panicked: post_unpatch bug
        test: p: post_unpatch: a (Disabled)
        livepatch: 'p': unpatching complete
        ",
    );
    assert!(h.rt.patches().is_empty());
}

#[test]
fn disable_runs_pre_unpatch_on_patched_objects_and_post_unpatch_at_completion() {
    let h = Harness::new();
    let p = patch("p", vec![program(), named("a"), named("b")]);
    h.run(|h| {
        h.rt.load_object("a").unwrap();
        h.rt.enable(p).unwrap();
        h.log.take();
        h.rt.disable("p").unwrap();
    });
    // `b` was never loaded: it is neither patched nor called.
    assert_log(
        &h.log.lines(),
        "
        livepatch: 'p': initializing unpatching transition
        test: p: pre_unpatch: vmlinux
        test: p: pre_unpatch: a
        livepatch: 'p': starting unpatching transition
        livepatch: 'p': completing unpatching transition
        test: p: post_unpatch: vmlinux (Disabled)
        test: p: post_unpatch: a (Disabled)
        livepatch: 'p': unpatching complete
        ",
    );
    assert!(h.rt.patch("p").is_none());
}

#[test]
fn post_unpatch_needs_a_successful_pre_patch_but_not_a_pre_patch_callback() {
    // An object without pre_patch still gets post_unpatch (the kernel sets the flag when there is
    // no pre_patch to fail).
    let h = Harness::new();
    let p = patch(
        "p",
        vec![ObjectDesc::program().post_unpatch(record::post_unpatch)],
    );
    h.run(|h| {
        h.rt.enable(p).unwrap();
        h.log.take();
        h.rt.disable("p").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: 'p': initializing unpatching transition
        livepatch: 'p': starting unpatching transition
        livepatch: 'p': completing unpatching transition
        test: p: post_unpatch: vmlinux (Disabled)
        livepatch: 'p': unpatching complete
        ",
    );
}

#[test]
fn replace_runs_only_the_new_patch_callbacks_and_replaced_patches_leave_after_post_patch() {
    let h = Harness::new();
    let old1 = leak(
        PatchDesc::new("old1")
            .states(slice(vec![S1.desc()]))
            .objects(slice(vec![program()])),
    );
    let old2 = leak(
        PatchDesc::new("old2")
            .states(slice(vec![S2.desc()]))
            .objects(slice(vec![program(), named("a")])),
    );
    let new = leak(
        PatchDesc::new("new")
            .replace(true)
            .states(slice(vec![S1.desc(), S2.desc()]))
            .objects(slice(vec![program().post_patch(list_seen_by_post_patch)])),
    );
    h.run(|h| {
        h.rt.load_object("a").unwrap();
        h.rt.enable(old1).unwrap();
        h.rt.enable(old2).unwrap();
        h.log.take();
        h.rt.enable(new).unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: enabling patch 'new'
        livepatch: 'new': initializing patching transition
        test: new: pre_patch: vmlinux
        livepatch: 'new': starting patching transition
        livepatch: 'new': completing patching transition
        test: new: post_patch sees state 1 of old1 and state 2 of old2
        livepatch: 'new': patching complete
        ",
    );
    let names: Vec<_> = h.rt.patches().iter().map(|p| p.name).collect();
    assert_eq!(names, ["new"]);
    assert_eq!(h.rt.patch("new").unwrap().stack_order, 1);
    // The replaced patches got no callbacks: disabling the new patch runs only its own.
    h.run(|h| {
        h.log.take();
        h.rt.disable("new").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: 'new': initializing unpatching transition
        test: new: pre_unpatch: vmlinux
        livepatch: 'new': starting unpatching transition
        livepatch: 'new': completing unpatching transition
        test: new: post_unpatch: vmlinux (Disabled)
        livepatch: 'new': unpatching complete
        ",
    );
}

const S1: StateHandle<()> = StateHandle::new(1, 1);
const S2: StateHandle<()> = StateHandle::new(2, 1);

/// A `post_patch` that shows, through `prev_state`, which patches still stand before it.
fn list_seen_by_post_patch(cx: &mut PostPatch<'_>) {
    let owner = |h| cx.prev_state(h).map(|s| s.patch_name()).unwrap_or("nobody");
    tracing::info!(
        target: "test",
        "{}: post_patch sees state 1 of {} and state 2 of {}",
        cx.patch_name(),
        owner(S1),
        owner(S2)
    );
}

#[test]
fn loading_an_object_applies_every_patch_that_has_it_in_list_order() {
    let h = Harness::new();
    let p1 = patch("p1", vec![program(), named("net")]);
    let p2 = patch("p2", vec![named("net")]);
    let p3 = patch("p3", vec![program()]);
    h.run(|h| {
        h.rt.enable(p1).unwrap();
        h.rt.enable(p2).unwrap();
        h.rt.enable(p3).unwrap();
        h.log.take();
        h.rt.load_object("net").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: applying patch 'p1' to loading module 'net'
        test: p1: pre_patch: net
        test: p1: post_patch: net
        livepatch: applying patch 'p2' to loading module 'net'
        test: p2: pre_patch: net
        test: p2: post_patch: net
        ",
    );
    assert!(h.rt.is_object_loaded("net"));
    assert_eq!(h.rt.loaded_objects(), ["net"]);
    for name in ["p1", "p2"] {
        let status = h.rt.patch(name).unwrap();
        assert!(
            status
                .objects
                .iter()
                .any(|o| o.name == ObjectName::Named("net") && o.patched)
        );
    }
}

#[test]
fn a_failing_pre_patch_refuses_the_load_and_reverts_patches_already_applied() {
    let h = Harness::new();
    let p1 = patch("p1", vec![named("net")]);
    let p2 = patch(
        "p2",
        vec![named("net").pre_patch(record::failing_pre_patch)],
    );
    let p3 = patch("p3", vec![named("net")]);
    let err = h.run(|h| {
        h.rt.enable(p1).unwrap();
        h.rt.enable(p2).unwrap();
        h.rt.enable(p3).unwrap();
        h.log.take();
        h.rt.load_object("net").unwrap_err()
    });
    assert!(matches!(
        &err,
        LoadObjectError::Refused { patch: "p2", object, .. } if object == "net"
    ));
    assert_eq!(
        chain(&err),
        ["patch 'p2' refused object 'net'", "out of memory"]
    );
    assert_log(
        &h.log.lines(),
        "
        livepatch: applying patch 'p1' to loading module 'net'
        test: p1: pre_patch: net
        test: p1: post_patch: net
        livepatch: applying patch 'p2' to loading module 'net'
        test: p2: pre_patch: net (fails)
        livepatch: pre-patch callback failed for object 'net'
        livepatch: patch 'p2' failed for module 'net', refusing to load module 'net'
        test: p1: pre_unpatch: net
        livepatch: reverting patch 'p1' on unloading module 'net'
        test: p1: post_unpatch: net (LoadRefused)
        ",
    );
    assert!(!h.rt.is_object_loaded("net"));
    for status in h.rt.patches() {
        assert!(status.objects.iter().all(|o| !o.patched), "{status:?}");
    }
    // Disabling the patches now runs no callback for the object that never loaded.
    h.run(|h| {
        h.log.take();
        h.rt.disable("p1").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: 'p1': initializing unpatching transition
        livepatch: 'p1': starting unpatching transition
        livepatch: 'p1': completing unpatching transition
        livepatch: 'p1': unpatching complete
        ",
    );
}

#[test]
fn unloading_an_object_reverts_every_patch_on_it_in_list_order() {
    let h = Harness::new();
    let p1 = patch("p1", vec![program(), named("net")]);
    let p2 = patch("p2", vec![named("net")]);
    h.run(|h| {
        h.rt.load_object("net").unwrap();
        h.rt.enable(p1).unwrap();
        h.rt.enable(p2).unwrap();
        h.log.take();
        h.rt.unload_object("net").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        test: p1: pre_unpatch: net
        livepatch: reverting patch 'p1' on unloading module 'net'
        test: p1: post_unpatch: net (ObjectUnloaded)
        test: p2: pre_unpatch: net
        livepatch: reverting patch 'p2' on unloading module 'net'
        test: p2: post_unpatch: net (ObjectUnloaded)
        ",
    );
    assert!(!h.rt.is_object_loaded("net"));
    let status = h.rt.patch("p1").unwrap();
    assert_eq!(
        status.objects.iter().map(|o| o.patched).collect::<Vec<_>>(),
        [true, false]
    );
    // Disabling p1 afterwards touches only the program.
    h.run(|h| {
        h.log.take();
        h.rt.disable("p1").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: 'p1': initializing unpatching transition
        test: p1: pre_unpatch: vmlinux
        livepatch: 'p1': starting unpatching transition
        livepatch: 'p1': completing unpatching transition
        test: p1: post_unpatch: vmlinux (Disabled)
        livepatch: 'p1': unpatching complete
        ",
    );
}

#[test]
fn an_object_can_load_again_after_it_unloaded() {
    let h = Harness::new();
    let p = patch("p", vec![named("net")]);
    h.run(|h| {
        h.rt.enable(p).unwrap();
        h.rt.load_object("net").unwrap();
        h.rt.unload_object("net").unwrap();
        h.log.take();
        h.rt.load_object("net").unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: applying patch 'p' to loading module 'net'
        test: p: pre_patch: net
        test: p: post_patch: net
        ",
    );
}
