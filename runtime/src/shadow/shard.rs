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
//! new array. What a writer has unlinked (a node's table reference, an old array) is kept until a
//! *grace period* has passed, that is until each reader counter has been seen at zero after the
//! unlink, and given back only then. A reader that announced itself before that zero was seen has
//! left; one that announced itself after it reads the array after the unlink (both sides use
//! sequentially consistent operations: the writer stores, then reads the counter; the reader adds
//! to the counter, then reads the array), so it cannot reach what was unlinked. The two zeros
//! need not be seen at once, nor by the same writer: writers are ordered by the shard's mutex.
//!
//! Writers do not wait for a grace period. Before it unlocks, a writer reads each counter once:
//! if both are at zero, everything unlinked so far goes back at once (the common case, and the
//! only one on a quiet table: a freed variable's data is dropped with its last handle). If not,
//! the shard keeps what this writer unlinked (`Retired`), and each later writer, reading the
//! counters the same way, ends the grace period in progress once both have been seen at zero
//! since it began, and gives back what it covered. Writers switch readers away from the counter
//! a grace period still waits on, so a stream of new readers cannot hold it up: only readers
//! already inside, each a few dozen instructions of table reading with no user code, do. A
//! reader preempted in there thus delays only the reclamation of what it might be reading, never
//! a writer.
//!
//! So that what a shard keeps stays bounded, a writer that would keep more than
//! `MAX_RETIRED_NODES` nodes or `MAX_RETIRED_ARRAYS` arrays waits for the readers inside instead,
//! asleep: it marks the counter's top bit and parks, and the reader that leaves the counter last
//! sees the bit and unparks it. A state's release and `ShadowTable::reclaim` wait the same way,
//! so that what they free is given back before they return.
//!
//! A lookup that misses also hands back the slot an insertion of its key would take and the count
//! of array changes it read in the shard's phase word (Acquire, before the array; writers add to
//! the count after each change, under the mutex). The writer that then locks the shard to insert
//! the key uses that slot only if the count is still the same, and probes again otherwise
//! (`Miss`).
//!
//! The table holds one count of every node in it; the count is given back after the grace period,
//! so a reader that finds a node can always add its own.

use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::Thread;

use super::node::{ErasedRef, Header};
use super::slots::{
    ArrayHead, Probe, Slot, Slots, Vacancy, decode, encode, free_array, new_array, next, start,
    tombstone,
};

/// Load limit: an insertion that would fill more than 13/16 of the slots (live and tombstones)
/// rebuilds the array first.
const MAX_LOAD: (usize, usize) = (13, 16);

/// Rebuilt arrays are sized for a load of 13/24 (the limit over 1.5): the array grows by 1.5×
/// rather than 2×, which keeps the memory per variable low.
const REBUILT_LOAD: (usize, usize) = (13, 24);

const MIN_CAPACITY: usize = 4;

/// What a lookup that missed its key saw: where an insertion of the key would go, if the array
/// has not changed since. The writer that takes the shard's mutex next checks that it has not
/// (the same count of changes in the shard's phase: a rebuild counts too) before it trusts the
/// vacancy; otherwise it looks again.
pub(super) struct Miss {
    changes: usize,
    vacancy: Vacancy,
}

/// What a writer's lookup found.
pub(super) enum Lookup {
    /// A counted reference to the key's node.
    Found(ErasedRef),
    /// The key is not in the shard; where its insertion would go.
    Missing(Vacancy),
}

/// One shard, alone on its cache lines so that shards do not slow each other down.
#[repr(align(128))]
pub(super) struct Shard<W> {
    /// Readers inside, counted on the side the phase's parity names when they came in; the top
    /// bit ([`WAITING`]) is set while a writer sleeps until that side's readers have left.
    readers: [AtomicUsize; 2],
    /// The low bit names the counter new readers count on; the other bits count the changes of
    /// the array (writers add [`CHANGE`] after each), so that the insertion that follows a lookup
    /// that missed can tell whether the array is still as the lookup saw it. Only writers change
    /// it, under the mutex.
    phase: AtomicUsize,
    /// The array, from [`new_array`]; null until the first insertion.
    slots: AtomicPtr<ArrayHead>,
    /// The sleeping writer's thread (from `Box::into_raw`), for the reader that leaves last to
    /// wake; null when no writer sleeps, or once a reader took it.
    sleeper: AtomicPtr<Thread>,
    writer: Mutex<Writer<W>>,
}

