//! The array a shard's lookups read: one allocation holding its capacity and then its slots,
//! each slot a node pointer with a piece of the key's hash in its spare bits, a tombstone, or
//! empty. Lookups read it without a lock; only the shard's writer changes it (see `shard`).

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};

use super::node::Header;

/// The low pointer bits a slot keeps a piece of the hash in, so that most probes of other keys do
/// not read their node.
const TAG: usize = 0b111;

/// Marks a slot whose variable was removed: probes go on past it.
static TOMBSTONE_MARK: u64 = 0;

pub(super) fn tombstone() -> *mut Header {
    ptr::addr_of!(TOMBSTONE_MARK).cast::<Header>().cast_mut()
}

fn tag_of(hash: u64) -> usize {
    hash as usize & TAG
}

/// Where the probe for `hash` starts in `capacity` slots: the hash's top bits scaled to the
/// capacity, which need not be a power of two.
pub(super) fn start(hash: u64, capacity: usize) -> usize {
    ((u128::from(hash) * capacity as u128) >> 64) as usize
}

/// What a slot holds, once its tag is taken off.
pub(super) enum Slot {
    Empty,
    Removed,
    Node { tag: usize, node: NonNull<Header> },
}

pub(super) fn decode(raw: *mut Header) -> Slot {
    if raw.is_null() {
        Slot::Empty
    } else if raw == tombstone() {
        Slot::Removed
    } else {
        let node = raw.map_addr(|a| a & !TAG);
        Slot::Node {
            tag: raw.addr() & TAG,
            // SAFETY: only pointers to nodes are tagged, and a node is never at address 0.
            node: unsafe { NonNull::new_unchecked(node) },
        }
    }
}

pub(super) fn encode(node: NonNull<Header>, hash: u64) -> *mut Header {
    node.as_ptr().map_addr(|a| a | tag_of(hash))
}

/// Where a probe ended.
pub(super) enum Probe {
    /// The key's node, and its slot.
    Found(usize, NonNull<Header>),
    /// The key is not in the array.
    Missing(Vacancy),
}

/// Where an insertion of a key found missing goes: the first slot of its probe run that holds no
/// variable (a tombstone, or the empty slot that ended the run). Valid until the writer that found
/// it changes the array.
pub(super) struct Vacancy {
    /// `None` if there is no array yet (or, never in practice, no free slot in the run).
    pub(super) slot: Option<usize>,
    /// Whether that slot is empty rather than a tombstone: filling it counts towards the load.
    pub(super) empty: bool,
}

/// The head of an array's allocation; `capacity` slots follow it in the same allocation, so
/// that a lookup goes from the shard to a slot in one load, not through a boxed slice's header.
#[repr(C)]
pub(super) struct ArrayHead {
    capacity: usize,
}

/// Where the slots begin in an array's allocation: right after the head, which is as aligned
/// as a slot.
const SLOTS_OFFSET: usize = size_of::<ArrayHead>();
const _: () = assert!(align_of::<ArrayHead>() >= align_of::<AtomicPtr<Header>>());
const _: () = assert!(SLOTS_OFFSET.is_multiple_of(align_of::<AtomicPtr<Header>>()));

/// The allocation of an array of `capacity` slots.
fn layout(capacity: usize) -> Layout {
    let slots = Layout::array::<AtomicPtr<Header>>(capacity).expect("an array the size of a table");
    let (layout, offset) = Layout::new::<ArrayHead>()
        .extend(slots)
        .expect("an array the size of a table");
    debug_assert_eq!(offset, SLOTS_OFFSET);
    layout.pad_to_align()
}

/// A new array of `capacity` empty slots, to be published in a shard and freed with
/// [`free_array`]. The pointer has the provenance of the whole allocation.
pub(super) fn new_array(capacity: usize) -> NonNull<ArrayHead> {
    let layout = layout(capacity);
    // SAFETY: the layout is not zero-sized (it holds the head).
    let raw = unsafe { alloc_zeroed(layout) };
    let Some(head) = NonNull::new(raw.cast::<ArrayHead>()) else {
        handle_alloc_error(layout)
    };
    // Zeroed memory is a valid array already: a null pointer's bits are all zero, so every slot
    // starts empty. Only the capacity is written.
    // SAFETY: the allocation starts with room for the head, suitably aligned.
    unsafe { head.write(ArrayHead { capacity }) };
    head
}

