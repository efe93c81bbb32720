//! A global allocator that forwards to the system allocator and counts, for each thread, the
//! allocations it made and the bytes it holds (allocated minus freed). Counting per thread keeps
//! other threads (the test harness's, a bench's workers) out of a measurement.
//!
//! Not part of `common`: a binary that wants it includes this file and installs it with
//! `#[global_allocator] static ALLOCATOR: Counting = Counting;`.

#![allow(dead_code, reason = "each binary reads the count it needs")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator.
pub struct Counting;

thread_local! {
    /// `const`-initialised and without a destructor, so that using them inside the allocator
    /// never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static HELD: Cell<isize> = const { Cell::new(0) };
}

/// How many allocations (and reallocations) this thread has made.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The bytes this thread holds: allocated minus freed.
pub fn held() -> isize {
    HELD.with(Cell::get)
}

fn allocated(bytes: usize) {
    // `try_with`: while a thread is torn down its slots may be gone; that is not measured.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    held_change(bytes, 1);
}

fn held_change(bytes: usize, sign: isize) {
    let delta = isize::try_from(bytes).unwrap_or(isize::MAX) * sign;
    let _ = HELD.try_with(|held| held.set(held.get() + delta));
}

// SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s
// guarantees are passed on unchanged; the bookkeeping touches only thread-local `Cell`s.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocated(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocated(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        held_change(layout.size(), -1);
        // SAFETY: the caller passes a block this allocator (that is, `System`) returned, with its
        // layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        held_change(layout.size(), -1);
        allocated(new_size);
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
