//! The shadow-variable table: sharded, with lookups that take no lock and wait for nothing, and
//! constructors that run exactly once, outside every lock.

use std::any::type_name;
use std::cell::Cell;
use std::fmt::Display;
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock, PoisonError};

use super::node::{Class, ClassRef, ErasedRef, Shadow};
use super::shard::{Lookup, Miss, Shard, WriteGuard};
use super::slots::Vacancy;
use super::{Key, ObjAddr, ShadowError, ShadowId};

/// The fewest shards a table has. Fewer make lookups of two threads meet on one shard's reader
/// counter too often: with 16, two threads' lookups took about 1.4 times as long (BENCHMARKS.md).
const MIN_SHARDS: usize = 64;

/// The most shards a table has: an empty table takes 128 bytes a shard.
const MAX_SHARDS: usize = 256;

/// Shards per table, the same for every table of the process: four per core it may run on, so
/// that as many writers as there are cores rarely meet on one mutex, as a power of two from
/// [`MIN_SHARDS`] to [`MAX_SHARDS`].
fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        (4 * cores)
            .next_power_of_two()
            .clamp(MIN_SHARDS, MAX_SHARDS)
    })
}

/// Keys whose constructor is running, kept by writers under a shard's mutex; lookups do not see
/// them.
type PendingKeys = Vec<Pending>;

type TableShard = Shard<PendingKeys>;

// An empty table is its shards, each one 128-byte line pair.
const _: () = assert!(size_of::<TableShard>() == 128);

thread_local! {
    /// How many constructors this thread is running (a constructor may allocate other variables).
    static CONSTRUCTING: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as running a constructor while it lives, unwinding included.
struct Constructing;

impl Constructing {
    fn enter() -> Self {
        CONSTRUCTING.with(|c| c.set(c.get() + 1));
        Constructing
    }

    fn active() -> bool {
        CONSTRUCTING.with(|c| c.get() > 0)
    }
}

impl Drop for Constructing {
    fn drop(&mut self) {
        CONSTRUCTING.with(|c| c.set(c.get() - 1));
    }
}

/// A key whose constructor is running. Allocations of the same key wait for its outcome on
/// `waiters`, made by the first of them, so an allocation nobody races for allocates nothing here.
pub(super) struct Pending {
    obj: usize,
    id: u64,
    waiters: Option<Arc<Waiters>>,
}

/// Where allocations wait for a constructor to finish.
#[derive(Default)]
struct Waiters {
    done: Mutex<bool>,
    finished: Condvar,
}

impl Waiters {
    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        while !*done {
            done = self
                .finished
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn finish(&self) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.finished.notify_all();
    }
}

/// The right to insert one key, held while its constructor runs. Dropped without inserting (the
/// constructor failed or panicked), it withdraws the pending mark and wakes the waiters, who then
/// try for themselves.
struct Claim<'a> {
    shard: &'a TableShard,
    hash: u64,
    obj: usize,
    id: u64,
    /// The variable to insert, once constructed.
    node: Option<ErasedRef>,
}

impl Claim<'_> {
    /// Inserts the constructed variable (when the claim is dropped, just below).
    fn insert(mut self, node: ErasedRef) {
        self.node = Some(node);
    }
}

impl Drop for Claim<'_> {
    /// Settles the claim: inserts the variable if there is one, withdraws the pending mark, and
    /// wakes the allocations waiting for it.
    fn drop(&mut self) {
        let waiters = {
            let mut shard = self.shard.write();
            if let Some(node) = self.node.take() {
                shard.insert(self.hash, node);
            }
            let (obj, id) = (self.obj, self.id);
            let pending = shard.extra();
            let mine = pending.iter().position(|p| p.obj == obj && p.id == id);
            mine.and_then(|i| pending.swap_remove(i).waiters)
        };
        if let Some(waiters) = waiters {
            waiters.finish();
        }
    }
}