/// Frees an array made by [`new_array`].
///
/// # Safety
///
/// No thread can reach the array any more, and it is not used again.
pub(super) unsafe fn free_array(head: NonNull<ArrayHead>) {
    // SAFETY: the head is alive until the `dealloc` below (the caller's promise).
    let layout = layout(unsafe { head.as_ref() }.capacity);
    // SAFETY: allocated by `new_array` with this layout; slots need no drop.
    unsafe { dealloc(head.as_ptr().cast(), layout) }
}

/// The slots of an array, borrowed.
#[derive(Clone, Copy)]
pub(super) struct Slots<'a> {
    slots: &'a [AtomicPtr<Header>],
}

impl<'a> Slots<'a> {
    /// The slots of the array at `head`.
    ///
    /// # Safety
    ///
    /// `head` comes from [`new_array`] (with the provenance of its whole allocation) and the
    /// array stays allocated for `'a`.
    #[inline]
    pub(super) unsafe fn of(head: NonNull<ArrayHead>) -> Self {
        // SAFETY: the caller's promise: the head is alive.
        let capacity = unsafe { head.as_ref() }.capacity;
        // SAFETY: `new_array` laid `capacity` slots out after the head, initialised (zeroed), and
        // `head` carries the provenance of the whole allocation; slots are only ever shared.
        let slots = unsafe {
            std::slice::from_raw_parts(
                head.as_ptr()
                    .byte_add(SLOTS_OFFSET)
                    .cast::<AtomicPtr<Header>>(),
                capacity,
            )
        };
        Slots { slots }
    }

    #[inline]
    pub(super) fn capacity(self) -> usize {
        self.slots.len()
    }

    #[inline]
    pub(super) fn slot(self, i: usize) -> &'a AtomicPtr<Header> {
        &self.slots[i]
    }
    /// Where the probe run of `key` ends: at its node, or at the first empty slot. For the
    /// writer, which alone changes the array (its loads are `Relaxed`).
    #[inline]
    pub(super) fn probe(self, hash: u64, key: (usize, u64)) -> Probe {
        self.probe_by(hash, Ordering::Relaxed, |node| {
            // SAFETY: a node in the array is alive while it is in it, and only this writer
            // changes the array.
            unsafe { node.as_ref() }.key() == key
        })
    }

    /// Where the probe run of `hash` ends: at the first node whose tag matches and for which
    /// `is_key` holds, or at the first empty slot. `order` is `SeqCst` for readers (see the read
    /// protocol in `shard`) and `Relaxed` for the writer.
    #[inline]
    pub(super) fn probe_by(
        self,
        hash: u64,
        order: Ordering,
        mut is_key: impl FnMut(NonNull<Header>) -> bool,
    ) -> Probe {
        let capacity = self.slots.len();
        let mut i = start(hash, capacity);
        let mut removed = None;
        // At most a full turn: the array always has an empty slot, but a bound costs nothing.
        for _ in 0..capacity {
            match decode(self.slots[i].load(order)) {
                Slot::Empty => {
                    return Probe::Missing(Vacancy {
                        slot: Some(removed.unwrap_or(i)),
                        empty: removed.is_none(),
                    });
                }
                Slot::Removed => {
                    removed.get_or_insert(i);
                }
                Slot::Node { tag, node } => {
                    if tag == tag_of(hash) && is_key(node) {
                        return Probe::Found(i, node);
                    }
                }
            }
            i = if i + 1 == capacity { 0 } else { i + 1 };
        }
        Probe::Missing(Vacancy {
            slot: removed,
            empty: false,
        })
    }

    /// The node of `key`, if in the array, and its slot.
    #[inline]
    pub(super) fn find(self, hash: u64, key: (usize, u64)) -> Option<(usize, NonNull<Header>)> {
        match self.probe(hash, key) {
            Probe::Found(i, node) => Some((i, node)),
            Probe::Missing(_) => None,
        }
    }

    /// Every node in the array, with its slot.
    pub(super) fn nodes(self) -> impl Iterator<Item = (usize, NonNull<Header>)> + 'a {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match decode(s.load(Ordering::Relaxed)) {
                Slot::Node { node, .. } => Some((i, node)),
                Slot::Empty | Slot::Removed => None,
            })
    }
}
