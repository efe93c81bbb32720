//! Shadow variables: data attached to an existing object without changing its type, keyed by the
//! object's address and an id (the kernel's `klp_shadow_*` API, SPEC §8).
//!
//! A patch that needs one more field in a structure it cannot change keeps that field in a shadow
//! variable. Compared with the kernel:
//!
//! - **Typed.** A [`ShadowId<T>`] carries the data type, so the data is read as the type it was
//!   created with; two ids with the same number and different types are told apart at run time
//!   (a lookup of the wrong type finds nothing, an allocation reports the conflict).
//! - **Safe to hold.** Lookups hand out a [`Shadow<T>`], a counted handle: freeing a variable
//!   removes it from its table and runs the destructor callback, but no handle can ever point to
//!   freed data, and the data is dropped exactly once, when the last handle goes.
//! - **Tied to a state.** A variable created through [`ShadowTable::tied`] follows a system state
//!   of a runtime: it is freed (its data dropped) when no patch on that runtime's list declares the
//!   state any more, and kept while one does (a replacing patch that declares the state takes it
//!   over). Patch authors no longer have to free such variables in the right callback.
//! - **Tables.** [`ShadowTable::global`] is the process-wide table; [`ShadowTable::new`] makes an
//!   independent one (tests, embedders).
//!
//! Messages go to `tracing` with target `livepatch`, in the kernel's words. The kernel prints the
//! key as `<%p, %lx>`; here the object address is printed as `0x` and lower-case hex digits, and
//! the id as lower-case hex digits without a prefix, as the kernel does:
//! `Duplicate shadow variable <0x7ffc4a3e1a00, 1234>`.
//!
//! ```
//! use livepatch::shadow::{ShadowId, ShadowTable};
//!
//! /// How many times a patched `send` retried on this socket.
//! const RETRIES: ShadowId<std::sync::atomic::AtomicU32> = ShadowId::new(0x1234);
//!
//! struct Socket { fd: i32 }
//! let table = ShadowTable::new();
//! let sock = Socket { fd: 3 };
//!
//! let retries = table.get_or_alloc(&sock, RETRIES, Default::default())?;
//! retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//! let again = table.get(&sock, RETRIES).expect("attached above");
//! assert_eq!(again.load(std::sync::atomic::Ordering::Relaxed), 1);
//! table.free(&sock, RETRIES);
//! assert!(table.get(&sock, RETRIES).is_none());
//! # Ok::<(), livepatch::shadow::ShadowError>(())
//! ```
//!
//! # Keys: an address is only as stable as the object's place
//!
//! A variable is keyed by where its object is, as in the kernel, and Rust moves values: after a
//! move (into a `Vec` that grows, out of a function, into a `Box`) a lookup with the object's new
//! place finds nothing, and a new object that comes to live at a freed place finds the old
//! object's variable. Key a variable by something that cannot move while it is attached:
//!
//! - an object behind a pointer: the address inside an `Arc` or a `Box` (`&*arc`), which stays
//!   while the allocation lives, or a `&'static` object;
//! - a pinned object (`Pin<&T>`, `&*pinned`), which by its contract does not move;
//! - an explicit id of your own (a connection number, a file descriptor), as
//!   [`ObjAddr::from_addr`];
//!
//! and free the variable when the object goes ([`ShadowTable::free`], or tie it to a state with
//! [`ShadowTable::tied`]), so that no later object inherits it.
//!
//! ```
//! use std::sync::Arc;
//! use livepatch::shadow::{ObjAddr, ShadowId, ShadowTable};
//!
//! const SEEN: ShadowId<u32> = ShadowId::new(0x1);
//! struct Conn { id: u64 }
//! let table = ShadowTable::new();
//!
//! // A value on the stack moves, and its variable stays behind at the old place.
//! let conn = Conn { id: 7 };
//! table.alloc(&conn, SEEN, 1).expect("a new variable");
//! let moved = Box::new(conn);
//! assert!(table.get(&*moved, SEEN).is_none());
//!
//! // The address inside an `Arc` stays put, whoever holds the `Arc`.
//! let shared = Arc::new(Conn { id: 8 });
//! table.alloc(&*shared, SEEN, 2).expect("a new variable");
//! let elsewhere = Arc::clone(&shared);
//! assert_eq!(table.get(&*elsewhere, SEEN).as_deref(), Some(&2));
//!
//! // An id of one's own does not depend on places at all.
//! table.alloc(ObjAddr::from_addr(elsewhere.id as usize), SEEN, 3).expect("a new variable");
//! assert_eq!(table.get(ObjAddr::from_addr(8), SEEN).as_deref(), Some(&3));
//! ```
//!
//! # Design
//!
//! A table is split into shards, four per core (a power of two from 64 to 256). A shard is an
//! open-addressing array of pointers to variables, which lookups read without taking any lock,
//! and a mutex that writers of that shard take one at a time. A variable is one allocation: a 32-byte header (a reference count, the key, and a
//! pointer to its *class*, which names the data type and, for a tied variable, the tie) followed
//! by the data; a slot is 8 bytes.
//!
//! Lookups never wait. A lookup announces itself in one of its shard's two reader counters, reads
//! the array, counts a reference to the variable it finds, and leaves: two atomic additions
//! around the reads, no lock, no retry. Writers change the array in place (an insertion fills a
//! slot, a removal leaves a tombstone, a resize publishes a new array) and give back what they
//! unlinked (the table's reference to a variable, an old array) only after a grace period: once
//! each reader counter has been seen at zero after the unlink, no reader can still hold it. It is
//! a sleepable-RCU scheme per shard, the kernel's RCU readers in miniature. Writers do not wait
//! for the grace period: if no lookup is inside the shard, what they unlinked is given back at
//! once (a freed variable's data is dropped with its last handle); otherwise the shard keeps it,
//! and later writers of the shard, which look at the reader counters without waiting, give it back
//! once the grace period has passed, as the kernel's `klp_shadow_free` leaves its variable to
//! `kfree_rcu`. A shard keeps at most 1024 variables and 4 arrays so, enough for the writes a
//! shard takes while a lookup inside it waits out a time slice on a busy machine; a writer that
//! would keep more sleeps until the lookups inside have left (their last one wakes it), and so do
//! a state's release and [`ShadowTable::reclaim`]. A writer never spins on a lookup: a lookup
//! preempted in the middle of its few dozen instructions costs no writer its time slice.
//! Constructors, destructors and the data's `Drop` run outside every lock.
//!
//! The constructor of a racing allocation runs exactly once because the first thread leaves a *pending* mark in the
//! shard (invisible to lookups) while its constructor runs; other allocations of the same key
//! wait for that outcome, not for a lock. An allocation made from inside a constructor never
//! waits (it answers as a duplicate, or [`ShadowError::Reentrant`]), so constructors that
//! allocate cannot deadlock each other.

