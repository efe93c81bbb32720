//! The shadow table against a model: random sequences of `alloc`, `get_or_alloc`, `get`, `free`,
//! `free_all` and handles kept or let go, over few enough objects that shards fill, grow and
//! fill with removal marks. After every step the table answers as a map of keys to values does,
//! holds as many variables, and every value that neither the table nor a kept handle holds has
//! been dropped, exactly once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use livepatch::shadow::{ObjAddr, Shadow, ShadowId, ShadowTable};
use proptest::prelude::*;

/// A value that counts its drops.
struct Value {
    serial: u64,
    drops: Arc<AtomicU64>,
}

impl Drop for Value {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

const IDS: [ShadowId<Value>; 2] = [ShadowId::new(0x1234), ShadowId::new(0x1235)];
const OBJECTS: usize = 48;

#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc { obj: usize, id: usize, keep: bool },
    GetOrAlloc { obj: usize, id: usize, keep: bool },
    Get { obj: usize, id: usize, keep: bool },
    Free { obj: usize, id: usize },
    FreeAll { id: usize },
    LetGo { nth: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let key = (0..OBJECTS, 0..IDS.len());
    prop_oneof![
        4 => (key.clone(), any::<bool>()).prop_map(|((obj, id), keep)| Op::Alloc { obj, id, keep }),
        3 => (key.clone(), any::<bool>())
            .prop_map(|((obj, id), keep)| Op::GetOrAlloc { obj, id, keep }),
        3 => (key.clone(), any::<bool>()).prop_map(|((obj, id), keep)| Op::Get { obj, id, keep }),
        3 => key.prop_map(|(obj, id)| Op::Free { obj, id }),
        1 => (0..IDS.len()).prop_map(|id| Op::FreeAll { id }),
        2 => any::<usize>().prop_map(|nth| Op::LetGo { nth }),
    ]
}

/// Objects known only by address, eight bytes apart, as fields of one array would be.
fn object(obj: usize) -> ObjAddr {
    ObjAddr::from_addr(0x10_0000 + 8 * obj)
}

/// The model: which value each key holds, and the handles the test keeps.
struct Model {
    table: ShadowTable,
    values: HashMap<(usize, usize), u64>,
    kept: Vec<Shadow<Value>>,
    made: u64,
    drops: Arc<AtomicU64>,
}

impl Model {
    fn new() -> Self {
        Model {
            table: ShadowTable::new(),
            values: HashMap::new(),
            kept: Vec::new(),
            made: 0,
            drops: Arc::new(AtomicU64::new(0)),
        }
    }

    fn value(&mut self) -> Value {
        self.made += 1;
        Value {
            serial: self.made,
            drops: Arc::clone(&self.drops),
        }
    }

    fn keep(&mut self, handle: Shadow<Value>, keep: bool) {
        if keep {
            self.kept.push(handle);
        }
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Alloc { obj, id, keep } => {
                let value = self.value();
                let serial = value.serial;
                let made = self.table.alloc(object(obj), IDS[id], value);
                match self.values.get(&(obj, id)) {
                    // A duplicate: nothing is inserted, the existing value stays.
                    Some(_) => prop_assert!(made.is_none()),
                    None => {
                        let made = made.expect("a new key is inserted");
                        prop_assert_eq!(made.serial, serial);
                        self.values.insert((obj, id), serial);
                        self.keep(made, keep);
                    }
                }
            }
            Op::GetOrAlloc { obj, id, keep } => {
                let value = self.value();
                let serial = value.serial;
                let got = self
                    .table
                    .get_or_alloc(object(obj), IDS[id], value)
                    .expect("untied variables always insert");
                let expected = *self.values.entry((obj, id)).or_insert(serial);
                prop_assert_eq!(got.serial, expected);
                self.keep(got, keep);
            }
            Op::Get { obj, id, keep } => {
                let got = self.table.get(object(obj), IDS[id]);
                prop_assert_eq!(
                    got.as_ref().map(|v| v.serial),
                    self.values.get(&(obj, id)).copied()
                );
                if let Some(got) = got {
                    self.keep(got, keep);
                }
            }
            Op::Free { obj, id } => {
                let freed = self.table.free(object(obj), IDS[id]);
                prop_assert_eq!(freed, self.values.remove(&(obj, id)).is_some());
            }
            Op::FreeAll { id: which } => {
                let freed = self.table.free_all(IDS[which]);
                let before = self.values.len();
                self.values.retain(|&(_, id), _| id != which);
                prop_assert_eq!(freed, before - self.values.len());
            }
            Op::LetGo { nth } => {
                if !self.kept.is_empty() {
                    let len = self.kept.len();
                    self.kept.swap_remove(nth % len);
                }
            }
        }
        self.check()
    }

    /// The table holds what the model holds, and every value nothing holds was dropped once.
    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.table.len(), self.values.len());
        let alive: BTreeSet<u64> = self
            .values
            .values()
            .copied()
            .chain(self.kept.iter().map(|v| v.serial))
            .collect();
        prop_assert_eq!(
            self.drops.load(Ordering::SeqCst),
            self.made - alive.len() as u64
        );
        Ok(())
    }
}

proptest! {
    #[test]
    fn the_table_behaves_as_a_map_and_drops_each_value_once(
        ops in proptest::collection::vec(op(), 1..300)
    ) {
        let mut model = Model::new();
        for op in ops {
            model.apply(op)?;
        }
        // Every value is dropped once the handles and the table go.
        let made = model.made;
        let drops = Arc::clone(&model.drops);
        drop(model);
        prop_assert_eq!(drops.load(Ordering::SeqCst), made);
    }
}
