//! SPEC §10: user code that misbehaves never leaves the runtime half-done. A panic payload whose
//! own `Drop` panics, a `tracing` subscriber that panics while the runtime logs, and state data
//! whose `Drop` panics while the runtime is dropped are all contained, and every operation after
//! them works.

mod common;

use common::{Harness, chain};
use livepatch::prelude::*;
use livepatch::{CallbackError, EnableError, ObjectName};
use livepatch::{ObjectDesc, PatchDesc};

/// A panic payload whose own `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's drop");
    }
}

fn bomb_pre_patch(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    std::panic::panic_any(Bomb)
}

fn bomb_post_patch(_: &mut PostPatch<'_>) {
    std::panic::panic_any(Bomb)
}

/// Enables and disables `plain`, to show the runtime still works.
fn still_works(rt: &Runtime) {
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()];
    static PLAIN: PatchDesc = PatchDesc::new("plain").objects(&OBJECTS);
    rt.enable(&PLAIN).unwrap();
    assert_eq!(
        rt.patches().iter().map(|p| p.name).collect::<Vec<_>>(),
        ["plain"]
    );
    rt.disable("plain").unwrap();
    assert!(rt.patches().is_empty());
}

#[test]
fn a_pre_patch_panic_whose_payload_panics_on_drop_is_a_failed_pre_patch() {
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(bomb_pre_patch)];
    static BOMB: PatchDesc = PatchDesc::new("bomb").objects(&OBJECTS);
    let h = Harness::new();
    for _ in 0..2 {
        let err = h.run(|h| h.rt.enable(&BOMB)).unwrap_err();
        assert!(matches!(
            err,
            EnableError::PrePatchFailed {
                patch: "bomb",
                object: ObjectName::Program,
                ..
            }
        ));
        assert_eq!(
            chain(&err),
            [
                "pre_patch of patch 'bomb' failed for object 'vmlinux'",
                "pre_patch callback panicked: a panic payload that is not a string"
            ]
        );
        assert!(h.rt.patches().is_empty());
        assert!(h.rt.transition().is_none());
        assert_eq!(
            h.rt.wait_transition(std::time::Duration::from_secs(5)),
            Ok(())
        );
        assert!(h.rt.patches().is_empty());
    }
    still_works(&h.rt);
}

#[test]
fn a_post_patch_panic_whose_payload_panics_on_drop_is_logged_and_contained() {
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(bomb_post_patch)];
    static BOMB: PatchDesc = PatchDesc::new("bomb").objects(&OBJECTS);
    let h = Harness::new();
    h.run(|h| h.rt.enable(&BOMB)).unwrap();
    let status = h.rt.patch("bomb").unwrap();
    assert!(status.enabled && !status.transition);
    assert!(h.rt.transition().is_none());
    assert!(
        h.log.lines().contains(
            &"livepatch: 'bomb': post_patch callback for object 'vmlinux' panicked: a panic \
          payload that is not a string"
                .to_owned()
        )
    );
    h.rt.disable("bomb").unwrap();
    assert!(h.rt.patches().is_empty());
    still_works(&h.rt);
}

/// A subscriber that panics on every event and, as told, when a span is created, or when one is
/// entered, left or closed.
struct PanickingSubscriber {
    on_new_span: bool,
    on_enter_exit_close: bool,
}

impl tracing::Subscriber for PanickingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        if self.on_new_span {
            panic!("the subscriber broke on span {}", span.metadata().name());
        }
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        panic!("the subscriber broke on {}", event.metadata().name());
    }
    fn enter(&self, _: &tracing::span::Id) {
        if self.on_enter_exit_close {
            panic!("the subscriber broke entering a span");
        }
    }
    fn exit(&self, _: &tracing::span::Id) {
        if self.on_enter_exit_close {
            panic!("the subscriber broke leaving a span");
        }
    }
    fn try_close(&self, _: tracing::span::Id) -> bool {
        if self.on_enter_exit_close {
            panic!("the subscriber broke closing a span");
        }
        true
    }
}

#[test]
fn a_subscriber_that_panics_while_the_runtime_logs_changes_nothing() {
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(bomb_post_patch)];
    static LOGGED: PatchDesc = PatchDesc::new("logged").objects(&OBJECTS);
    // Events only; then also every span's creation; then its entering, leaving and closing.
    for (on_new_span, on_enter_exit_close) in [(false, false), (true, false), (false, true)] {
        let rt = Runtime::new();
        let subscriber = PanickingSubscriber {
            on_new_span,
            on_enter_exit_close,
        };
        tracing::subscriber::with_default(subscriber, || {
            rt.enable(&LOGGED).unwrap();
            let status = rt.patch("logged").unwrap();
            assert!(status.enabled && !status.transition);
            assert!(rt.transition().is_none());
            rt.disable("logged").unwrap();
            rt.wait_transition(std::time::Duration::from_secs(10))
                .unwrap();
            assert!(rt.patches().is_empty());
            still_works(&rt);
        });
    }
}
