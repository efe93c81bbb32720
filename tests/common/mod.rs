//! Helpers shared by the integration tests: a kernel-log capture that also records the commands a
//! test runs, and drop counters for state data.

#![allow(dead_code)]

use std::cell::Cell;

use livepatch::PatchDesc;

pub mod gate;
pub mod list_ops;

#[path = "../../examples/kernel_state/selftest.rs"]
pub mod selftest;

/// A runtime with its own kernel log, driven like the kernel selftests drive theirs.
#[allow(unused_imports)]
pub use selftest::SelfTest as Harness;

/// Compares a captured log with the expected text, line by line, showing both on failure.
#[track_caller]
pub fn assert_log(actual: &[String], expected: &str) {
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    if actual != expected {
        panic!(
            "log differs\n--- expected\n{}\n--- actual\n{}\n",
            expected.join("\n"),
            actual.join("\n")
        );
    }
}

/// The message of `err` and of each of its causes, in order: each cause should appear once.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(err), |e| e.source())
        .map(ToString::to_string)
        .collect()
}

/// The lines a log captured under the target `test`: what the tests' own callbacks said.
pub fn test_lines(log: &livepatch::Dmesg) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.starts_with("test:"))
        .collect()
}

thread_local! {
    static CREATED: Cell<usize> = const { Cell::new(0) };
    static DROPPED: Cell<usize> = const { Cell::new(0) };
}

/// A value that counts its creations and drops on the current thread (each test runs on its own
/// thread, and the runtime drops state data on the thread that calls it).
#[derive(Debug)]
pub struct Counted;

impl Counted {
    pub fn new() -> Self {
        CREATED.set(CREATED.get() + 1);
        Counted
    }

    /// (created, dropped) so far on this thread.
    pub fn counts() -> (usize, usize) {
        (CREATED.get(), DROPPED.get())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.set(DROPPED.get() + 1);
    }
}

/// Leaks a descriptor built at run time, as descriptors live for the whole program.
pub fn leak(desc: PatchDesc) -> &'static PatchDesc {
    Box::leak(Box::new(desc))
}

/// Leaks a list (of objects or states) for a descriptor.
pub fn slice<T>(items: Vec<T>) -> &'static [T] {
    items.leak()
}

/// Callbacks that log what runs, under the target `test`, as `patch: callback: object`.
pub mod record {
    use livepatch::ObjectDesc;
    use livepatch::prelude::*;

    pub fn pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tracing::info!(target: "test", "{}: pre_patch: {}", cx.patch_name(), cx.object());
        Ok(())
    }

    /// A `pre_patch` that refuses, as one that cannot allocate.
    pub fn failing_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tracing::info!(target: "test", "{}: pre_patch: {} (fails)", cx.patch_name(), cx.object());
        Err(CallbackError::new("out of memory"))
    }

    pub fn post_patch(cx: &mut PostPatch<'_>) {
        tracing::info!(target: "test", "{}: post_patch: {}", cx.patch_name(), cx.object());
    }

    pub fn pre_unpatch(cx: &mut PreUnpatch<'_>) {
        tracing::info!(target: "test", "{}: pre_unpatch: {}", cx.patch_name(), cx.object());
    }

    pub fn post_unpatch(cx: &mut PostUnpatch<'_>) {
        tracing::info!(
            target: "test",
            "{}: post_unpatch: {} ({:?})",
            cx.patch_name(),
            cx.object(),
            cx.reason()
        );
    }

    /// An object whose four callbacks all log.
    pub const fn all(object: ObjectDesc) -> ObjectDesc {
        object
            .pre_patch(pre_patch)
            .post_patch(post_patch)
            .pre_unpatch(pre_unpatch)
            .post_unpatch(post_unpatch)
    }
}
