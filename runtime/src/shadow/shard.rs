//! One shard of a shadow table: an open-addressing array of node pointers that lookups read
//! without any lock, and that writers change one at a time under the shard's mutex.
//!
//! # The read protocol
//!
//! A lookup announces itself in one of the shard's two reader counters, reads the array and the
//! nodes it points to, takes a counted reference to the node it wants, and leaves the counter. It
//! never waits: no lock, no retry loop, only two atomic additions around the reads.
//!
//! A writer changes the array in place: an insertion stores a pointer into a free slot (readers
//! see the slot empty or the whole node), a removal stores a tombstone, and a resize publishes a
//! new array. What a writer has unlinked (a node's table reference, an old array) it keeps until a
//! *grace period* has passed, that is until each reader counter has been seen at zero after the
//! unlink, and gives back only then. A reader that announced itself before that zero was seen has
//! left; one that announced itself after it reads the array after the unlink (both sides use
//! sequentially consistent operations: the writer stores, then reads the counter; the reader adds
//! to the counter, then reads the array), so it cannot reach what was unlinked. Writers switch
//! readers to the other counter before waiting on one, so a stream of new readers cannot keep a
//! writer waiting: only readers already inside, each a few dozen instructions of table reading
//! with no user code, delay it. This is a sleepable-RCU scheme per shard, reclaiming at once
//! instead of in batches, so that a variable's data is dropped as soon as its last reference goes.
//!
//! The table holds one count of every node in it; the count is given back after the grace period,
//! so a reader that finds a node can always add its own.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::node::{ErasedRef, Header};

/// The low pointer bits a slot keeps a piece of the hash in, so that most probes of other keys do
/// not read their node.
const TAG: usize = 0b111;

/// Load limit: an insertion that would fill more than 13/16 of the slots (live and tombstones)
/// rebuilds the array first.
const MAX_LOAD: (usize, usize) = (13, 16);

/// Rebuilt arrays are sized for a load of 13/24 (the limit over 1.5): the array grows by 1.5×
/// rather than 2×, which keeps the memory per variable low.
const REBUILT_LOAD: (usize, usize) = (13, 24);

const MIN_CAPACITY: usize = 4;

/// Marks a slot whose variable was removed: probes go on past it.
static TOMBSTONE_MARK: u64 = 0;

fn tombstone() -> *mut Header {
    ptr::addr_of!(TOMBSTONE_MARK).cast::<Header>().cast_mut()
}

fn tag_of(hash: u64) -> usize {
    hash as usize & TAG
}

/// Where the probe for `hash` starts in `capacity` slots: the hash's top bits scaled to the
/// capacity, which need not be a power of two.
fn start(hash: u64, capacity: usize) -> usize {
    ((u128::from(hash) * capacity as u128) >> 64) as usize
}

/// What a slot holds, once its tag is taken off.
enum Slot {
    Empty,
    Removed,
    Node { tag: usize, node: NonNull<Header> },
}