/// What an allocation finds under a shard's mutex.
enum Found<R> {
    Existing(ErasedRef),
    Reentrant,
    /// Neither the pair nor a constructor of it: what the allocation did with the free pair.
    Free(R),
}

/// The variable an allocation of a value inserts: made already, or to be made under the mutex.
enum Made<T> {
    Ready((ErasedRef, Shadow<T>)),
    Later(ClassRef, T),
}

/// What an allocation found or made.
pub(super) enum Insert<T> {
    /// The variable was inserted (after its constructor, if it has one, ran).
    New(Shadow<T>),
    /// The pair exists already (maybe with data of another type); no constructor ran.
    Existing(ErasedRef),
    /// The pair is being constructed, and this call comes from a constructor, which must not
    /// wait.
    Reentrant,
}

impl<T: Send + Sync + 'static> Insert<T> {
    /// As `alloc` answers: the new variable, or none (with the kernel's warning) if the pair exists.
    pub(super) fn into_new(self, key: Key) -> Option<Shadow<T>> {
        match self {
            Insert::New(shadow) => Some(shadow),
            Insert::Existing(_) | Insert::Reentrant => {
                crate::messages::event!(warn, "Duplicate shadow variable {key}");
                None
            }
        }
    }

    /// As `get_or_alloc` answers: the variable, new or existing, if it is of type `T`.
    pub(super) fn into_any<E>(self, key: Key) -> Result<Shadow<T>, ShadowError<E>> {
        match self {
            Insert::New(shadow) => Ok(shadow),
            Insert::Existing(node) => node.typed().ok_or_else(|| ShadowError::TypeMismatch {
                obj: key.obj,
                id: key.id,
                existing: node.header().class().type_name(),
                requested: type_name::<T>(),
            }),
            Insert::Reentrant => Err(ShadowError::Reentrant {
                obj: key.obj,
                id: key.id,
            }),
        }
    }
}

/// A table's shards; shared with the registry of tables that tied variables need.
pub(super) struct TableInner {
    /// [`shard_count`] of them.
    shards: Box<[TableShard]>,
    /// Set once the table is in the registry that state releases search.
    registered: Once,
    /// Called by writers while they hold a shard's mutex, with where they are and the key
    /// written: lets tests stall a writer in the middle of a write.
    #[cfg(test)]
    pub(super) mid_write: Mutex<Option<MidWrite>>,
}

/// Where a writer holding a shard's mutex is, for [`TableInner::mid_write`].
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WritePoint {
    /// Just locked, about to look for the key.
    Locked,
    /// A removal has taken the variable out of the array, and not yet given it back.
    Unlinked,
}

#[cfg(test)]
pub(super) type MidWrite = Arc<dyn Fn(WritePoint, usize, u64) + Send + Sync>;

/// The hash of a key: two rounds of a folded 64×64→128-bit multiply. Object addresses are not
/// chosen by an adversary, so a keyed hash (SipHash) would only cost time; the multiply spreads
/// the aligned low bits of addresses over the whole word, which the shard choice (bits 32 to 40),
/// the slot (the top bits) and the slot's tag (the low 3 bits) all need.
#[inline]
pub(super) fn hash_key((obj, id): (usize, u64)) -> u64 {
    const K1: u64 = 0x243f_6a88_85a3_08d3;
    const K2: u64 = 0x1319_8a2e_0370_7344;
    const K3: u64 = 0xa409_3822_299f_31d0;
    fn folded(a: u64, b: u64) -> u64 {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    }
    folded(folded(obj as u64 ^ K1, K2) ^ id, K3)
}

impl Default for TableInner {
    fn default() -> Self {
        TableInner {
            shards: (0..shard_count()).map(|_| Shard::default()).collect(),
            registered: Once::new(),
            #[cfg(test)]
            mid_write: Mutex::new(None),
        }
    }
}

impl TableInner {
    #[inline]
    fn locate(&self, obj: usize, id: u64) -> (u64, &TableShard) {
        let hash = hash_key((obj, id));
        (hash, &self.shards[shard_index(hash, self.shards.len())])
    }

