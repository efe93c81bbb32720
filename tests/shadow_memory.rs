//! Shadow variables give back every byte: with a counting allocator, a table that allocated,
//! refused duplicates, failed constructors, nested allocations from a constructor, freed and
//! dropped its variables leaves the heap as it found it.
//!
//! The counter is per thread, so the test harness's own threads do not disturb it; the scenario
//! runs on the test's thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use livepatch::shadow::{ShadowId, ShadowTable};

/// The system allocator, counting the bytes each thread holds (allocated minus freed).
struct Counting;

thread_local! {
    /// `const`-initialised and without a destructor, so using it inside the allocator never
    /// allocates.
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: usize, sign: isize) {
    let delta = isize::try_from(bytes).unwrap_or(isize::MAX) * sign;
    // `try_with`: while a thread is torn down its slot may be gone; those frees are not counted.
    let _ = HELD.try_with(|held| held.set(held.get() + delta));
}

fn held() -> isize {
    HELD.with(Cell::get)
}

// SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s
// guarantees are passed on unchanged; the bookkeeping touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        // SAFETY: the caller passes a block this allocator (that is, `System`) returned, with its
        // layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SV_A: ShadowId<Vec<u8>> = ShadowId::new(1);
const SV_B: ShadowId<u64> = ShadowId::new(2);

#[test]
fn a_dropped_table_leaves_no_heap_behind() {
    let objects = vec![0u64; 200];
    let spare = 0u64;
    let before = held();
    {
        let table = ShadowTable::new();
        for (i, obj) in objects.iter().enumerate() {
            let a = table
                .get_or_alloc_with(obj, SV_A, || {
                    // A nested allocation from the constructor, and one of the pair being built.
                    table.alloc(obj, SV_B, 1);
                    assert!(table.get_or_alloc(obj, SV_A, Vec::new()).is_err());
                    Ok::<_, String>(vec![1; i])
                })
                .unwrap();
            assert_eq!(a.len(), i);
            assert!(table.alloc(obj, SV_B, 2).is_none());
            assert!(table.alloc_with(obj, SV_A, || Err::<Vec<u8>, _>("refused")) == Ok(None));
            let failed = table.get_or_alloc_with(&spare, SV_B, || Err::<u64, _>("no"));
            assert!(failed.is_err());
        }
        assert_eq!(table.len(), 400);
        for obj in objects.iter().step_by(2) {
            assert!(table.free(obj, SV_A));
        }
        assert_eq!(table.free_all(SV_B), 200);
        assert_eq!(table.len(), 100);
    }
    assert_eq!(held() - before, 0);
}
