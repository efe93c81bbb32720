//! The atomics the switch protocol is written against: `std`'s here; `loom`'s in the model
//! checker, which compiles `protocol.rs` beside its own version of this module.

pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

/// How many patchable frames one thread records. Deeper frames are counted but not recorded, and
/// a thread with unrecorded frames is never switched from outside (it cannot be checked).
pub(crate) const MAX_DEPTH: usize = 64;

/// How many transitions may run at once in one process (one per runtime at most).
pub(crate) const LANES: usize = 16;