mod node;
mod shard;
mod slots;
mod table;
mod tie;

#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;

use crate::descriptor::StateLabel;

pub use self::node::Shadow;
pub use self::table::ShadowTable;
pub use self::tie::Tied;

/// Called by the runtime, outside its lock, when state `state` of runtime `runtime` is released:
/// no patch on the list declares it any more. Frees every variable tied to it, in every table,
/// whatever its generation (see [`state_releasing`] for releases reported late).
pub(crate) fn state_released(runtime: u64, state: u64) {
    tie::release(runtime, state, None);
}

/// Called by the runtime *under its lock*, at the moment it releases state `state` of runtime
/// `runtime`; returns the generation of the state that this release ends. Variables tied from then
/// on belong to the next generation, so that the report of this release, made later and outside
/// the lock ([`state_generation_released`] with the returned generation), frees only the variables
/// tied before it, even if a newer patch declared the state again in between.
pub(crate) fn state_releasing(runtime: u64, state: u64) -> u64 {
    tie::releasing(runtime, state)
}

/// Called by the runtime, outside its lock, after [`state_releasing`] returned `generation`:
/// frees every variable tied to `state` of `runtime` in that generation or an earlier one.
pub(crate) fn state_generation_released(runtime: u64, state: u64, generation: u64) {
    tie::release(runtime, state, Some(generation));
}

/// Called by the runtime when it is dropped, after its last releases: forgets the generations of
/// its states, which nothing can tie to any more.
pub(crate) fn runtime_dropped(runtime: u64) {
    tie::forget(runtime);
}

/// The id of a shadow variable, carrying the type of its data.
///
/// Ids are `const`-constructible, so a patch declares them next to its states. As in the kernel,
/// an id names one kind of variable: a variable is found by its object and its id, and a later
/// patch that changes the data type should use a new id.
///
/// ```
/// use livepatch::shadow::ShadowId;
///
/// pub struct LeakTimestamp(pub u64);
/// pub const SV_LEAK: ShadowId<LeakTimestamp> = ShadowId::new(1);
/// assert_eq!(SV_LEAK.id(), 1);
/// ```
pub struct ShadowId<T> {
    id: u64,
    _data: PhantomData<fn() -> T>,
}

