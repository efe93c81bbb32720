//! The atomics the switch protocol is written against: `std`'s here; `loom`'s in the model
//! checker, which compiles `protocol.rs` beside its own version of this module.

pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