#[cfg(test)]
thread_local! {
    /// Called by this thread's lookups once they are counted in their shard, before they read
    /// it: lets tests stall a lookup in the middle of its read.
    pub(super) static MID_READ: std::cell::RefCell<Option<Box<dyn Fn()>>> =
        const { std::cell::RefCell::new(None) };
}

/// The top bit of a reader counter: a writer sleeps until the side's readers have left.
const WAITING: usize = 1 << (usize::BITS - 1);

/// What a writer adds to a shard's phase when it has changed the array: the phase's bits but the
/// lowest count changes.
const CHANGE: usize = 2;

/// At most this many unlinked variables a shard keeps for lookups that may still be reading
/// them; a writer that would keep more waits for those lookups instead. Sized for a lookup that is
/// preempted inside the shard for a whole time slice while other threads go on freeing: on two
/// cores shared by five busy threads (the `mixed` bench), a bound of 64 made a writer sleep about
/// twenty times in four million calls (each time until the preempted lookup ran again), a bound
/// of 1024 not once. At most about 1024 × 48 bytes plus the data per shard are held so, as the
/// kernel lets freed shadow variables wait for RCU without a bound per writer.
pub(super) const MAX_RETIRED_NODES: usize = 1024;

/// The same for replaced arrays (a rebuild makes one).
const MAX_RETIRED_ARRAYS: u8 = 4;

/// What writers keep, under the shard's mutex.
struct Writer<W> {
    live: usize,
    /// Slots not empty: live variables and tombstones.
    used: usize,
    /// Live variables tied to a state, so that a release skips the shards with none.
    tied: usize,
    /// The caller's own bookkeeping.
    extra: W,
    /// What was unlinked and lookups may still be reading.
    retired: Retired,
}

impl<W: Default> Default for Shard<W> {
    fn default() -> Self {
        Shard {
            readers: [AtomicUsize::new(0), AtomicUsize::new(0)],
            phase: AtomicUsize::new(0),
            slots: AtomicPtr::new(ptr::null_mut()),
            sleeper: AtomicPtr::new(ptr::null_mut()),
            writer: Mutex::new(Writer {
                live: 0,
                used: 0,
                tied: 0,
                extra: W::default(),
                retired: Retired::default(),
            }),
        }
    }
}

/// One thing unlinked: the table's reference to a variable, or a replaced array.
enum Unlinked {
    Node(ErasedRef),
    /// From [`new_array`]; readers may still read it until it is freed.
    Slots(NonNull<ArrayHead>),
}

// SAFETY: an array is atomics only, so it may be freed from any thread, and an `Unlinked` is
// the only owner of its array (readers only read it, and only until the grace period ends).
unsafe impl Send for Unlinked {}

impl Unlinked {
    /// Frees an array at once (no user code runs); a node's reference goes to `nodes`, to be
    /// given back outside the mutex.
    ///
    /// # Safety
    ///
    /// A grace period has passed since this was unlinked: no reader can still reach it.
    unsafe fn reclaim(self, nodes: &mut Vec<ErasedRef>) {
        match self {
            Unlinked::Node(node) => nodes.push(node),
            // SAFETY: the array came from `new_array` and was replaced; no reader holds it (the
            // caller's promise), and no writer uses a replaced array.
            Unlinked::Slots(old) => unsafe { free_array(old) },
        }
    }
}

/// What a shard's writers unlinked and lookups may still be reading, oldest first, given back
/// once a grace period has passed since it was unlinked. Writers poll the reader counters
/// without waiting: the grace period of the oldest `grace` entries began at an earlier poll, and
/// `seen` says which counters have been seen at zero since; the newer entries wait for the next
/// grace period, which begins when that one ends.
#[derive(Default)]
struct Retired {
    entries: Vec<Unlinked>,
    grace: u32,
    seen: [bool; 2],
    arrays: u8,
}

impl Retired {
    fn push(&mut self, entry: Unlinked) {
        self.arrays += u8::from(matches!(entry, Unlinked::Slots(_)));
        self.entries.push(entry);
    }

    /// Whether the shard keeps as much as it may.
    fn full(&self) -> bool {
        self.arrays > MAX_RETIRED_ARRAYS
            || self.entries.len() - usize::from(self.arrays) > MAX_RETIRED_NODES
    }

