//! The shadow-variable table: sharded, with lookups that wait for no user code and constructors
//! that run exactly once, outside every lock.

use std::any::{Any, type_name};
use std::cell::Cell;
use std::fmt::Display;
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock, PoisonError, RwLock};

use hashbrown::HashTable;

use super::node::{ErasedRef, Node, Shadow, Tie, TieSlot, typed};
use super::{Key, ObjAddr, ShadowError, ShadowId};
use crate::messages::TARGET;

/// Shards per table: enough that two threads rarely meet on one lock, few enough that an empty
/// table stays small (64 cache lines).
const SHARDS: usize = 64;

/// One shard, alone on its cache lines so that shards do not slow each other down.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Shard {
    slots: RwLock<Slots>,
}

#[derive(Default)]
pub(super) struct Slots {
    table: HashTable<ErasedRef>,
    /// Keys whose constructor is running; lookups do not see them.
    pending: Vec<Pending>,
    /// How many variables in `table` are tied to a state, so a release skips the shards with none.
    tied: usize,
}

impl Slots {
    fn find(&self, hash: u64, obj: usize, id: u64) -> Option<&ErasedRef> {
        self.table.find(hash, |n| n.key() == (obj, id))
    }

    fn insert(&mut self, hash: u64, node: ErasedRef) {
        if node.tie().is_some() {
            self.tied += 1;
        }
        self.table.insert_unique(hash, node, |n| {
            let (obj, id) = n.key();
            hash_key(obj, id)
        });
    }

    fn forget(&mut self, removed: &ErasedRef) {
        if removed.tie().is_some() {
            self.tied -= 1;
        }
    }

    /// Removes every variable for which `pred` holds.
    pub(super) fn extract(&mut self, pred: impl Fn(&ErasedRef) -> bool) -> Vec<ErasedRef> {
        let removed: Vec<ErasedRef> = self.table.extract_if(|n| pred(n)).collect();
        for node in &removed {
            self.forget(node);
        }
        removed
    }

    pub(super) fn tied(&self) -> usize {
        self.tied
    }
}

impl Shard {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Slots> {
        // No user code runs under a shard lock, so a poisoned one only means a panic in the hash
        // table itself (out of memory); its contents are still consistent.
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Slots> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner)
    }
}

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
struct Pending {
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
    shard: &'a Shard,
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
            let mut slots = self.shard.write();
            if let Some(node) = self.node.take() {
                slots.insert(self.hash, node);
            }
            let (obj, id) = (self.obj, self.id);
            let mine = slots
                .pending
                .iter()
                .position(|p| p.obj == obj && p.id == id);
            mine.and_then(|i| slots.pending.swap_remove(i).waiters)
        };
        if let Some(waiters) = waiters {
            waiters.finish();
        }
    }
}