    /// Locks `shard` for writing.
    #[inline]
    fn write<'a>(&self, shard: &'a TableShard, key: (usize, u64)) -> WriteGuard<'a, PendingKeys> {
        let guard = shard.write();
        #[cfg(test)]
        self.mid_write(WritePoint::Locked, key);
        #[cfg(not(test))]
        let _ = key;
        guard
    }

    #[cfg(test)]
    fn mid_write(&self, point: WritePoint, (obj, id): (usize, u64)) {
        let hook = self
            .mid_write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(hook) = hook {
            hook(point, obj, id);
        }
    }

    pub(super) fn shards(&self) -> &[TableShard] {
        &self.shards
    }

    fn get<T: Send + Sync + 'static>(&self, obj: usize, id: u64) -> Option<Shadow<T>> {
        self.get_or_miss(obj, id).unwrap_or(None)
    }

    /// As `get`, but if the pair is missing, what the lookup saw, for an insertion that follows.
    pub(super) fn get_or_miss<T: Send + Sync + 'static>(
        &self,
        obj: usize,
        id: u64,
    ) -> Result<Option<Shadow<T>>, Miss> {
        let (hash, shard) = self.locate(obj, id);
        shard.read(hash, (obj, id), ErasedRef::into_typed)
    }

    /// Finds the pair under the shard's mutex, waiting while another thread constructs it; if the
    /// pair is free, `take` does with it what the allocation wants, under the mutex. `miss` is
    /// what a lookup of the pair just before saw, if it missed.
    fn find_or<R>(
        &self,
        hash: u64,
        shard: &TableShard,
        (obj, id): (usize, u64),
        mut miss: Option<Miss>,
        take: impl FnOnce(&mut WriteGuard<'_, PendingKeys>, Vacancy) -> R,
    ) -> Found<R> {
        loop {
            let other = {
                let mut guard = self.write(shard, (obj, id));
                let vacancy = match guard.lookup_after(miss.take(), hash, (obj, id)) {
                    Lookup::Found(node) => return Found::Existing(node),
                    Lookup::Missing(vacancy) => vacancy,
                };
                match guard
                    .extra()
                    .iter_mut()
                    .find(|p| p.obj == obj && p.id == id)
                {
                    // A constructor never waits for another one: the wait could close a cycle
                    // (its own variable, or one whose constructor waits for this one).
                    Some(_) if Constructing::active() => return Found::Reentrant,
                    Some(p) => Arc::clone(p.waiters.get_or_insert_with(Arc::default)),
                    None => return Found::Free(take(&mut guard, vacancy)),
                }
            };
            other.wait();
        }
    }

    /// An allocation with a constructor: the existing pair, or a new one built by `ctor`, run
    /// exactly once and outside every lock. A failed constructor inserts nothing and logs the
    /// kernel's error.
    pub(super) fn insert_with<T, E>(
        &self,
        key: Key,
        class: ClassRef,
        miss: Option<Miss>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Insert<T>, E>
    where
        T: Send + Sync + 'static,
        E: Display,
    {
        let (obj, id) = (key.obj.addr(), key.id);
        let (hash, shard) = self.locate(obj, id);
        let mark = |guard: &mut WriteGuard<'_, PendingKeys>, _| {
            guard.extra().push(Pending {
                obj,
                id,
                waiters: None,
            });
            Claim {
                shard,
                hash,
                obj,
                id,
                node: None,
            }
        };
        let claim = match self.find_or(hash, shard, (obj, id), miss, mark) {
            Found::Existing(node) => return Ok(Insert::Existing(node)),
            Found::Reentrant => return Ok(Insert::Reentrant),
            Found::Free(claim) => claim,
        };
        let constructing = Constructing::enter();
        let result = ctor();
        drop(constructing);
        let data = match result {
            Ok(data) => data,
            Err(err) => {
                crate::messages::event!(error, "Failed to construct shadow variable {key} ({err})");
                return Err(err);
            }
        };
        let (node, shadow) = ErasedRef::new((obj, id), class, data);
        claim.insert(node);
        Ok(Insert::New(shadow))
    }

    /// An allocation of a value the caller made: no user code runs, so the variable is inserted
    /// under one lock of the shard's mutex. If the pair exists, `value` is dropped once the mutex
    /// is released.
    ///
    /// When a lookup just missed the pair (`miss`), the variable is made before the mutex is
    /// taken: its `malloc` then does not lengthen the critical section that every other writer of
    /// the shard waits for, which matters most when a writer is preempted inside it. Should the
    /// pair have appeared meanwhile, the variable made in vain is dropped after the unlock.
    /// Without such a miss (an `alloc`, or a pair of another type) the variable is made only once
    /// the pair is known to be free.
    pub(super) fn insert_value<T>(
        &self,
        key: Key,
        class: ClassRef,
        miss: Option<Miss>,
        value: T,
    ) -> Insert<T>
    where
        T: Send + Sync + 'static,
    {
        let (obj, id) = (key.obj.addr(), key.id);
        let (hash, shard) = self.locate(obj, id);
        let made = match miss {
            Some(_) => Made::Ready(ErasedRef::new((obj, id), class, value)),
            None => Made::Later(class, value),
        };
        // `find_or` drops `make`, and with it a variable made in vain, after its guard.
        let make = |guard: &mut WriteGuard<'_, PendingKeys>, vacancy| {
            let (node, shadow) = match made {
                Made::Ready(made) => made,
                Made::Later(class, value) => ErasedRef::new((obj, id), class, value),
            };
            guard.insert_at(vacancy, hash, node);
            shadow
        };
        match self.find_or(hash, shard, (obj, id), miss, make) {
            Found::Existing(existing) => Insert::Existing(existing),
            Found::Reentrant => Insert::Reentrant,
            Found::Free(shadow) => Insert::New(shadow),
        }
    }

    /// Removes the variable `shadow` is a handle of, if it is still in the table; returns the
    /// table's reference to it.
    pub(super) fn remove<T: Send + Sync + 'static>(&self, shadow: &Shadow<T>) -> Option<ErasedRef> {
        let (obj, id) = (shadow.obj().addr(), shadow.id().id());
        let (hash, shard) = self.locate(obj, id);
        let mine = shadow.erased();
        let mut guard = self.write(shard, (obj, id));
        guard.remove_if(hash, (obj, id), |h| std::ptr::eq(h, mine.header()));
        guard.finish().into_last()
    }

    /// Removes the pair if its data is a `T`; returns the table's reference to it.
    fn take<T: Send + Sync + 'static>(&self, obj: usize, id: u64) -> Option<ErasedRef> {
        let (hash, shard) = self.locate(obj, id);
        let mut guard = self.write(shard, (obj, id));
        guard.remove_if(hash, (obj, id), |h| h.class().is::<T>());
        #[cfg(test)]
        self.mid_write(WritePoint::Unlinked, (obj, id));
        guard.finish().into_last()
    }

    fn take_all<T: Send + Sync + 'static>(&self, id: u64) -> Vec<ErasedRef> {
        let mut removed = Vec::new();
        for shard in &self.shards {
            let mut guard = self.write(shard, (0, id));
            guard.remove_all(|h| h.key().1 == id && h.class().is::<T>());
            removed.extend(guard.finish());
        }
        removed
    }

    fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }
}

