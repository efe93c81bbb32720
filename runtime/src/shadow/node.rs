//! One shadow variable as stored: a 32-byte header (reference count, class, key) followed by the
//! data, in one allocation; [`Shadow`], the typed handle readers get; and [`ErasedRef`], the
//! table's untyped one.
//!
//! The node is counted by hand rather than by `Arc` so that a table slot is one thin pointer and
//! the header carries one count (no weak count): that is what keeps a variable's cost beyond its
//! data under the kernel's 48 bytes. The data type is erased behind the node's *class*: a static
//! per type for plain variables, and for tied ones a class shared by every variable of that type
//! tied to the same state generation, so a tie costs no bytes per variable.

use std::any::{TypeId, type_name};
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use super::{Key, ObjAddr, ShadowId};
use crate::callback::contained;

/// The state a tied variable follows: freed when generation `generation` of `state` ends on
/// runtime `runtime`, that is when that state is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tie {
    pub(super) runtime: u64,
    pub(super) state: u64,
    pub(super) generation: u64,
}

/// What a node's data is: its type, how to destroy it, and for tied variables the tie.
pub(super) struct Class {
    /// The data's type, here rather than in the table of operations so that the type check of
    /// every lookup is one load fewer.
    type_id: TypeId,
    vt: &'static VTable,
    tie: Option<Tie>,
}

/// The operations of one data type.
struct VTable {
    type_name: fn() -> &'static str,
    /// Drops the data and frees the node; called once, when its count reaches zero.
    destroy: unsafe fn(NonNull<Header>),
}

impl Class {
    /// The class of plain (untied) variables of type `T`: a static.
    pub(super) fn plain<T: Send + Sync + 'static>() -> &'static Class {
        const {
            &Class {
                type_id: TypeId::of::<T>(),
                vt: vtable::<T>(),
                tie: None,
            }
        }
    }

    /// A class of variables of type `T` tied to `tie`, to be shared by every such variable.
    pub(super) fn tied<T: Send + Sync + 'static>(tie: Tie) -> Class {
        Class {
            type_id: TypeId::of::<T>(),
            vt: vtable::<T>(),
            tie: Some(tie),
        }
    }

    pub(super) fn tie(&self) -> Option<Tie> {
        self.tie
    }

    #[inline]
    pub(super) fn is<T: 'static>(&self) -> bool {
        self.type_id == TypeId::of::<T>()
    }

    pub(super) fn type_name(&self) -> &'static str {
        (self.vt.type_name)()
    }
}

const fn vtable<T: Send + Sync + 'static>() -> &'static VTable {
    const {
        &VTable {
            type_name: type_name::<T>,
            destroy: destroy::<T>,
        }
    }
}

/// Where a node's class lives.
#[derive(Clone)]
pub(super) enum ClassRef {
    Static(&'static Class),
    /// Shared by the tied variables of one type and tie; each node holds one count.
    Shared(Arc<Class>),
}

/// The header every node starts with; a table slot points to it.
#[repr(C)]
pub(super) struct Header {
    /// Counted references: the table's (while the variable is in it) and every handle's.
    count: AtomicUsize,
    /// A `&'static Class`, or a pointer from `Arc::into_raw` (tied variables); `Class::tie`
    /// tells which.
    class: NonNull<Class>,
    obj: usize,
    id: u64,
}

// `Header` is at offset 0 of every node and slots keep 3 tag bits in the pointer's low bits.
const _: () = assert!(align_of::<Header>() >= 8);

impl Header {
    #[inline]
    pub(super) fn key(&self) -> (usize, u64) {
        (self.obj, self.id)
    }

    #[inline]
    pub(super) fn class(&self) -> &Class {
        // SAFETY: `class` is a `&'static Class`, or holds one count of an `Arc<Class>` that is
        // given back only when the node is destroyed, after the last reference to it.
        unsafe { self.class.as_ref() }
    }

    /// Counts one more reference to this node (the caller makes it from the node's pointer, not
    /// from this reference, whose provenance covers only the header).
    #[inline]
    fn acquire(&self) {
        // As `Arc::clone`: the caller holds a reference (or reads the node under the table's
        // read protection, during which the table's own reference keeps it alive), so the count
        // is not zero and a relaxed increment is enough.
        let old = self.count.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort();
        }
    }
}

/// Gives back one counted reference to `node`, destroying it if that was the last.
///
/// # Safety
///
/// The caller owns one counted reference to a live node and does not use it afterwards.
#[inline]
unsafe fn release(node: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the node alive until the decrement.
    let header = unsafe { node.as_ref() };
    if header.count.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    // As `Arc`'s drop: every other reference's uses happen before this point.
    fence(Ordering::Acquire);
    let destroy = header.class().vt.destroy;
    // SAFETY: the count reached zero, so this is the only reference left; `destroy` is the one
    // of the node's own type.
    unsafe { destroy(node) }
}

/// A node with its data.
#[repr(C)]
struct Node<T> {
    header: Header,
    data: T,
}

