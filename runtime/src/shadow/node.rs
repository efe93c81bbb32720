//! One shadow variable as stored: its key, its tie (if any) and its data, in one reference-counted
//! allocation; and [`Shadow`], the handle readers get.

use std::any::{Any, type_name};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::{ObjAddr, ShadowId};

/// The state a tied variable follows: freed when `state` is released on runtime `runtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tie {
    pub(super) runtime: u64,
    pub(super) state: u64,
}

/// What a node records about its tie: nothing for plain variables (so they pay no memory for the
/// feature), a [`Tie`] for tied ones.
pub(super) trait TieSlot: Copy + Send + Sync + 'static {
    fn tie(&self) -> Option<Tie>;
    fn handle<T: Send + Sync + 'static>(node: Arc<Node<T, Self>>) -> NodeRef<T>;
}

impl TieSlot for () {
    fn tie(&self) -> Option<Tie> {
        None
    }

    fn handle<T: Send + Sync + 'static>(node: Arc<Node<T, Self>>) -> NodeRef<T> {
        NodeRef::Plain(node)
    }
}

impl TieSlot for Tie {
    fn tie(&self) -> Option<Tie> {
        Some(*self)
    }

    fn handle<T: Send + Sync + 'static>(node: Arc<Node<T, Self>>) -> NodeRef<T> {
        NodeRef::Tied(node)
    }
}

/// A shadow variable: the key it is found by, its tie, and the data.
pub(super) struct Node<T, X> {
    pub(super) obj: usize,
    pub(super) id: u64,
    pub(super) tie: X,
    pub(super) data: T,
}

/// A node with its data type erased, as the table holds it. The key lives in the node, so a table
/// slot is one pointer.
pub(super) trait Erased: Any + Send + Sync {
    /// The object address and the id, in one call: lookups compare both.
    fn key(&self) -> (usize, u64);
    fn tie(&self) -> Option<Tie>;
    fn type_name(&self) -> &'static str;
}

impl<T: Send + Sync + 'static, X: TieSlot> Erased for Node<T, X> {
    fn key(&self) -> (usize, u64) {
        (self.obj, self.id)
    }

    fn tie(&self) -> Option<Tie> {
        self.tie.tie()
    }

    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }
}

/// The table's reference to a node.
pub(super) type ErasedRef = Arc<dyn Erased>;

/// A typed reference to a node of either kind.
pub(super) enum NodeRef<T> {
    Plain(Arc<Node<T, ()>>),
    Tied(Arc<Node<T, Tie>>),
}

impl<T> Clone for NodeRef<T> {
    fn clone(&self) -> Self {
        match self {
            NodeRef::Plain(n) => NodeRef::Plain(Arc::clone(n)),
            NodeRef::Tied(n) => NodeRef::Tied(Arc::clone(n)),
        }
    }
}

/// A typed handle to `node` if its data is a `T`, `None` otherwise.
pub(super) fn typed<T: Send + Sync + 'static>(node: &ErasedRef) -> Option<Shadow<T>> {
    let any: Arc<dyn Any + Send + Sync> = node.clone();
    let node = match any.downcast::<Node<T, ()>>() {
        Ok(plain) => NodeRef::Plain(plain),
        Err(any) => NodeRef::Tied(any.downcast::<Node<T, Tie>>().ok()?),
    };
    Some(Shadow { node })
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
/// use livepatch_runtime::shadow::{ShadowId, ShadowTable};
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
    node: NodeRef<T>,
}

impl<T: Send + Sync + 'static> Shadow<T> {
    pub(super) fn new<X: TieSlot>(node: Arc<Node<T, X>>) -> Self {
        Shadow {
            node: X::handle(node),
        }
    }

    /// The object this variable is attached to.
    pub fn obj(&self) -> ObjAddr {
        ObjAddr::from_addr(match &self.node {
            NodeRef::Plain(n) => n.obj,
            NodeRef::Tied(n) => n.obj,
        })
    }

    /// The variable's id.
    pub fn id(&self) -> ShadowId<T> {
        ShadowId::new(match &self.node {
            NodeRef::Plain(n) => n.id,
            NodeRef::Tied(n) => n.id,
        })
    }

    /// The id of the state this variable is tied to, if it is tied to one.
    pub fn tied_state(&self) -> Option<u64> {
        match &self.node {
            NodeRef::Plain(_) => None,
            NodeRef::Tied(n) => Some(n.tie.state),
        }
    }

    /// Whether two handles are handles of the same variable (not merely equal data).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        std::ptr::eq::<T>(&**a, &**b)
    }
}

impl<T> Deref for Shadow<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.node {
            NodeRef::Plain(n) => &n.data,
            NodeRef::Tied(n) => &n.data,
        }
    }
}

impl<T> Clone for Shadow<T> {
    fn clone(&self) -> Self {
        Shadow {
            node: self.node.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shadow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (obj, id) = match &self.node {
            NodeRef::Plain(n) => (n.obj, n.id),
            NodeRef::Tied(n) => (n.obj, n.id),
        };
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
