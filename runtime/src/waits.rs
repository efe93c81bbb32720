//! Which thread holds which runtime's lock, and which runtime a thread that holds one waits for.
//!
//! Callbacks run with their runtime's lock held, as the kernel's run under `klp_mutex`. A
//! callback may call another runtime, and so wait for its lock; if that runtime's holder is, in
//! turn, waiting (through its own callbacks) for a lock this thread holds, neither would ever
//! go on. Before such a wait, the waiting thread follows the chain of holders and waits; if the
//! chain comes back to it, the call is refused instead. Every thread records itself as waiting
//! before it checks, under one lock, so of the threads that close a cycle the last to arrive
//! always sees it.

use std::sync::{Mutex, PoisonError};
use std::thread::{self, ThreadId};

use crate::error::Reentered;

struct Graph {
    /// Runtime id and the thread holding its lock.
    holders: Vec<(u64, ThreadId)>,
    /// A thread that holds some runtime's lock and waits for the lock of this runtime.
    waiting: Vec<(ThreadId, u64)>,
}

static GRAPH: Mutex<Graph> = Mutex::new(Graph {
    holders: Vec::new(),
    waiting: Vec::new(),
});

fn graph() -> std::sync::MutexGuard<'static, Graph> {
    GRAPH.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This thread holds `runtime`'s lock while the value lives.
pub(crate) struct Holding(u64);

impl Holding {
    /// Records that this thread now holds `runtime`'s lock.
    pub(crate) fn start(runtime: u64) -> Self {
        graph().holders.push((runtime, thread::current().id()));
        Holding(runtime)
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        graph().holders.retain(|&(r, _)| r != self.0);
    }
}

/// This thread, holding some runtime's lock, waits for `runtime`'s while the value lives.
pub(crate) struct Waiting(());

impl Waiting {
    /// Records that this thread waits for `runtime`'s lock, or refuses the wait when it would
    /// never end.
    pub(crate) fn start(runtime: u64) -> Result<Self, Reentered> {
        let me = thread::current().id();
        let mut graph = graph();
        let mut wanted = runtime;
        // Each step follows a different thread, so the chain is at most as long as the list of
        // waiting threads.
        for _ in 0..=graph.waiting.len() {
            let Some(&(_, holder)) = graph.holders.iter().find(|&&(r, _)| r == wanted) else {
                break;
            };
            if holder == me {
                return Err(Reentered::Deadlock);
            }
            let Some(&(_, next)) = graph.waiting.iter().find(|&&(t, _)| t == holder) else {
                break;
            };
            wanted = next;
        }
        graph.waiting.push((me, runtime));
        Ok(Waiting(()))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let me = thread::current().id();
        graph().waiting.retain(|&(t, _)| t != me);
    }
}