/// Drops the data of a `Node<T>` and frees it, and gives back its class count.
///
/// # Safety
///
/// `node` points to a `Node<T>` made by [`ErasedRef::new`] whose count has reached zero.
unsafe fn destroy<T>(node: NonNull<Header>) {
    /// Frees the node and gives back its class count, even if the data's `Drop` panics.
    struct Free<T>(NonNull<Node<MaybeUninit<T>>>);
    impl<T> Drop for Free<T> {
        fn drop(&mut self) {
            // SAFETY: the node came from a `Box<Node<T>>` (`ErasedRef::new`), which has the
            // layout of a `Node<MaybeUninit<T>>`; its data was dropped in place (or its drop
            // unwound), and the header needs no drop, so this only frees the memory. A shared
            // class is given back the count `Arc::into_raw` gave the node.
            unsafe {
                let class = self.0.as_ref().header.class;
                let shared = class.as_ref().tie.is_some();
                drop(Box::from_raw(self.0.as_ptr()));
                if shared {
                    drop(Arc::from_raw(class.as_ptr().cast_const()));
                }
            }
        }
    }
    let free = Free::<T>(node.cast());
    // SAFETY: the caller guarantees a `Node<T>` with no other reference; its data is dropped
    // exactly once, here.
    unsafe { std::ptr::drop_in_place(&raw mut (*node.cast::<Node<T>>().as_ptr()).data) };
    drop(free);
}

/// One counted reference to a node, its data type erased: what the table holds, and what an
/// allocation that finds an existing variable gets.
pub(super) struct ErasedRef {
    node: NonNull<Header>,
}

// SAFETY: nodes are made only from data that is `Send + Sync` (`ErasedRef::new`), the header is
// atomics and immutable fields, and the count makes the last owner, on whatever thread, the one
// that drops the data: the same reasoning as `Arc<T>: Send + Sync` for `T: Send + Sync`.
unsafe impl Send for ErasedRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for ErasedRef {}

impl ErasedRef {
    /// A new node holding `data`, with two counts: the reference returned (the table's, once
    /// inserted) and a typed handle to it (the caller's).
    pub(super) fn new<T: Send + Sync + 'static>(
        (obj, id): (usize, u64),
        class: ClassRef,
        data: T,
    ) -> (Self, Shadow<T>) {
        let class = match class {
            ClassRef::Static(c) => NonNull::from(c),
            ClassRef::Shared(c) => {
                debug_assert!(c.tie.is_some(), "a shared class is a tied one");
                // SAFETY: `Arc::into_raw` never returns null.
                unsafe { NonNull::new_unchecked(Arc::into_raw(c).cast_mut()) }
            }
        };
        let node = Box::new(Node {
            header: Header {
                count: AtomicUsize::new(2),
                class,
                obj,
                id,
            },
            data,
        });
        let node = NonNull::from(Box::leak(node));
        let shadow = Shadow {
            node,
            _data: PhantomData,
        };
        (ErasedRef { node: node.cast() }, shadow)
    }

    /// Takes over one counted reference to `node`.
    ///
    /// # Safety
    ///
    /// The caller owns one counted reference to a live node and hands it over.
    #[inline]
    pub(super) unsafe fn from_raw(node: NonNull<Header>) -> Self {
        ErasedRef { node }
    }

    /// Gives the reference up as a pointer, for the table's slots.
    #[inline]
    pub(super) fn into_raw(self) -> NonNull<Header> {
        std::mem::ManuallyDrop::new(self).node
    }

    /// A new counted reference to `node`.
    ///
    /// # Safety
    ///
    /// `node` points to a live node, kept alive while this runs (by a counted reference or by
    /// the table's read protection).
    #[inline]
    pub(super) unsafe fn acquire(node: NonNull<Header>) -> Self {
        // SAFETY: the caller keeps the node alive.
        unsafe { node.as_ref() }.acquire();
        ErasedRef { node }
    }

    #[inline]
    pub(super) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the node alive.
        unsafe { self.node.as_ref() }
    }

    /// The node's data, if it is a `T`, borrowed from this reference (no count is taken).
    pub(super) fn data<T: Send + Sync + 'static>(&self) -> Option<&T> {
        if !self.header().class().is::<T>() {
            return None;
        }
        // SAFETY: a node of class `T` is a `Node<T>` (`ErasedRef::new`), and `node` has the
        // provenance of the whole node; this reference keeps it alive, and its data is only ever
        // shared.
        Some(unsafe { &(*self.node.cast::<Node<T>>().as_ptr()).data })
    }

    /// A typed handle to the node if its data is a `T`.
    pub(super) fn typed<T: Send + Sync + 'static>(&self) -> Option<Shadow<T>> {
        // SAFETY: this reference keeps the node alive.
        unsafe { Shadow::from_node(self.node) }
    }

    /// This reference as a typed handle if the data is a `T` (the handle takes over the count);
    /// otherwise gives it back.
    #[inline]
    pub(super) fn into_typed<T: Send + Sync + 'static>(self) -> Option<Shadow<T>> {
        if !self.header().class().is::<T>() {
            return None;
        }
        // A node of class `T` is a `Node<T>` (`ErasedRef::new`).
        Some(Shadow {
            node: self.into_raw().cast(),
            _data: PhantomData,
        })
    }

    /// Gives this reference back; if it was the last, the data is dropped, and a panic of its
    /// `Drop` is logged and contained rather than unwound into the caller.
    pub(super) fn drop_contained(self) {
        let (obj, id) = self.header().key();
        let key = Key {
            obj: ObjAddr::from_addr(obj),
            id,
        };
        if let Err(panic) = contained(move || drop(self)) {
            crate::messages::event!(error, "dropping shadow variable {key} panicked: {panic}");
        }
    }
}