/// The shard of a hash among `shards`, a power of two.
#[inline]
pub(super) fn shard_index(hash: u64, shards: usize) -> usize {
    debug_assert!(shards.is_power_of_two());
    (hash >> 32) as usize & (shards - 1)
}

/// The shard of a hash in every table of this process.
#[cfg(test)]
pub(super) fn shard_of(hash: u64) -> usize {
    shard_index(hash, shard_count())
}

/// A table of shadow variables.
///
/// [`ShadowTable::global`] is the process-wide table, the kernel's single hash table. Independent
/// tables ([`ShadowTable::new`]) keep tests and embedders apart; a table's variables are dropped
/// with it (handles still held keep their data until they go).
///
/// Every operation is safe to call from any thread, and from a shadow variable's own constructor
/// or destructor. Lookups ([`get`](Self::get)) take no lock and never wait: not for a
/// constructor, a destructor, another lookup or a writer in the middle of an insertion or removal
/// (see the [module documentation](super#design)).
///
/// ```
/// use livepatch::shadow::{ShadowId, ShadowTable};
///
/// const SV_NAME: ShadowId<String> = ShadowId::new(0x1234);
/// let table = ShadowTable::new();
/// let obj = [0u8; 16];
///
/// assert!(table.get(&obj, SV_NAME).is_none());
/// let name = table.alloc(&obj, SV_NAME, "first".to_owned()).expect("not there yet");
/// assert_eq!(*name, "first");
/// // A second alloc of the pair warns and gives nothing; the variable is untouched.
/// assert!(table.alloc(&obj, SV_NAME, "second".to_owned()).is_none());
/// assert_eq!(*table.get(&obj, SV_NAME).unwrap(), "first");
/// assert_eq!(table.free_all(SV_NAME), 1);
/// assert!(table.is_empty());
/// ```
#[derive(Default)]
pub struct ShadowTable {
    pub(super) inner: Arc<TableInner>,
}