/// What an allocation finds under a shard's write lock.
enum Found<R> {
    Existing(ErasedRef),
    Reentrant,
    /// Neither the pair nor a constructor of it: what the allocation did with the free pair.
    Free(R),
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
                tracing::warn!(target: TARGET, "Duplicate shadow variable {key}");
                None
            }
        }
    }

    /// As `get_or_alloc` answers: the variable, new or existing, if it is of type `T`.
    pub(super) fn into_any<E>(self, key: Key) -> Result<Shadow<T>, ShadowError<E>> {
        match self {
            Insert::New(shadow) => Ok(shadow),
            Insert::Existing(node) => typed(&node).ok_or_else(|| ShadowError::TypeMismatch {
                obj: key.obj,
                id: key.id,
                existing: node.type_name(),
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
    shards: [Shard; SHARDS],
    /// Set once the table is in the registry that state releases search.
    registered: Once,
}

/// The hash of a key: two rounds of a folded 64×64→128-bit multiply. Object addresses are not
/// chosen by an adversary, so a keyed hash (SipHash) would only cost time; the multiply spreads
/// the aligned low bits of addresses over the whole word, which the shard choice (bits 32..38)
/// and the table (low bits for the bucket, top 7 bits as tag) both need.
fn hash_key(obj: usize, id: u64) -> u64 {
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
            shards: std::array::from_fn(|_| Shard::default()),
            registered: Once::new(),
        }
    }
}

impl TableInner {
    fn locate(&self, obj: usize, id: u64) -> (u64, &Shard) {
        let hash = hash_key(obj, id);
        (hash, &self.shards[(hash >> 32) as usize % SHARDS])
    }

    pub(super) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    fn get<T: Send + Sync + 'static>(&self, obj: usize, id: u64) -> Option<Shadow<T>> {
        let (hash, shard) = self.locate(obj, id);
        let slots = shard.read();
        // The failed downcast of a variable of another type drops a second reference under the
        // lock; the table's own reference keeps the data alive, so no user code runs here.
        slots.find(hash, obj, id).and_then(typed::<T>)
    }

    /// Finds the pair under the shard's write lock, waiting while another thread constructs it;
    /// if the pair is free, `take` does with it what the allocation wants, under the lock.
    fn find_or<R>(
        &self,
        hash: u64,
        shard: &Shard,
        (obj, id): (usize, u64),
        take: impl FnOnce(&mut Slots) -> R,
    ) -> Found<R> {
        loop {
            let other = {
                let mut slots = shard.write();
                if let Some(node) = slots.find(hash, obj, id) {
                    return Found::Existing(Arc::clone(node));
                }
                match slots
                    .pending
                    .iter_mut()
                    .find(|p| p.obj == obj && p.id == id)
                {
                    // A constructor never waits for another one: the wait could close a cycle
                    // (its own variable, or one whose constructor waits for this one).
                    Some(_) if Constructing::active() => return Found::Reentrant,
                    Some(p) => Arc::clone(p.waiters.get_or_insert_with(Arc::default)),
                    None => return Found::Free(take(&mut slots)),
                }
            };
            other.wait();
        }
    }

    /// An allocation with a constructor: the existing pair, or a new one built by `ctor`, run
    /// exactly once and outside every lock. A failed constructor inserts nothing and logs the
    /// kernel's error.
    pub(super) fn insert_with<T, X, E>(
        &self,
        key: Key,
        tie: X,
        ctor: impl FnOnce() -> Result<T, E>,
    ) -> Result<Insert<T>, E>
    where
        T: Send + Sync + 'static,
        X: TieSlot,
        E: Display,
    {
        let (obj, id) = (key.obj.addr(), key.id);
        let (hash, shard) = self.locate(obj, id);
        let mark = |slots: &mut Slots| {
            slots.pending.push(Pending {
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
        let claim = match self.find_or(hash, shard, (obj, id), mark) {
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
                tracing::error!(
                    target: TARGET,
                    "Failed to construct shadow variable {key} ({err})"
                );
                return Err(err);
            }
        };
        let node = Arc::new(Node { obj, id, tie, data });
        let shadow = Shadow::new(Arc::clone(&node));
        claim.insert(node);
        Ok(Insert::New(shadow))
    }

    /// An allocation of a value the caller made: no user code runs, so the variable is made and
    /// inserted under one write lock, and an allocation that finds the pair allocates nothing. If
    /// the pair exists, `value` is dropped once the lock is released.
    pub(super) fn insert_value<T, X>(&self, key: Key, tie: X, value: T) -> Insert<T>
    where
        T: Send + Sync + 'static,
        X: TieSlot,
    {
        let (obj, id) = (key.obj.addr(), key.id);
        let (hash, shard) = self.locate(obj, id);
        let make = |slots: &mut Slots| {
            let node = Arc::new(Node {
                obj,
                id,
                tie,
                data: value,
            });
            slots.insert(hash, node.clone());
            node
        };
        match self.find_or(hash, shard, (obj, id), make) {
            Found::Existing(existing) => Insert::Existing(existing),
            Found::Reentrant => Insert::Reentrant,
            Found::Free(node) => Insert::New(Shadow::new(node)),
        }
    }

    /// Removes the variable `shadow` is a handle of, if it is still in the table.
    pub(super) fn remove<T: Send + Sync + 'static>(&self, shadow: &Shadow<T>) -> Option<ErasedRef> {
        let (obj, id) = (shadow.obj().addr(), shadow.id().id());
        let (hash, shard) = self.locate(obj, id);
        let mut slots = shard.write();
        let entry = slots
            .table
            .find_entry(hash, |n| {
                n.key() == (obj, id) && typed::<T>(n).is_some_and(|s| Shadow::ptr_eq(&s, shadow))
            })
            .ok()?;
        let (node, _) = entry.remove();
        slots.forget(&node);
        Some(node)
    }

    /// Removes the pair if its data is a `T`; returns a handle to it.
    fn take<T: Send + Sync + 'static>(
        &self,
        obj: usize,
        id: u64,
    ) -> Option<(Shadow<T>, ErasedRef)> {
        let (hash, shard) = self.locate(obj, id);
        let mut slots = shard.write();
        let entry = slots
            .table
            .find_entry(hash, |n| n.key() == (obj, id))
            .ok()?;
        let shadow = typed::<T>(entry.get())?;
        let (node, _) = entry.remove();
        slots.forget(&node);
        Some((shadow, node))
    }

    fn take_all<T: Send + Sync + 'static>(&self, id: u64) -> Vec<ErasedRef> {
        let mut removed = Vec::new();
        for shard in &self.shards {
            removed.extend(shard.write().extract(|n| {
                let any: &dyn Any = &**n;
                n.key().1 == id && (any.is::<Node<T, ()>>() || any.is::<Node<T, Tie>>())
            }));
        }
        removed
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().table.len()).sum()
    }
}