fn decode(raw: *mut Header) -> Slot {
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

fn encode(node: NonNull<Header>, hash: u64) -> *mut Header {
    node.as_ptr().map_addr(|a| a | tag_of(hash))
}

/// An array of slots.
struct Slots {
    slots: Box<[AtomicPtr<Header>]>,
}

impl Slots {
    fn new(capacity: usize) -> Self {
        Slots {
            slots: (0..capacity)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// The node of `key`, if in the array, and its slot. `order` is `SeqCst` for readers (see
    /// the module documentation) and `Relaxed` for the writer, which alone changes the array.
    fn find(
        &self,
        hash: u64,
        key: (usize, u64),
        order: Ordering,
    ) -> Option<(usize, NonNull<Header>)> {
        let capacity = self.slots.len();
        let mut i = start(hash, capacity);
        // At most a full turn: the array always has an empty slot, but a bound costs nothing.
        for _ in 0..capacity {
            match decode(self.slots[i].load(order)) {
                Slot::Empty => return None,
                Slot::Removed => {}
                Slot::Node { tag, node } => {
                    if tag == tag_of(hash) {
                        // SAFETY: a node in a slot is alive while the reader is counted in the
                        // shard (the table's count is given back only after a grace period) or,
                        // for the writer, while it is in the array.
                        if unsafe { node.as_ref() }.key() == key {
                            return Some((i, node));
                        }
                    }
                }
            }
            i = if i + 1 == capacity { 0 } else { i + 1 };
        }
        None
    }

    /// Every node in the array, with its slot.
    fn nodes(&self) -> impl Iterator<Item = (usize, NonNull<Header>)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match decode(s.load(Ordering::Relaxed)) {
                Slot::Node { node, .. } => Some((i, node)),
                Slot::Empty | Slot::Removed => None,
            })
    }
}

/// One shard, alone on its cache lines so that shards do not slow each other down.
#[repr(align(128))]
pub(super) struct Shard<W> {
    /// Readers inside, counted on the side the phase's parity names when they came in.
    readers: [AtomicUsize; 2],
    phase: AtomicUsize,
    /// The array, from `Box::into_raw`; null until the first insertion.
    slots: AtomicPtr<Slots>,
    writer: Mutex<Writer<W>>,
}

/// What writers keep, under the shard's mutex.
struct Writer<W> {
    live: usize,
    /// Slots not empty: live variables and tombstones.
    used: usize,
    /// Live variables tied to a state, so that a release skips the shards with none.
    tied: usize,
    /// The caller's own bookkeeping.
    extra: W,
}

impl<W: Default> Default for Shard<W> {
    fn default() -> Self {
        Shard {
            readers: [AtomicUsize::new(0), AtomicUsize::new(0)],
            phase: AtomicUsize::new(0),
            slots: AtomicPtr::new(ptr::null_mut()),
            writer: Mutex::new(Writer {
                live: 0,
                used: 0,
                tied: 0,
                extra: W::default(),
            }),
        }
    }
}

/// Leaves the reader counter when dropped, unwinding included.
struct Reading<'a>(&'a AtomicUsize);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        // SeqCst, not just Release, so that every change of a reader counter is sequentially
        // consistent: a writer's SeqCst load that follows a reader's increment in the single
        // total order then reads that increment or a later change, never an older value.
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<W> Shard<W> {
    /// Looks `key` up without waiting for anything; `take` runs on the node found while the node
    /// is protected, so that it can count a reference of its own.
    pub(super) fn read<R>(
        &self,
        hash: u64,
        key: (usize, u64),
        take: impl FnOnce(NonNull<Header>) -> Option<R>,
    ) -> Option<R> {
        let side = self.phase.load(Ordering::Relaxed) & 1;
        self.readers[side].fetch_add(1, Ordering::SeqCst);
        let _reading = Reading(&self.readers[side]);
        let slots = self.slots.load(Ordering::SeqCst);
        // SAFETY: an array is freed only after a grace period that follows its replacement, and
        // this reader is counted, so one it loaded is alive until it leaves.
        let slots = unsafe { slots.as_ref() }?;
        let (_, node) = slots.find(hash, key, Ordering::SeqCst)?;
        take(node)
    }

    /// Locks the shard for writing.
    pub(super) fn write(&self) -> WriteGuard<'_, W> {
        WriteGuard {
            shard: self,
            // No user code runs under a shard's mutex, so a poisoned one only means a panic in
            // this module (out of memory); its contents are still consistent.
            writer: Some(self.writer.lock().unwrap_or_else(PoisonError::into_inner)),
            retired: Vec::new(),
            old_slots: Vec::new(),
        }
    }

    /// How many variables the shard holds.
    pub(super) fn len(&self) -> usize {
        self.write().len()
    }

    /// Waits until each reader counter has been seen at zero: every reader that may have seen
    /// what was unlinked before this call has left.
    fn synchronize(&self) {
        for side in 0..2 {
            let mut waited = 0u32;
            while self.readers[side].load(Ordering::SeqCst) != 0 {
                // Send new readers to the other side, so that this one drains.
                if self.phase.load(Ordering::Relaxed) & 1 == side {
                    self.phase.fetch_add(1, Ordering::SeqCst);
                }
                if waited < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                waited = waited.saturating_add(1);
            }
        }
    }
}