impl Clone for ErasedRef {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: this reference keeps the node alive.
        unsafe { ErasedRef::acquire(self.node) }
    }
}

impl Drop for ErasedRef {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this reference is counted and not used again.
        unsafe { release(self.node) }
    }
}

/// A shadow variable's data, shared: what [`get`](super::ShadowTable::get) and the allocating
/// functions hand out.
///
/// The handle keeps the data alive, so it can never point to freed memory: freeing the variable
/// removes it from its table (later lookups miss it) and runs the destructor callback if one is
/// given, but the data itself is dropped, exactly once, when the table and every handle have let
/// go of it. Data that must change after it is attached uses interior mutability (an atomic, a
/// `Mutex`), as it is shared between threads.
///
/// ```
/// use livepatch::shadow::{ShadowId, ShadowTable};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// const RETRIES: ShadowId<AtomicU32> = ShadowId::new(7);
/// let table = ShadowTable::new();
/// let conn = String::from("a connection the patch cannot change");
///
/// let retries = table.alloc(&conn, RETRIES, AtomicU32::new(0)).expect("new variable");
/// retries.fetch_add(1, Ordering::Relaxed);
/// assert!(table.free(&conn, RETRIES));
/// assert!(table.get(&conn, RETRIES).is_none());
/// // The handle still reads the data it holds.
/// assert_eq!(retries.load(Ordering::Relaxed), 1);
/// ```
pub struct Shadow<T> {
    node: NonNull<Node<T>>,
    _data: PhantomData<T>,
}

// SAFETY: a `Shadow<T>` shares a `T` between threads and may drop it on any of them, as an
// `Arc<T>` does; hence the same bounds.
unsafe impl<T: Send + Sync> Send for Shadow<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync> Sync for Shadow<T> {}

impl<T: Send + Sync + 'static> Shadow<T> {
    /// A new counted handle to `node`, if its data is a `T`.
    ///
    /// # Safety
    ///
    /// `node` points to a live node, kept alive while this runs (by a counted reference or by
    /// the table's read protection).
    pub(super) unsafe fn from_node(node: NonNull<Header>) -> Option<Self> {
        // SAFETY: the caller keeps the node alive.
        let header = unsafe { node.as_ref() };
        if !header.class().is::<T>() {
            return None;
        }
        header.acquire();
        // A node of class `T` is a `Node<T>` (`ErasedRef::new`).
        Some(Shadow {
            node: node.cast(),
            _data: PhantomData,
        })
    }

    /// The table's kind of reference to the same node (one more count).
    pub(super) fn erased(&self) -> ErasedRef {
        // SAFETY: this handle keeps the node alive.
        unsafe { ErasedRef::acquire(self.node.cast()) }
    }

    /// The object this variable is attached to.
    pub fn obj(&self) -> ObjAddr {
        ObjAddr::from_addr(self.header().obj)
    }

    /// The variable's id.
    pub fn id(&self) -> ShadowId<T> {
        ShadowId::new(self.header().id)
    }

    /// The id of the state this variable is tied to, if it is tied to one.
    pub fn tied_state(&self) -> Option<u64> {
        self.header().class().tie().map(|t| t.state)
    }

    /// Whether two handles are handles of the same variable (not merely equal data).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.node == b.node
    }
}

impl<T> Shadow<T> {
    fn header(&self) -> &Header {
        // SAFETY: this handle's count keeps the node alive; the header is at offset 0.
        unsafe { self.node.cast::<Header>().as_ref() }
    }
}

impl<T> Deref for Shadow<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this handle's count keeps the node, and so its data, alive; the data is only
        // ever shared (no `&mut` to it is made while a reference is counted).
        unsafe { &(*self.node.as_ptr()).data }
    }
}

impl<T> Clone for Shadow<T> {
    fn clone(&self) -> Self {
        self.header().acquire();
        Shadow {
            node: self.node,
            _data: PhantomData,
        }
    }
}

impl<T> Drop for Shadow<T> {
    fn drop(&mut self) {
        // SAFETY: this handle's count is given back once, here.
        unsafe { release(self.node.cast()) }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shadow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (obj, id) = self.header().key();
        f.debug_struct("Shadow")
            .field("obj", &ObjAddr::from_addr(obj))
            .field("id", &format_args!("{id:#x}"))
            .field("data", &**self)
            .finish()
    }
}

/// Compares the data, as `Arc` does; [`Shadow::ptr_eq`] tells whether two handles are of one
/// variable.
impl<T: PartialEq> PartialEq for Shadow<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for Shadow<T> {}
