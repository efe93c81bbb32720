//! The call path of a patchable function allocates nothing, patched or not, once its thread has
//! made its first patchable call (which registers the thread). Runs in its own process, with a
//! global allocator that counts allocations of the calling thread.

use livepatch::prelude::*;
use livepatch::{FuncDesc, FuncSlot, ObjectName, Replacement};
use livepatch::{ObjectDesc, PatchDesc};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{Counting, allocations};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static SLOT: FuncSlot<fn(u64) -> u64> = FuncSlot::new("double", ObjectName::Program, |x| x * 2);
static NEW: Replacement<fn(u64) -> u64> = Replacement::new(&SLOT, |x| x * 3);
static FUNCS: [FuncDesc; 1] = [FuncDesc::new(&NEW)];
static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&FUNCS)];
static PATCH: PatchDesc = PatchDesc::new("triple").objects(&OBJECTS);

fn double(x: u64) -> u64 {
    SLOT.call(|f| f(x))
}

fn allocations_during(f: impl FnOnce() -> u64) -> (u64, u64) {
    let before = allocations();
    let result = f();
    (allocations() - before, result)
}

#[test]
fn calls_allocate_nothing_patched_or_not() {
    assert_eq!(double(1), 2); // registers this thread
    let calls = || (0..10_000).map(double).sum::<u64>();
    let sum: u64 = (0..10_000).sum();
    assert_eq!(allocations_during(calls), (0, 2 * sum));

    let rt = Runtime::new();
    rt.enable(&PATCH).unwrap();
    assert!(rt.transition().is_none());
    assert_eq!(allocations_during(calls), (0, 3 * sum));

    rt.disable("triple").unwrap();
    assert_eq!(allocations_during(calls), (0, 2 * sum));
}