    /// Takes in that each counter `s` with `zero[s]` was just seen at zero, after every entry
    /// was unlinked; reclaims the entries whose grace period that ends (every entry if both
    /// counters were seen at zero). Returns the counter a grace period still waits on.
    fn advance(&mut self, zero: [bool; 2], nodes: &mut Vec<ErasedRef>) -> Option<usize> {
        let seen = [self.seen[0] || zero[0], self.seen[1] || zero[1]];
        let ended = if seen == [true, true] {
            self.grace as usize
        } else {
            0
        };
        let ended = if zero == [true, true] {
            self.entries.len()
        } else {
            ended
        };
        for entry in self.entries.drain(..ended) {
            self.arrays -= u8::from(matches!(entry, Unlinked::Slots(_)));
            // SAFETY: the entry was unlinked before both counters were seen at zero, each after
            // it: every reader that could reach it has left (the module documentation).
            unsafe { entry.reclaim(nodes) };
        }
        if ended > 0 || self.grace == 0 {
            // A new grace period for every entry left, all unlinked before this poll.
            self.grace = u32::try_from(self.entries.len()).expect("bounded by `full`");
            self.seen = zero;
        } else {
            self.seen = seen;
        }
        if self.grace == 0 {
            // Nothing kept: give the memory of the list back too.
            self.entries = Vec::new();
            return None;
        }
        self.seen.iter().position(|&s| !s)
    }
}

/// Leaves the reader counter when dropped, unwinding included, and wakes the writer that waits
/// for it if this reader is the last one it waits for.
struct Reading<'a> {
    counter: &'a AtomicUsize,
    sleeper: &'a AtomicPtr<Thread>,
}

impl Drop for Reading<'_> {
    #[inline]
    fn drop(&mut self) {
        // SeqCst, not just Release, so that every change of a reader counter is sequentially
        // consistent: a writer's SeqCst load that follows a reader's increment in the single
        // total order then reads that increment or a later change, never an older value.
        if self.counter.fetch_sub(1, Ordering::SeqCst) == WAITING | 1 {
            wake(self.sleeper);
        }
    }
}

/// Wakes the writer that sleeps until the readers of a counter have left, if it has not been
/// woken yet: the last reader out calls this. Rare, so kept out of every lookup's code.
#[cold]
#[inline(never)]
fn wake(sleeper: &AtomicPtr<Thread>) {
    let sleeper = sleeper.swap(ptr::null_mut(), Ordering::SeqCst);
    if let Some(sleeper) = NonNull::new(sleeper) {
        // SAFETY: the pointer came from `Box::into_raw` (`Shard::wait_for`), and the swap made
        // this reader its only owner.
        unsafe { Box::from_raw(sleeper.as_ptr()) }.unpark();
    }
}

impl<W> Shard<W> {
    /// Looks `key` up without waiting for anything: a counted reference to its node, handed to
    /// `take`. If the key is missing, says where its insertion would go, for the writer that may
    /// insert it next ([`Miss`]).
    pub(super) fn read<R>(
        &self,
        hash: u64,
        key: (usize, u64),
        take: impl FnOnce(ErasedRef) -> Option<R>,
    ) -> Result<Option<R>, Miss> {
        // Acquire: a writer adds to the phase after its change of the array, so this lookup
        // reads the array as that change left it, or later (see `Miss`).
        let phase = self.phase.load(Ordering::Acquire);
        let side = phase & 1;
        self.readers[side].fetch_add(1, Ordering::SeqCst);
        let _reading = Reading {
            counter: &self.readers[side],
            sleeper: &self.sleeper,
        };
        #[cfg(test)]
        MID_READ.with(|hook| hook.borrow().as_ref().map(|h| h()));
        let slots = self.slots.load(Ordering::SeqCst);
        let miss = |vacancy| Miss {
            changes: phase & !1,
            vacancy,
        };
        // SAFETY: an array is freed only after a grace period that follows its replacement, and
        // this reader is counted, so one it loaded is alive until it leaves.
        let Some(array) = NonNull::new(slots) else {
            return Err(miss(Vacancy {
                slot: None,
                empty: true,
            }));
        };
        let mut found = None;
        // SAFETY: as above; the array came from `new_array`.
        let probe = unsafe { Slots::of(array) }.probe_by(hash, Ordering::SeqCst, |node| {
            // A node whose tag matches is counted before its key is read: the atomic addition
            // then fetches the node's cache line, whose count other threads' handles keep
            // changing, ready for writing at once, rather than first for reading (the key) and
            // then again for writing (the count).
            // SAFETY: a node in a slot is alive while this reader is counted in the shard (the
            // table's count is given back only after a grace period).
            let counted = unsafe { ErasedRef::acquire(node) };
            let hit = counted.header().key() == key;
            if hit {
                found = Some(counted);
            }
            // Otherwise the count is given back here, never the last: the table holds one.
            hit
        });
        match (probe, found) {
            (Probe::Found(..), Some(node)) => Ok(take(node)),
            (Probe::Missing(vacancy), _) => Err(miss(vacancy)),
            (Probe::Found(..), None) => unreachable!("a node is found only once counted"),
        }
    }

