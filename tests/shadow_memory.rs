//! Shadow variables give back every byte: with a counting allocator, a table that allocated,
//! raced for, freed and dropped its variables leaves the heap as it found it.
//!
//! One test only in this binary: the counter is process-wide, so no other test may allocate
//! while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use livepatch::shadow::{ShadowId, ShadowTable};

/// The system allocator, counting the bytes held (allocated minus freed) in the whole process.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

fn count(bytes: usize, sign: isize) {
    HELD.fetch_add(
        isize::try_from(bytes).unwrap_or(isize::MAX) * sign,
        Ordering::SeqCst,
    );
}

// SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s
// guarantees are passed on unchanged; the bookkeeping is one atomic add.
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
    // The main thread's handle is made on first use and kept; make it before measuring.
    let _ = std::thread::current();
    let before = HELD.load(Ordering::SeqCst);
    {
        let table = ShadowTable::new();
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (table, objects) = (&table, &objects);
                s.spawn(move || {
                    for (i, obj) in objects.iter().enumerate() {
                        table
                            .get_or_alloc_with(obj, SV_A, || Ok::<_, String>(vec![1; i]))
                            .unwrap();
                        table.alloc(obj, SV_B, t);
                        let _ = table.alloc_with(obj, SV_B, || Err::<u64, _>("refused"));
                    }
                });
            }
        });
        assert_eq!(table.len(), 400);
        for obj in objects.iter().step_by(2) {
            assert!(table.free(obj, SV_A));
        }
        assert_eq!(table.free_all(SV_B), 200);
        assert_eq!(table.len(), 100);
    }
    assert_eq!(HELD.load(Ordering::SeqCst) - before, 0);
}
