//! Shadow variables give back every byte: with a counting allocator, a table that allocated,
//! refused duplicates, failed constructors, nested allocations from a constructor, freed and
//! dropped its variables leaves the heap as it found it.
//!
//! The counter is per thread, so the test harness's own threads do not disturb it; the scenario
//! runs on the test's thread.

use livepatch::shadow::{ShadowId, ShadowTable};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{Counting, held};

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