    /// Locks the shard for writing.
    pub(super) fn write(&self) -> WriteGuard<'_, W> {
        WriteGuard {
            shard: self,
            // No user code runs under a shard's mutex, so a poisoned one only means a panic in
            // this module (out of memory); its contents are still consistent.
            writer: ManuallyDrop::new(self.writer.lock().unwrap_or_else(PoisonError::into_inner)),
            unlinked: ManuallyDrop::new(Unlinks::default()),
        }
    }

    /// How many variables the shard holds.
    pub(super) fn len(&self) -> usize {
        self.write().len()
    }

    /// Whether a writer sleeps until the readers of this shard have left.
    #[cfg(test)]
    pub(super) fn writer_sleeps(&self) -> bool {
        self.readers
            .iter()
            .any(|r| r.load(Ordering::SeqCst) & WAITING != 0)
    }

    /// Which reader counters are at zero now (read once each, after everything unlinked
    /// before this call).
    fn idle(&self) -> [bool; 2] {
        let zero = |side: usize| self.readers[side].load(Ordering::SeqCst) & !WAITING == 0;
        [zero(0), zero(1)]
    }

    /// Sends new readers to the other counter than `side`, so that `side` drains.
    fn drain(&self, side: usize) {
        if self.phase.load(Ordering::Relaxed) & 1 == side {
            self.phase.fetch_xor(1, Ordering::SeqCst);
        }
    }

    /// Sleeps until each reader counter has been seen at zero: every reader that may have seen
    /// what was unlinked before this call has left. Called under the shard's mutex, so one
    /// writer at a time sleeps here.
    fn synchronize(&self) {
        for side in 0..2 {
            if self.readers[side].load(Ordering::SeqCst) & !WAITING != 0 {
                self.drain(side);
                self.wait_for(side);
            }
        }
    }

    /// Sleeps until counter `side` is seen at zero; the reader that leaves it last wakes this
    /// thread (`Reading`'s drop). No spinning: a reader preempted in the middle of its lookup
    /// costs this writer a sleep, not the CPU time that reader needs to finish.
    fn wait_for(&self, side: usize) {
        let counter = &self.readers[side];
        let readers_in = || counter.load(Ordering::SeqCst) & !WAITING != 0;
        counter.fetch_or(WAITING, Ordering::SeqCst);
        while readers_in() {
            // Arm the wake-up (again, if a reader took the last one): the reader that then
            // takes the handle unparks this thread after this store, so the `park` below
            // returns, and the loop checks again.
            if self.sleeper.load(Ordering::SeqCst).is_null() {
                let me = Box::into_raw(Box::new(std::thread::current()));
                self.sleeper.store(me, Ordering::SeqCst);
            }
            if !readers_in() {
                break;
            }
            std::thread::park();
        }
        counter.fetch_and(!WAITING, Ordering::SeqCst);
        let left = self.sleeper.swap(ptr::null_mut(), Ordering::SeqCst);
        if let Some(left) = NonNull::new(left) {
            // SAFETY: from `Box::into_raw` above; the swap made this writer its only owner.
            drop(unsafe { Box::from_raw(left.as_ptr()) });
        }
    }
}

impl<W> Drop for Shard<W> {
    fn drop(&mut self) {
        let retired = &mut self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .retired;
        let mut nodes = Vec::new();
        // Both "counters" are at zero: the shard being dropped, no reader is left.
        retired.advance([true, true], &mut nodes);
        drop(nodes);
        let Some(array) = NonNull::new(*self.slots.get_mut()) else {
            return;
        };
        // SAFETY: the array came from `new_array` and, the shard being dropped, no reader or
        // writer can reach it any more.
        for (_, node) in unsafe { Slots::of(array) }.nodes() {
            // SAFETY: the table holds one count of every node in its array, given back here.
            drop(unsafe { ErasedRef::from_raw(node) });
        }
        // SAFETY: as above; the nodes were taken out just before.
        unsafe { free_array(array) };
    }
}