impl<T> ShadowId<T> {
    /// The id `id`, for data of type `T`.
    pub const fn new(id: u64) -> Self {
        ShadowId {
            id,
            _data: PhantomData,
        }
    }

    /// The numeric id.
    pub const fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Clone for ShadowId<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ShadowId<T> {}

impl<T> PartialEq for ShadowId<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for ShadowId<T> {}

impl<T> std::hash::Hash for ShadowId<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<T> fmt::Debug for ShadowId<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowId")
            .field("id", &format_args!("{:#x}", self.id))
            .field("data", &std::any::type_name::<T>())
            .finish()
    }
}

/// The address of the object a shadow variable is attached to: the kernel's `void *obj`.
///
/// Any reference converts into one (`&socket`), a fat one by its data address. The address is
/// only a key: the table does not borrow the object, so a variable outlives its object unless it
/// is freed when the object goes, as in the kernel. Mind the level of reference: `&socket` and
/// `&&socket` are different addresses, and an `ObjAddr` is passed by value (`&addr` would be the
/// address of the local variable `addr`).
///
/// ```
/// use livepatch::shadow::ObjAddr;
///
/// let value = 5u64;
/// let addr = ObjAddr::of(&value);
/// assert_eq!(addr, ObjAddr::from(&value));
/// assert_eq!(addr.addr(), &value as *const u64 as usize);
/// assert_eq!(ObjAddr::from_addr(0x10).to_string(), "0x10");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjAddr(usize);

impl ObjAddr {
    /// The address of `obj`.
    pub fn of<O: ?Sized>(obj: &O) -> Self {
        ObjAddr(std::ptr::from_ref(obj).cast::<()>() as usize)
    }

    /// A raw address, for objects known only by address, or an explicit id of one's own, which
    /// unlike an address does not change when the object moves (see the module's "Keys").
    pub const fn from_addr(addr: usize) -> Self {
        ObjAddr(addr)
    }

    /// The address as a number.
    pub const fn addr(self) -> usize {
        self.0
    }
}

impl<O: ?Sized> From<&O> for ObjAddr {
    fn from(obj: &O) -> Self {
        ObjAddr::of(obj)
    }
}

impl fmt::Display for ObjAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for ObjAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A variable's key as messages print it: `<0x55d0c0ffee00, 1234>` (the kernel's `<%p, %lx>`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) obj: ObjAddr,
    pub(crate) id: u64,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}, {:x}>", self.obj, self.id)
    }
}

/// Why a shadow variable could not be had.
///
/// `E` is the error type of the constructor, [`Infallible`] when a value is given instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShadowError<E = Infallible> {
    /// A variable with this object and id exists, with data of another type.
    #[error(
        "shadow variable <{obj}, {id:x}> holds data of type `{existing}`, not `{requested}`: \
         give each data type its own id"
    )]
    TypeMismatch {
        /// The object.
        obj: ObjAddr,
        /// The id.
        id: u64,
        /// The type of the existing variable's data.
        existing: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// A constructor asked for a variable that is being constructed (its own, or one another
    /// thread is building). A constructor never waits for another constructor, since the wait
    /// could close a cycle; nothing was inserted.
    #[error(
        "a constructor asked for shadow variable <{obj}, {id:x}> while it is being constructed: \
         a constructor must not wait for a variable under construction, its own or another's"
    )]
    Reentrant {
        /// The object.
        obj: ObjAddr,
        /// The id.
        id: u64,
    },
    /// The constructor failed; nothing was inserted. The constructor's error need not be an
    /// [`std::error::Error`], so the message says it, and [`std::error::Error::source`] does not
    /// return it again.
    #[error("failed to construct shadow variable <{obj}, {id:x}>: {error}")]
    Constructor {
        /// The object.
        obj: ObjAddr,
        /// The id.
        id: u64,
        /// The constructor's error.
        error: E,
    },
    /// The variable was to be tied to a state that no patch on the runtime's list declares, so it
    /// would never be released; nothing was inserted.
    #[error(
        "{state} is not declared by any patch on the runtime: tie shadow variables to a \
         state of an installed patch (or allocate them untied)"
    )]
    StateNotDeclared {
        /// The state.
        state: StateLabel,
    },
}
