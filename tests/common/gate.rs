//! A gate that a thread can be parked at inside a patchable function, so tests can hold a
//! transition open for as long as they need, without sleeping.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use livepatch::Dmesg;

/// How long a test waits for a condition before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct GateState {
    inside: usize,
    released: bool,
}

/// Where functions under test park.
#[derive(Default)]
pub struct Gate {
    parks: bool,
    state: Mutex<GateState>,
    changed: Condvar,
}

impl Gate {
    /// A gate that lets every visitor through.
    pub fn open() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// A gate that holds every visitor until [`Gate::release`].
    pub fn closed() -> Arc<Gate> {
        Arc::new(Gate {
            parks: true,
            ..Gate::default()
        })
    }

    /// The kernel selftests' `sleep_secs` for a module working behind this gate: 10 when it holds
    /// its visitors, 0 when it lets them through.
    pub fn sleep_secs(&self) -> u32 {
        if self.parks { 10 } else { 0 }
    }

    /// Called from inside a function under test: parks there if the gate is closed.
    pub fn visit(&self) {
        if !self.parks {
            return;
        }
        let mut state = self.state.lock().unwrap();
        state.inside += 1;
        self.changed.notify_all();
        let (mut state, timeout) = self
            .changed
            .wait_timeout_while(state, PATIENCE, |s| !s.released)
            .unwrap();
        assert!(!timeout.timed_out(), "a parked thread was never released");
        state.inside -= 1;
    }

    /// Waits until `n` threads are parked inside.
    pub fn wait_inside(&self, n: usize) {
        let state = self.state.lock().unwrap();
        let (_state, timeout) = self
            .changed
            .wait_timeout_while(state, PATIENCE, |s| s.inside < n)
            .unwrap();
        assert!(!timeout.timed_out(), "threads never reached the gate");
    }

    /// Lets every parked thread go, and every later visitor through.
    pub fn release(&self) {
        self.state.lock().unwrap().released = true;
        self.changed.notify_all();
    }
}

/// Runs `f` on a new thread whose events go to `log`.
pub fn spawn_logged<R: Send + 'static>(
    log: &Dmesg,
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<R> {
    let subscriber = log.subscriber();
    std::thread::spawn(move || tracing::subscriber::with_default(subscriber, f))
}

/// Waits for a condition that another thread makes true.
#[track_caller]
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::yield_now();
    }
}