impl std::fmt::Debug for ShadowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowTable")
            .field("len", &self.len())
            .finish()
    }
}

impl ShadowTable {
    /// A new, empty table, independent of every other.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide table.
    ///
    /// ```
    /// use livepatch::shadow::{ShadowId, ShadowTable};
    ///
    /// const SV_FLAG: ShadowId<bool> = ShadowId::new(0xf1a9);
    /// let obj = Box::new([0u8; 8]);
    /// ShadowTable::global().alloc(&*obj, SV_FLAG, true);
    /// assert_eq!(ShadowTable::global().get(&*obj, SV_FLAG).as_deref(), Some(&true));
    /// assert!(ShadowTable::global().free(&*obj, SV_FLAG));
    /// ```
    pub fn global() -> &'static ShadowTable {
        static GLOBAL: OnceLock<ShadowTable> = OnceLock::new();
        GLOBAL.get_or_init(ShadowTable::new)
    }

    /// Puts the table in the registry that state releases search, once.
    pub(super) fn register(&self) {
        self.inner
            .registered
            .call_once(|| super::tie::register(Arc::downgrade(&self.inner)));
    }

    /// The variable `id` of `obj` (the kernel's `klp_shadow_get`), or `None` if there is none or
    /// its data is not a `T`.
    pub fn get<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
    ) -> Option<Shadow<T>> {
        self.inner.get(obj.into().addr(), id.id())
    }

    /// Attaches a new variable holding `value` (the kernel's `klp_shadow_alloc` without a
    /// constructor). If the pair exists already, logs the warning
    /// `Duplicate shadow variable <OBJ, ID>` and returns `None`, leaving the existing variable
    /// untouched (and dropping `value`).
    pub fn alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        value: T,
    ) -> Option<Shadow<T>> {
        let key = key(obj, id);
        self.inner
            .insert_value(key, plain::<T>(), None, value)
            .into_new(key)
    }

    /// Attaches a new variable built by `ctor` (the kernel's `klp_shadow_alloc` with a
    /// constructor). The constructor runs only if the pair does not exist, exactly once even when
    /// threads race for the pair, and outside every lock. If the pair exists, logs
    /// `Duplicate shadow variable <OBJ, ID>` and returns `Ok(None)`. If the constructor fails,
    /// nothing is inserted, the error `Failed to construct shadow variable <OBJ, ID> (ERR)` is
    /// logged and the constructor's error returned.
    ///
    /// ```
    /// use livepatch::shadow::{ShadowId, ShadowTable};
    ///
    /// const SV_COUNT: ShadowId<u32> = ShadowId::new(2);
    /// let table = ShadowTable::new();
    /// let obj = 0u64;
    /// assert_eq!(table.alloc_with(&obj, SV_COUNT, || Err("no memory")), Err("no memory"));
    /// assert!(table.get(&obj, SV_COUNT).is_none());
    /// let count = table.alloc_with(&obj, SV_COUNT, || Ok::<_, &str>(41))?;
    /// assert_eq!(count.as_deref(), Some(&41));
    /// # Ok::<(), &str>(())
    /// ```
    pub fn alloc_with<T, E>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Option<Shadow<T>>, E>
    where
        T: Send + Sync + 'static,
        E: Display,
    {
        let key = key(obj, id);
        Ok(self
            .inner
            .insert_with(key, plain::<T>(), None, ctor)?
            .into_new(key))
    }

    /// The existing variable, or a new one holding `value` (the kernel's
    /// `klp_shadow_get_or_alloc` without a constructor). Fails only if the pair exists with data of
    /// another type, or, from inside a constructor, if the pair is being constructed
    /// ([`ShadowError::Reentrant`]).
    pub fn get_or_alloc<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        value: T,
    ) -> Result<Shadow<T>, ShadowError> {
        let key = key(obj, id);
        self.get_or_insert(key, |miss| {
            Ok(self.inner.insert_value(key, plain::<T>(), miss, value))
        })
    }

    /// The existing variable (the constructor does not run), or a new one built by `ctor` (the
    /// kernel's `klp_shadow_get_or_alloc`). The constructor runs as for
    /// [`alloc_with`](Self::alloc_with); threads racing for one pair all get the one variable.
    ///
    /// ```
    /// use livepatch::shadow::{ShadowError, ShadowId, ShadowTable};
    ///
    /// const SV_TAG: ShadowId<&'static str> = ShadowId::new(3);
    /// let table = ShadowTable::new();
    /// let obj = ();
    /// let first = table.get_or_alloc_with(&obj, SV_TAG, || Ok::<_, String>("built"))?;
    /// let again = table.get_or_alloc_with(&obj, SV_TAG, || Err("not run".to_owned()))?;
    /// assert_eq!(*again, "built");
    /// assert!(livepatch::shadow::Shadow::ptr_eq(&first, &again));
    /// # Ok::<(), ShadowError<String>>(())
    /// ```
    pub fn get_or_alloc_with<T, E>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Shadow<T>, ShadowError<E>>
    where
        T: Send + Sync + 'static,
        E: Display,
    {
        let key = key(obj, id);
        self.get_or_insert(key, |miss| {
            with_ctor(key, ctor)(&self.inner, plain::<T>(), miss)
        })
    }

    /// `get_or_alloc`: the existing variable, found without any lock, or what
    /// `insert` finds or makes, told what the lookup saw if it missed.
    pub(super) fn get_or_insert<T: Send + Sync + 'static, E>(
        &self,
        key: Key,
        insert: impl FnOnce(Option<Miss>) -> Result<Insert<T>, ShadowError<E>>,
    ) -> Result<Shadow<T>, ShadowError<E>> {
        match self.inner.get_or_miss(key.obj.addr(), key.id) {
            Ok(Some(found)) => Ok(found),
            // Of another type: the insertion finds it and says so.
            Ok(None) => insert(None)?.into_any(key),
            Err(miss) => insert(Some(miss))?.into_any(key),
        }
    }

    /// Frees the variable `id` of `obj` (the kernel's `klp_shadow_free` without a destructor):
    /// removes it so that lookups miss it; its data is dropped once no handle holds it and no
    /// lookup that was reading its shard at the time of the free is still running (see
    /// [`reclaim`](Self::reclaim)). Returns whether there was such a variable (with data of type
    /// `T`); a missing pair is no error.
    pub fn free<T: Send + Sync + 'static>(&self, obj: impl Into<ObjAddr>, id: ShadowId<T>) -> bool {
        self.free_with(obj, id, |_, _| {})
    }

    /// Frees the variable as [`free`](Self::free) does, first calling `dtor` with the object and
    /// the data once the variable is out of the table (the kernel's `klp_shadow_free` with a
    /// destructor). The destructor does not run when there is no such variable.
    pub fn free_with<T: Send + Sync + 'static>(
        &self,
        obj: impl Into<ObjAddr>,
        id: ShadowId<T>,
        dtor: impl FnOnce(ObjAddr, &T),
    ) -> bool {
        let key = key(obj, id);
        let Some(node) = self.inner.take::<T>(key.obj.addr(), key.id) else {
            return false;
        };
        dtor(key.obj, node.data::<T>().expect("taken only if of type T"));
        true
    }

    /// Frees every variable with id `id` (the kernel's `klp_shadow_free_all` without a
    /// destructor); returns how many there were.
    pub fn free_all<T: Send + Sync + 'static>(&self, id: ShadowId<T>) -> usize {
        self.free_all_with(id, |_, _| {})
    }

    /// Frees every variable with id `id`, calling `dtor` for each, in no particular order, once
    /// they are all out of the table (the kernel's `klp_shadow_free_all` with a destructor);
    /// returns how many there were.
    pub fn free_all_with<T: Send + Sync + 'static>(
        &self,
        id: ShadowId<T>,
        mut dtor: impl FnMut(ObjAddr, &T),
    ) -> usize {
        let removed = self.inner.take_all::<T>(id.id());
        for node in &removed {
            if let Some(data) = node.data::<T>() {
                dtor(ObjAddr::from_addr(node.header().key().0), data);
            }
        }
        removed.len()
    }

    /// Gives back now everything the table keeps for lookups that were reading when it was
    /// freed: waits (asleep) for the lookups inside each shard to leave, then drops the data of
    /// the variables freed before this call that no handle holds, and frees replaced arrays.
    ///
    /// A free never waits for lookups: a variable freed while a lookup reads its shard stays in
    /// memory until the lookups that might be reading it have left, and is given back by a later
    /// write to its shard (at most 1024 per shard are kept so), by this function or with the
    /// table. Call this where the data of freed variables must be gone, such as before counting
    /// what is left.
    ///
    /// ```
    /// use livepatch::shadow::{ShadowId, ShadowTable};
    /// use std::sync::Arc;
    ///
    /// const SV_BUF: ShadowId<Arc<()>> = ShadowId::new(9);
    /// let table = ShadowTable::new();
    /// let data = Arc::new(());
    /// let obj = 0u8;
    /// table.alloc(&obj, SV_BUF, Arc::clone(&data));
    /// table.free(&obj, SV_BUF);
    /// table.reclaim();
    /// assert_eq!(Arc::strong_count(&data), 1);
    /// ```
    pub fn reclaim(&self) {
        for shard in self.inner.shards() {
            shard.write().finish_now();
        }
    }

    /// How many variables the table holds.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the table holds no variable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(super) fn key<T>(obj: impl Into<ObjAddr>, id: ShadowId<T>) -> Key {
    Key {
        obj: obj.into(),
        id: id.id(),
    }
}

/// The class of plain variables of type `T`.
pub(super) fn plain<T: Send + Sync + 'static>() -> ClassRef {
    ClassRef::Static(Class::plain::<T>())
}

/// The insertion of a variable built by `ctor`, with the constructor's error as a
/// [`ShadowError`].
pub(super) fn with_ctor<T, E>(
    key: Key,
    ctor: impl FnOnce() -> Result<T, E>,
) -> impl FnOnce(&TableInner, ClassRef, Option<Miss>) -> Result<Insert<T>, ShadowError<E>>
where
    T: Send + Sync + 'static,
    E: Display,
{
    move |inner, class, miss| {
        inner
            .insert_with(key, class, miss, ctor)
            .map_err(|error| ShadowError::Constructor {
                obj: key.obj,
                id: key.id,
                error,
            })
    }
}
