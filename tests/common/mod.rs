//! Helpers shared by the integration tests: a kernel-log capture that also records the commands a
//! test runs, and drop counters for state data.

#![allow(dead_code)]

use std::cell::Cell;

use livepatch::{Dmesg, PatchDesc, Runtime};

/// A runtime with its own kernel log, driven like the kernel selftests drive theirs.
pub struct Harness {
    pub rt: Runtime,
    pub log: Dmesg,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            rt: Runtime::new(),
            log: Dmesg::new(),
        }
    }

    /// Runs `f` with this harness's log capturing every event of the current thread.
    pub fn run<R>(&self, f: impl FnOnce(&Self) -> R) -> R {
        self.log.capture(|| f(self))
    }

    /// `modprobe`: enables a patch that must enable.
    pub fn load_lp(&self, patch: &'static PatchDesc) {
        self.log.push(format!("% modprobe {}", patch.name()));
        self.rt
            .enable(patch)
            .unwrap_or_else(|e| panic!("enabling {}: {e}", patch.name()));
    }

    /// `modprobe` of a patch that the runtime must refuse as incompatible.
    pub fn load_failing_mod(&self, patch: &'static PatchDesc) {
        self.log.push(format!("% modprobe {}", patch.name()));
        match self.rt.enable(patch) {
            Err(livepatch::EnableError::Incompatible { .. }) => self.log.push(format!(
                "modprobe: ERROR: could not insert '{}': Invalid argument",
                patch.name()
            )),
            other => panic!("expected an incompatibility error, got {other:?}"),
        }
    }

    /// `echo 0 > .../enabled`.
    pub fn disable_lp(&self, name: &str) {
        self.log
            .push(format!("% echo 0 > /sys/kernel/livepatch/{name}/enabled"));
        self.rt
            .disable(name)
            .unwrap_or_else(|e| panic!("disabling {name}: {e}"));
    }

    /// `rmmod`: the patch must have left the list.
    pub fn unload_lp(&self, name: &str) {
        self.log.push(format!("% rmmod {name}"));
        assert!(
            self.rt.patch(name).is_none(),
            "{name} is still on the list: {:?}",
            self.rt.patches()
        );
    }
}

/// Compares a captured log with the expected text, line by line, showing both on failure.
#[track_caller]
pub fn assert_log(actual: &[String], expected: &str) {
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    if actual != expected {
        panic!(
            "log differs\n--- expected\n{}\n--- actual\n{}\n",
            expected.join("\n"),
            actual.join("\n")
        );
    }
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
