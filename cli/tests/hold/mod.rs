//! A program with one patchable function, `app::hold`, a thread named `worker` parked inside it,
//! and the patch `hold` that replaces it offered on a control socket: enabling `hold` starts a
//! transition that waits for the worker until it is released. One per test binary: the worker's
//! gate is a static.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use livepatch_control::ControlServer;
use livepatch_runtime::{
    FuncDesc, FuncSlot, ObjectDesc, ObjectName, PatchDesc, Replacement, Runtime,
};

static INSIDE: AtomicBool = AtomicBool::new(false);
static OPEN: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

fn original(x: u64) -> u64 {
    INSIDE.store(true, Ordering::SeqCst);
    let (open, opened) = &OPEN;
    let mut open = open.lock().unwrap();
    while !*open {
        open = opened.wait(open).unwrap();
    }
    x
}

fn fixed(x: u64) -> u64 {
    x + 1
}

static SLOT: FuncSlot<fn(u64) -> u64> = FuncSlot::new("app::hold", ObjectName::Program, original);
static REPLACEMENT: Replacement<fn(u64) -> u64> = Replacement::new(&SLOT, fixed);
static FUNCS: [FuncDesc; 1] = [FuncDesc::new(&REPLACEMENT)];
static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&FUNCS)];
/// The patch that replaces `app::hold`.
pub static HOLD: PatchDesc = PatchDesc::new("hold").objects(&OBJECTS);

/// The worker, parked inside `app::hold`.
pub struct Worker(JoinHandle<u64>);

impl Worker {
    /// Lets the worker leave `app::hold`; returns what the call returned (the original's `7`).
    pub fn release(self) -> u64 {
        let (open, opened) = &OPEN;
        *open.lock().unwrap() = true;
        opened.notify_all();
        self.0.join().unwrap()
    }
}

/// A server with `HOLD` offered, at a socket in `dir`, and the worker once it is inside.
pub fn start(dir: &Path) -> (ControlServer, Worker) {
    let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new()));
    let server = ControlServer::new(runtime)
        .offer(&HOLD)
        .start(dir.join("sock"))
        .unwrap();
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| SLOT.call(|f| f(7)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !INSIDE.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the worker never entered app::hold"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    (server, Worker(worker))
}
