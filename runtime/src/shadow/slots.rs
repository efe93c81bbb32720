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

/// What a slot whose variable was removed holds: probes go on past it. No node is at address 0,
/// so a value with the address bits at zero and tag bits set is never a tagged node pointer.
const REMOVED: usize = 1;

pub(super) fn tombstone() -> *mut Header {
    ptr::without_provenance_mut(REMOVED)
}

fn tag_of(hash: u64) -> usize {
    hash as usize & TAG
}

/// Whether a slot's bits are those of a node with tag `tag`: the tag bits equal and the address
/// bits not all zero (all zero is an empty slot or a tombstone). One comparison, so that the
/// probe takes one branch for it: with the bits xored with the tag and rotated so that the tag
/// bits come on top, the slot holds such a node exactly when the result is nonzero and has
/// none of those top bits set.
#[inline]
fn holds_tag(bits: usize, tag: usize) -> bool {
    const BELOW_TAG: usize = usize::MAX >> TAG.count_ones();
    (bits ^ tag).rotate_right(TAG.count_ones()).wrapping_sub(1) < BELOW_TAG
}

/// Whether a slot's bits are a tombstone's: address bits all zero, tag bits not. Without a
/// branch, so that the probe can note the first tombstone without one.
#[inline]
fn is_removed(bits: usize) -> bool {
    (bits != 0) & (bits <= TAG)
}

/// The node a tagged slot points to.
///
/// # Safety
///
/// `raw` is a tagged node pointer ([`encode`]), not an empty slot or a tombstone.
#[inline]
unsafe fn untag(raw: *mut Header) -> NonNull<Header> {
    // SAFETY: only pointers to nodes are tagged, and a node is never at address 0.
    unsafe { NonNull::new_unchecked(raw.map_addr(|a| a & !TAG)) }
}

/// Where the probe for `hash` starts in `capacity` slots: the hash's top bits scaled to the
/// capacity, which need not be a power of two.
pub(super) fn start(hash: u64, capacity: usize) -> usize {
    ((u128::from(hash) * capacity as u128) >> 64) as usize
}

/// The slot after `i` in a probe run of `capacity` slots, which wraps around.
#[inline]
pub(super) fn next(i: usize, capacity: usize) -> usize {
    if i + 1 == capacity { 0 } else { i + 1 }
}

/// What a slot holds, once its tag is taken off.
pub(super) enum Slot {
    Empty,
    Removed,
    Node(NonNull<Header>),
}

pub(super) fn decode(raw: *mut Header) -> Slot {
    if raw.is_null() {
        Slot::Empty
    } else if is_removed(raw.addr()) {
        Slot::Removed
    } else {
        // SAFETY: neither empty nor a tombstone, so a tagged node pointer.
        Slot::Node(unsafe { untag(raw) })
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
        let tag = tag_of(hash);
        let mut i = start(hash, capacity);
        // The first tombstone of the run, or `NONE` (a sentinel rather than an `Option`, which
        // the compiler tests with branches of its own).
        const NONE: usize = usize::MAX;
        let mut removed = NONE;
        // At most a full turn: the array always has an empty slot, but a bound costs nothing.
        //
        // The tests are arranged for the branch predictor, since which kind of slot comes next is
        // random: one branch asks whether the slot holds a node with the key's tag (rarely, but
        // for the key's own node), one whether it is empty (once, at the end of a miss), and the
        // first tombstone is noted without a branch. A test per kind of slot, one after the
        // other, made a lookup mispredict about three branches.
        for _ in 0..capacity {
            let raw = self.slots[i].load(order);
            let bits = raw.addr();
            if holds_tag(bits, tag) {
                // SAFETY: `holds_tag` holds only for tagged node pointers.
                let node = unsafe { untag(raw) };
                if is_key(node) {
                    return Probe::Found(i, node);
                }
            } else if bits == 0 {
                return Probe::Missing(Vacancy {
                    slot: Some(if removed == NONE { i } else { removed }),
                    empty: removed == NONE,
                });
            }
            removed = if is_removed(bits) && removed == NONE {
                i
            } else {
                removed
            };
            i = next(i, capacity);
        }
        Probe::Missing(Vacancy {
            slot: (removed != NONE).then_some(removed),
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
                Slot::Node(node) => Some((i, node)),
                Slot::Empty | Slot::Removed => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_holds_a_tag_only_as_a_tagged_node() {
        for tag in 0..=TAG {
            assert!(!holds_tag(0, tag), "an empty slot, tag {tag}");
            assert!(!holds_tag(REMOVED, tag), "a tombstone, tag {tag}");
            for addr in [8, 0x1000, 0x7fff_ffff_fff8, usize::MAX & !TAG] {
                for other in 0..=TAG {
                    assert_eq!(
                        holds_tag(addr | other, tag),
                        other == tag,
                        "node {addr:#x} with tag {other}, looking for tag {tag}"
                    );
                }
            }
        }
    }

    #[test]
    fn decoding_tells_the_three_kinds_of_slot_apart() {
        assert!(matches!(decode(ptr::null_mut()), Slot::Empty));
        assert!(matches!(decode(tombstone()), Slot::Removed));
        let node = ptr::without_provenance_mut::<Header>(0x1000 | 0b101);
        assert!(matches!(decode(node), Slot::Node(n) if n.as_ptr().addr() == 0x1000));
    }
}