/// A table of shadow variables.
///
/// [`ShadowTable::global`] is the process-wide table, the kernel's single hash table. Independent
/// tables ([`ShadowTable::new`]) keep tests and embedders apart; a table's variables are dropped
/// with it (handles still held keep their data until they go).
///
/// Every operation is safe to call from any thread, and from a shadow variable's own constructor
/// or destructor. Lookups ([`get`](Self::get)) never wait for a constructor, a destructor or one
/// another; at most for one hash-table insertion or removal in the same shard (see the
/// [module documentation](super#design)).
///
/// ```
/// use livepatch_runtime::shadow::{ShadowId, ShadowTable};
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
    /// use livepatch_runtime::shadow::{ShadowId, ShadowTable};
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
        self.inner.insert_value(key, (), value).into_new(key)
    }

    /// Attaches a new variable built by `ctor` (the kernel's `klp_shadow_alloc` with a
    /// constructor). The constructor runs only if the pair does not exist, exactly once even when
    /// threads race for the pair, and outside every lock. If the pair exists, logs
    /// `Duplicate shadow variable <OBJ, ID>` and returns `Ok(None)`. If the constructor fails,
    /// nothing is inserted, the error `Failed to construct shadow variable <OBJ, ID> (ERR)` is
    /// logged and the constructor's error returned.
    ///
    /// ```
    /// use livepatch_runtime::shadow::{ShadowId, ShadowTable};
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
        Ok(self.inner.insert_with(key, (), ctor)?.into_new(key))
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
        self.get_or_insert(key, || Ok(self.inner.insert_value(key, (), value)))
    }

    /// The existing variable (the constructor does not run), or a new one built by `ctor` (the
    /// kernel's `klp_shadow_get_or_alloc`). The constructor runs as for
    /// [`alloc_with`](Self::alloc_with); threads racing for one pair all get the one variable.
    ///
    /// ```
    /// use livepatch_runtime::shadow::{ShadowError, ShadowId, ShadowTable};
    ///
    /// const SV_TAG: ShadowId<&'static str> = ShadowId::new(3);
    /// let table = ShadowTable::new();
    /// let obj = ();
    /// let first = table.get_or_alloc_with(&obj, SV_TAG, || Ok::<_, String>("built"))?;
    /// let again = table.get_or_alloc_with(&obj, SV_TAG, || Err("not run".to_owned()))?;
    /// assert_eq!(*again, "built");
    /// assert!(livepatch_runtime::shadow::Shadow::ptr_eq(&first, &again));
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
        self.get_or_insert(key, || with_ctor(key, ctor)(&self.inner, ()))
    }

    /// `get_or_alloc`: the existing variable without taking a shard's write lock, or what
    /// `insert` finds or makes.
    pub(super) fn get_or_insert<T: Send + Sync + 'static, E>(
        &self,
        key: Key,
        insert: impl FnOnce() -> Result<Insert<T>, ShadowError<E>>,
    ) -> Result<Shadow<T>, ShadowError<E>> {
        match self.inner.get(key.obj.addr(), key.id) {
            Some(found) => Ok(found),
            None => insert()?.into_any(key),
        }
    }

    /// Frees the variable `id` of `obj` (the kernel's `klp_shadow_free` without a destructor):
    /// removes it so that lookups miss it; its data is dropped once no handle holds it. Returns
    /// whether there was such a variable (with data of type `T`); a missing pair is no error.
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
        match self.inner.take::<T>(key.obj.addr(), key.id) {
            Some((shadow, _node)) => {
                dtor(key.obj, &shadow);
                true
            }
            None => false,
        }
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
            if let Some(shadow) = typed::<T>(node) {
                dtor(shadow.obj(), &shadow);
            }
        }
        removed.len()
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

/// The insertion of a variable built by `ctor`, with the constructor's error as a
/// [`ShadowError`].
pub(super) fn with_ctor<T, X, E>(
    key: Key,
    ctor: impl FnOnce() -> Result<T, E>,
) -> impl FnOnce(&TableInner, X) -> Result<Insert<T>, ShadowError<E>>
where
    T: Send + Sync + 'static,
    X: TieSlot,
    E: Display,
{
    move |inner, tie| {
        inner
            .insert_with(key, tie, ctor)
            .map_err(|source| ShadowError::Constructor {
                obj: key.obj,
                id: key.id,
                source,
            })
    }
}