impl<W> Drop for Shard<W> {
    fn drop(&mut self) {
        let slots = *self.slots.get_mut();
        if slots.is_null() {
            return;
        }
        // SAFETY: the array came from `Box::into_raw` and, the shard being dropped, no reader
        // or writer can reach it any more.
        let slots = unsafe { Box::from_raw(slots) };
        for (_, node) in slots.nodes() {
            // SAFETY: the table holds one count of every node in its array, given back here.
            drop(unsafe { ErasedRef::from_raw(node) });
        }
    }
}

/// A shard locked for writing. What it unlinks is given back when it is dropped, after a grace
/// period and outside the mutex (a node's data may run user code when dropped), or handed to the
/// caller by [`WriteGuard::finish`].
pub(super) struct WriteGuard<'a, W> {
    shard: &'a Shard<W>,
    writer: Option<MutexGuard<'a, Writer<W>>>,
    /// Table references of nodes unlinked under this guard.
    retired: Vec<ErasedRef>,
    /// Arrays replaced under this guard, from `Box::into_raw`. They stay raw pointers until the
    /// grace period: readers may still be reading them, and a `Box` would claim them as unique.
    old_slots: Vec<NonNull<Slots>>,
}

impl<W> WriteGuard<'_, W> {
    fn writer(&self) -> &Writer<W> {
        self.writer.as_ref().expect("held until dropped")
    }

    fn writer_mut(&mut self) -> &mut Writer<W> {
        self.writer.as_mut().expect("held until dropped")
    }

    /// The caller's bookkeeping.
    pub(super) fn extra(&mut self) -> &mut W {
        &mut self.writer_mut().extra
    }

    pub(super) fn len(&self) -> usize {
        self.writer().live
    }

    /// How many variables in the shard are tied to a state.
    pub(super) fn tied(&self) -> usize {
        self.writer().tied
    }

    fn slots(&self) -> Option<&Slots> {
        // SAFETY: only writers replace or free the array, and this one holds the mutex.
        unsafe { self.shard.slots.load(Ordering::Relaxed).as_ref() }
    }

    /// A counted reference to the node of `key`, if in the shard.
    pub(super) fn find(&self, hash: u64, key: (usize, u64)) -> Option<ErasedRef> {
        let (_, node) = self.slots()?.find(hash, key, Ordering::Relaxed)?;
        // SAFETY: the node is in the array, which this writer alone changes.
        Some(unsafe { ErasedRef::acquire(node) })
    }

    /// Inserts `node`, whose key must not be in the shard; the table takes over its reference.
    pub(super) fn insert(&mut self, hash: u64, node: ErasedRef) {
        let (live, used) = (self.writer().live, self.writer().used);
        let capacity = self.slots().map_or(0, |s| s.slots.len());
        if (used + 1) * MAX_LOAD.1 > capacity * MAX_LOAD.0 {
            let wanted = ((live + 1) * REBUILT_LOAD.1).div_ceil(REBUILT_LOAD.0);
            self.rebuild(wanted.max(MIN_CAPACITY));
        }
        let slots = self.slots().expect("rebuilt above if missing");
        let capacity = slots.slots.len();
        let mut i = start(hash, capacity);
        loop {
            let slot = &slots.slots[i];
            match decode(slot.load(Ordering::Relaxed)) {
                Slot::Node { .. } => i = if i + 1 == capacity { 0 } else { i + 1 },
                free => {
                    let tied = node.header().class().tie().is_some();
                    // Release: a reader that sees the pointer sees the node it points to.
                    slot.store(encode(node.into_raw(), hash), Ordering::Release);
                    let writer = self.writer_mut();
                    writer.live += 1;
                    writer.tied += usize::from(tied);
                    if matches!(free, Slot::Empty) {
                        writer.used += 1;
                    }
                    return;
                }
            }
        }
    }

    /// Moves every node into a new array of `capacity` slots (tombstones are dropped) and
    /// publishes it; the old one is freed after a grace period.
    fn rebuild(&mut self, capacity: usize) {
        let new = Slots::new(capacity);
        let mut live = 0;
        if let Some(old) = self.slots() {
            for (_, node) in old.nodes() {
                // SAFETY: the node is in the array, so alive.
                let hash = super::table::hash_key(unsafe { node.as_ref() }.key());
                let mut i = start(hash, capacity);
                while !new.slots[i].load(Ordering::Relaxed).is_null() {
                    i = if i + 1 == capacity { 0 } else { i + 1 };
                }
                new.slots[i].store(encode(node, hash), Ordering::Relaxed);
                live += 1;
            }
        }
        // SeqCst and Release: readers that load the new array see its slots filled (the
        // grace period's argument for the old one is in the module documentation).
        let old = self
            .shard
            .slots
            .swap(Box::into_raw(Box::new(new)), Ordering::SeqCst);
        if let Some(old) = NonNull::new(old) {
            self.old_slots.push(old);
        }
        let writer = self.writer_mut();
        debug_assert_eq!(writer.live, live);
        writer.used = live;
    }

    /// Unlinks the node in slot `i`; its table reference is given back after a grace period.
    fn unlink(&mut self, i: usize, node: NonNull<Header>) {
        let slots = self.slots().expect("a node was found in it");
        slots.slots[i].store(tombstone(), Ordering::SeqCst);
        // SAFETY: the node was in the array, so alive.
        let tied = unsafe { node.as_ref() }.class().tie().is_some();
        let writer = self.writer_mut();
        writer.live -= 1;
        writer.tied -= usize::from(tied);
        // SAFETY: the table's count of the node, no longer reachable from the array.
        self.retired.push(unsafe { ErasedRef::from_raw(node) });
    }

    /// Unlinks the node of `key` if `pred` holds for it; returns whether it did.
    pub(super) fn remove_if(
        &mut self,
        hash: u64,
        key: (usize, u64),
        pred: impl FnOnce(&Header) -> bool,
    ) -> bool {
        let found = self.slots().and_then(|s| {
            let (i, node) = s.find(hash, key, Ordering::Relaxed)?;
            // SAFETY: the node is in the array, so alive.
            pred(unsafe { node.as_ref() }).then_some((i, node))
        });
        match found {
            Some((i, node)) => {
                self.unlink(i, node);
                true
            }
            None => false,
        }
    }

    /// Unlinks every node for which `pred` holds; returns how many.
    pub(super) fn remove_all(&mut self, mut pred: impl FnMut(&Header) -> bool) -> usize {
        let Some(slots) = self.slots() else {
            return 0;
        };
        let doomed: Vec<(usize, NonNull<Header>)> = slots
            .nodes()
            // SAFETY: the node is in the array, so alive.
            .filter(|(_, node)| pred(unsafe { node.as_ref() }))
            .collect();
        for &(i, node) in &doomed {
            self.unlink(i, node);
        }
        doomed.len()
    }

    /// Unlocks the shard after a grace period, and hands over the table references of the nodes
    /// unlinked under this guard, in the order they were unlinked.
    pub(super) fn finish(mut self) -> Vec<ErasedRef> {
        self.settle();
        std::mem::take(&mut self.retired)
    }

    /// Waits out a grace period if anything was unlinked, frees replaced arrays, and unlocks.
    fn settle(&mut self) {
        if !self.retired.is_empty() || !self.old_slots.is_empty() {
            self.shard.synchronize();
        }
        for old in self.old_slots.drain(..) {
            // SAFETY: the array came from `Box::into_raw` and was replaced; after the grace
            // period no reader holds it, and the writer, holding the mutex, no longer uses it.
            drop(unsafe { Box::from_raw(old.as_ptr()) });
        }
        self.writer = None;
    }
}

impl<W> Drop for WriteGuard<'_, W> {
    fn drop(&mut self) {
        self.settle();
        // The retired references are dropped after this, outside the mutex.
    }
}