/// A shard locked for writing. When it is dropped, or by [`WriteGuard::finish`], what it
/// unlinked is given back if no reader can still reach it, and kept in the shard otherwise, to be
/// given back by a later writer once the grace period has passed, without waiting for it (see
/// the module documentation); node references are given back outside the mutex (a node's data
/// may run user code when dropped).
pub(super) struct WriteGuard<'a, W> {
    shard: &'a Shard<W>,
    writer: ManuallyDrop<MutexGuard<'a, Writer<W>>>,
    /// Table references of nodes unlinked under this guard. (Arrays it replaces go straight to
    /// the shard's `Retired`, as raw pointers: readers may still be reading them, and a `Box`
    /// would claim them as unique.)
    unlinked: ManuallyDrop<Unlinks>,
}

/// Counted references to the nodes unlinked under one guard, in the order unlinked. Most writes
/// unlink one node at most, which is kept here without a heap allocation.
#[derive(Default)]
pub(super) struct Unlinks {
    first: Option<ErasedRef>,
    rest: Vec<ErasedRef>,
}

impl Unlinks {
    #[inline]
    fn push(&mut self, node: ErasedRef) {
        if self.first.is_none() {
            self.first = Some(node);
        } else {
            self.rest.push(node);
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Drops the references, if any, without the call to drop glue when there are none and no
    /// list was allocated (the common case after a write).
    #[inline]
    fn discard(self) {
        if self.first.is_none() && self.rest.capacity() == 0 {
            // Owns nothing: an empty option and a vector that never allocated.
            std::mem::forget(self);
        } else {
            drop(self);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &ErasedRef> {
        self.first.iter().chain(&self.rest)
    }

    /// The node unlinked last; the others are given back.
    #[inline]
    pub(super) fn into_last(mut self) -> Option<ErasedRef> {
        let last = self.rest.pop().or_else(|| self.first.take());
        self.discard();
        last
    }
}

impl IntoIterator for Unlinks {
    type Item = ErasedRef;
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<ErasedRef>, std::vec::IntoIter<ErasedRef>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

impl<'a, W> WriteGuard<'a, W> {
    fn writer(&self) -> &Writer<W> {
        &self.writer
    }

    fn writer_mut(&mut self) -> &mut Writer<W> {
        &mut self.writer
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

    fn slots(&self) -> Option<Slots<'_>> {
        let array = NonNull::new(self.shard.slots.load(Ordering::Relaxed))?;
        // SAFETY: the array came from `new_array`; only writers replace or free it, and this one
        // holds the mutex.
        Some(unsafe { Slots::of(array) })
    }

    /// Counts a change of the array, after it was made (see [`Miss`]).
    fn changed(&self) {
        // Only writers change the phase, under the mutex: no other thread changes it in between.
        let phase = self.shard.phase.load(Ordering::Relaxed);
        self.shard
            .phase
            .store(phase.wrapping_add(CHANGE), Ordering::Release);
    }

    /// As [`lookup`](Self::lookup), but trusting `miss`, a lookup's finding that the key is
    /// missing, if the array has not changed since that lookup read it.
    pub(super) fn lookup_after(&self, miss: Option<Miss>, hash: u64, key: (usize, u64)) -> Lookup {
        if let Some(miss) = miss {
            // Relaxed: the mutex orders this after every writer's change of the phase.
            let changes = self.shard.phase.load(Ordering::Relaxed) & !1;
            if miss.changes == changes {
                // No writer changed the array since the lookup loaded `changes` (each adds to
                // it before it unlocks, and this one holds the mutex), and that lookup read the
                // array as the last change left it (the phase's Acquire load): the key is still
                // missing, and its vacancy still free.
                return Lookup::Missing(miss.vacancy);
            }
        }
        self.lookup(hash, key)
    }

    /// A counted reference to the node of `key` if it is in the shard, or where its insertion
    /// would go.
    pub(super) fn lookup(&self, hash: u64, key: (usize, u64)) -> Lookup {
        let Some(slots) = self.slots() else {
            return Lookup::Missing(Vacancy {
                slot: None,
                empty: true,
            });
        };
        match slots.probe(hash, key) {
            // SAFETY: the node is in the array, which this writer alone changes.
            Probe::Found(_, node) => Lookup::Found(unsafe { ErasedRef::acquire(node) }),
            Probe::Missing(vacancy) => Lookup::Missing(vacancy),
        }
    }

    /// Inserts `node`, whose key must not be in the shard; the table takes over its reference.
    pub(super) fn insert(&mut self, hash: u64, node: ErasedRef) {
        match self.lookup(hash, node.header().key()) {
            Lookup::Missing(vacancy) => self.insert_at(vacancy, hash, node),
            Lookup::Found(_) => unreachable!("inserted a key the shard holds"),
        }
    }

    /// Inserts `node` where [`lookup`](Self::lookup) found its key missing, under this guard and
    /// with no change of the array since; the table takes over its reference. If the slot is
    /// empty and filling it would load the array past its limit, rebuilds the array first.
    pub(super) fn insert_at(&mut self, vacancy: Vacancy, hash: u64, node: ErasedRef) {
        let (live, used) = (self.writer().live, self.writer().used);
        let capacity = self.slots().map_or(0, Slots::capacity);
        let fits = |v: &Vacancy| !v.empty || (used + 1) * MAX_LOAD.1 <= capacity * MAX_LOAD.0;
        let vacancy = match vacancy {
            v @ Vacancy { slot: Some(_), .. } if fits(&v) => v,
            _ => {
                let wanted = ((live + 1) * REBUILT_LOAD.1).div_ceil(REBUILT_LOAD.0);
                self.rebuild(wanted.max(MIN_CAPACITY));
                let slots = self.slots().expect("rebuilt just above");
                match slots.probe(hash, node.header().key()) {
                    Probe::Missing(v) => v,
                    Probe::Found(..) => unreachable!("inserted a key the shard holds"),
                }
            }
        };
        let slots = self.slots().expect("a vacancy is in the array");
        let i = vacancy.slot.expect("a rebuilt array has empty slots");
        debug_assert!(!matches!(
            decode(slots.slot(i).load(Ordering::Relaxed)),
            Slot::Node(_)
        ));
        let tied = node.header().class().tie().is_some();
        // Release: a reader that sees the pointer sees the node it points to.
        slots
            .slot(i)
            .store(encode(node.into_raw(), hash), Ordering::Release);
        let writer = self.writer_mut();
        writer.live += 1;
        writer.tied += usize::from(tied);
        writer.used += usize::from(vacancy.empty);
        self.changed();
    }

    /// Moves every node into a new array of `capacity` slots (tombstones are dropped) and
    /// publishes it; the old one is freed after a grace period.
    fn rebuild(&mut self, capacity: usize) {
        let new_head = new_array(capacity);
        // SAFETY: just made, and not yet published: this writer alone reaches it.
        let new = unsafe { Slots::of(new_head) };
        let mut live = 0;
        if let Some(old) = self.slots() {
            for (_, node) in old.nodes() {
                // SAFETY: the node is in the array, so alive.
                let hash = super::table::hash_key(unsafe { node.as_ref() }.key());
                let mut i = start(hash, capacity);
                while !new.slot(i).load(Ordering::Relaxed).is_null() {
                    i = next(i, capacity);
                }
                new.slot(i).store(encode(node, hash), Ordering::Relaxed);
                live += 1;
            }
        }
        // SeqCst and Release: readers that load the new array see its slots filled (the
        // grace period's argument for the old one is in the module documentation).
        let old = self.shard.slots.swap(new_head.as_ptr(), Ordering::SeqCst);
        if let Some(old) = NonNull::new(old) {
            // Kept like anything unlinked while readers are inside: freed at this guard's settle
            // if no reader is, after a grace period otherwise.
            self.writer_mut().retired.push(Unlinked::Slots(old));
        }
        let writer = self.writer_mut();
        debug_assert_eq!(writer.live, live);
        writer.used = live;
        self.changed();
    }

    /// Unlinks the node in slot `i`; its table reference is given back after a grace period.
    fn unlink(&mut self, i: usize, node: NonNull<Header>) {
        let slots = self.slots().expect("a node was found in it");
        slots.slot(i).store(tombstone(), Ordering::SeqCst);
        // SAFETY: the node was in the array, so alive.
        let tied = unsafe { node.as_ref() }.class().tie().is_some();
        let writer = self.writer_mut();
        writer.live -= 1;
        writer.tied -= usize::from(tied);
        // SAFETY: the table's count of the node, no longer reachable from the array.
        self.unlinked.push(unsafe { ErasedRef::from_raw(node) });
        self.changed();
    }

    /// Unlinks the node of `key` if `pred` holds for it; returns whether it did.
    pub(super) fn remove_if(
        &mut self,
        hash: u64,
        key: (usize, u64),
        pred: impl FnOnce(&Header) -> bool,
    ) -> bool {
        let found = self.slots().and_then(|s| {
            let (i, node) = s.find(hash, key)?;
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

    /// Unlocks the shard and hands over a counted reference to each node unlinked under this
    /// guard, in the order they were unlinked. Does not wait for readers: what they may still
    /// read is given back later (see [`WriteGuard`]).
    pub(super) fn finish(self) -> Unlinks {
        self.into_parts().settle(false)
    }

    /// As [`finish`](Self::finish), but first sleeps until the readers inside have left if
    /// there are any, so that everything unlinked in the shard so far is given back before it
    /// returns: a node's data is dropped with its last handle.
    pub(super) fn finish_now(self) -> Unlinks {
        self.into_parts().settle(true)
    }

    /// The guard's parts, to settle without running its `Drop`.
    #[inline]
    fn into_parts(self) -> Unsettled<'a, W> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped nor used again.
        unsafe { this.take_parts() }
    }

    /// Takes the locked writer and what was unlinked out of the guard.
    ///
    /// # Safety
    ///
    /// Called once, after which the guard is neither used nor dropped (or is being dropped).
    #[inline]
    unsafe fn take_parts(&mut self) -> Unsettled<'a, W> {
        // SAFETY: the caller's promise: each part is taken out once, and not read again.
        unsafe {
            Unsettled {
                shard: self.shard,
                writer: ManuallyDrop::take(&mut self.writer),
                unlinked: ManuallyDrop::take(&mut self.unlinked),
            }
        }
    }
}

/// A write guard's parts: the shard, its locked writer, and what was unlinked.
struct Unsettled<'a, W> {
    shard: &'a Shard<W>,
    writer: MutexGuard<'a, Writer<W>>,
    unlinked: Unlinks,
}

impl<W> Unsettled<'_, W> {
    /// Gives back what no reader can reach any more, keeps the rest in the shard, and unlocks;
    /// returns a counted reference to each node unlinked under the guard. If `wait`, or if the
    /// shard would keep more than it may, first sleeps until the readers inside have left, so
    /// that nothing is kept.
    #[inline]
    fn settle(self, wait: bool) -> Unlinks {
        // The common cases: the shard keeps nothing, and the write unlinked nothing or no
        // reader is inside (then the table's references go to the caller as they are).
        if self.writer.retired.entries.is_empty()
            && (self.unlinked.is_empty() || self.shard.idle() == [true, true])
        {
            return self.unlinked;
        }
        self.settle_kept(wait)
    }

    /// [`settle`](Self::settle) when the shard keeps something, or readers are inside.
    #[inline(never)]
    fn settle_kept(self, wait: bool) -> Unlinks {
        let Unsettled {
            shard,
            mut writer,
            unlinked,
        } = self;
        let mut zero = shard.idle();
        let unlinked = if zero == [true, true] || unlinked.is_empty() {
            // No reader is inside, or nothing to keep: the table's references (if any) go to
            // the caller.
            unlinked
        } else {
            let mut counted = Unlinks::default();
            for node in unlinked.iter() {
                counted.push(node.clone());
            }
            for node in unlinked {
                writer.retired.push(Unlinked::Node(node));
            }
            counted
        };
        if zero != [true, true] && (wait || writer.retired.full()) {
            shard.synchronize();
            zero = [true, true];
        }
        let mut reclaimed = Vec::new();
        // With nothing kept, no grace period is in progress and there is nothing to advance.
        if !writer.retired.entries.is_empty()
            && let Some(side) = writer.retired.advance(zero, &mut reclaimed)
        {
            shard.drain(side);
        }
        drop(writer);
        // Outside the mutex: a node's data may run user code when dropped.
        for node in reclaimed {
            node.drop_contained();
        }
        unlinked
    }
}

impl<W> Drop for WriteGuard<'_, W> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard is being dropped, and its parts are taken out only here.
        let parts = unsafe { self.take_parts() };
        // What was unlinked and not handed over is given back here, outside the mutex.
        parts.settle(false).discard();
    }
}
