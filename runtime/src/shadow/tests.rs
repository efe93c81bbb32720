//! Unit tests of the table: small enough to run under Miri.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};

use super::{ObjAddr, Shadow, ShadowError, ShadowId, ShadowTable};
use crate::Dmesg;

/// Counts its drops in a shared counter.
#[derive(Debug)]
struct Counted {
    value: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

const SV_NUM: ShadowId<u32> = ShadowId::new(0x1234);
const SV_TEXT: ShadowId<String> = ShadowId::new(0x1234);
const SV_COUNTED: ShadowId<Counted> = ShadowId::new(0x99);

fn key_text(obj: &impl ?Sized, id: u64) -> String {
    format!("<{:#x}, {id:x}>", ObjAddr::of(obj).addr())
}

#[test]
fn a_table_has_four_shards_per_core_as_a_power_of_two_from_64_to_256() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let shards = ShadowTable::new().inner.shards().len();
    assert!(shards.is_power_of_two(), "{shards} shards");
    assert!((64..=256).contains(&shards), "{shards} shards");
    // Four per core or more, up to the most; below eight per core unless at the fewest.
    assert!(
        shards >= (4 * cores).min(256),
        "{shards} shards for {cores} cores"
    );
    assert!(
        shards == 64 || shards < 8 * cores,
        "{shards} shards for {cores} cores"
    );
}

#[test]
fn get_alloc_free_round_trip() {
    let table = ShadowTable::new();
    let (a, b) = (0u64, 0u64);
    assert!(table.get(&a, SV_NUM).is_none());
    let sa = table.alloc(&a, SV_NUM, 1).expect("new");
    let sb = table.alloc(&b, SV_NUM, 2).expect("new");
    assert_eq!((*sa, *sb), (1, 2));
    assert_eq!(table.len(), 2);
    assert_eq!(sa.obj(), ObjAddr::of(&a));
    assert_eq!(sa.id(), SV_NUM);
    assert_eq!(sa.tied_state(), None);
    let again = table.get(&a, SV_NUM).expect("present");
    assert!(Shadow::ptr_eq(&sa, &again));
    assert!(!Shadow::ptr_eq(&sa, &sb));
    assert!(table.free(&a, SV_NUM));
    assert!(!table.free(&a, SV_NUM));
    assert!(table.get(&a, SV_NUM).is_none());
    assert_eq!(*table.get(&b, SV_NUM).expect("untouched"), 2);
    assert_eq!(table.len(), 1);
}

#[test]
fn duplicate_alloc_warns_and_keeps_the_existing_variable() {
    let table = ShadowTable::new();
    let obj = [0u8; 4];
    let log = Dmesg::new();
    let ran = AtomicUsize::new(0);
    log.capture(|| {
        table.alloc(&obj, SV_NUM, 7).expect("new");
        assert!(table.alloc(&obj, SV_NUM, 8).is_none());
        let dup = table.alloc_with(&obj, SV_NUM, || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(9)
        });
        assert_eq!(dup, Ok(None));
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(*table.get(&obj, SV_NUM).expect("kept"), 7);
    let line = format!(
        "livepatch: Duplicate shadow variable {}",
        key_text(&obj, 0x1234)
    );
    assert_eq!(log.lines(), [line.clone(), line]);
}

#[test]
fn failed_constructor_inserts_nothing_and_logs() {
    let table = ShadowTable::new();
    let obj = 1u16;
    let log = Dmesg::new();
    let err = log.capture(|| table.get_or_alloc_with(&obj, SV_NUM, || Err("out of memory")));
    assert_eq!(
        err,
        Err(ShadowError::Constructor {
            obj: ObjAddr::of(&obj),
            id: 0x1234,
            error: "out of memory"
        })
    );
    assert!(table.get(&obj, SV_NUM).is_none());
    assert!(table.is_empty());
    assert_eq!(
        log.lines(),
        [format!(
            "livepatch: Failed to construct shadow variable {} (out of memory)",
            key_text(&obj, 0x1234)
        )]
    );
    // The pair is free again: the next constructor runs and inserts.
    let made = table.get_or_alloc_with(&obj, SV_NUM, || Ok::<_, &str>(5));
    assert_eq!(made.map(|s| *s), Ok(5));
}

#[test]
fn an_insertion_trusts_a_missed_lookup_only_while_the_array_is_unchanged() {
    use super::table::{Insert, key, plain};
    let table = ShadowTable::new();
    let (a, b) = (0u64, 0u64);
    let (ka, kb) = (key(&a, SV_NUM), key(&b, SV_NUM));
    let stale = |k: super::Key| {
        table
            .inner
            .get_or_miss::<u32>(k.obj.addr(), k.id)
            .expect_err("missing")
    };
    // The pair was inserted after the lookup missed it: the insertion finds it.
    let miss = stale(ka);
    table.alloc(&a, SV_NUM, 1).expect("new");
    match table.inner.insert_value(ka, plain::<u32>(), Some(miss), 2) {
        Insert::Existing(node) => assert_eq!(node.data::<u32>(), Some(&1)),
        _ => panic!("inserted the pair a second time"),
    }
    // Inserted and freed again since: still missing, inserted once, where a lookup finds it.
    let miss = stale(kb);
    table.alloc(&b, SV_NUM, 3).expect("new");
    assert!(table.free(&b, SV_NUM));
    assert!(matches!(
        table.inner.insert_value(kb, plain::<u32>(), Some(miss), 4),
        Insert::New(_)
    ));
    // A miss seen with the array unchanged is trusted, and the pair is where lookups look.
    assert!(table.free(&b, SV_NUM));
    let miss = stale(kb);
    assert!(matches!(
        table.inner.insert_value(kb, plain::<u32>(), Some(miss), 5),
        Insert::New(_)
    ));
    assert_eq!(table.get(&a, SV_NUM).as_deref(), Some(&1));
    assert_eq!(table.get(&b, SV_NUM).as_deref(), Some(&5));
    assert_eq!(table.len(), 2);
}

#[test]
fn a_table_full_of_tombstones_still_finds_every_variable() {
    // Every round frees a third of the keys and creates them again through `get_or_alloc`,
    // which reuses tombstones, takes empty slots and rebuilds arrays, with lookups that miss
    // handing their vacancy to the insertion.
    const KEYS: usize = 300;
    let objects = vec![0u64; KEYS];
    let table = ShadowTable::new();
    for (i, obj) in objects.iter().enumerate() {
        table.alloc(obj, SV_NUM, i as u32).expect("new");
    }
    for round in 0..6 {
        for (i, obj) in objects
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == round % 3)
        {
            assert!(table.free(obj, SV_NUM), "key {i} round {round}");
            assert!(table.get(obj, SV_NUM).is_none());
        }
        assert_eq!(table.len(), KEYS - KEYS / 3);
        for (i, obj) in objects.iter().enumerate() {
            let value = table.get_or_alloc(obj, SV_NUM, i as u32).expect("u32");
            assert_eq!(*value, i as u32, "key {i} round {round}");
        }
        assert_eq!(table.len(), KEYS);
        for (i, obj) in objects.iter().enumerate() {
            assert_eq!(table.get(obj, SV_NUM).as_deref(), Some(&(i as u32)));
        }
    }
}

#[test]
fn panicking_constructor_leaves_the_pair_free() {
    let table = ShadowTable::new();
    let obj = 2u32;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = table.alloc_with(&obj, SV_NUM, || -> Result<u32, String> { panic!("ctor") });
    }));
    assert!(panicked.is_err());
    assert!(table.is_empty());
    assert_eq!(table.alloc(&obj, SV_NUM, 3).map(|s| *s), Some(3));
}

#[test]
fn another_type_under_the_same_id_is_not_this_variable() {
    let table = ShadowTable::new();
    let obj = 0u8;
    table.alloc(&obj, SV_NUM, 1).expect("new");
    assert!(table.get(&obj, SV_TEXT).is_none());
    assert_eq!(
        table
            .get_or_alloc(&obj, SV_TEXT, "x".to_owned())
            .map(|s| s.len()),
        Err(ShadowError::TypeMismatch {
            obj: ObjAddr::of(&obj),
            id: 0x1234,
            existing: "u32",
            requested: "alloc::string::String",
        })
    );
    assert!(!table.free(&obj, SV_TEXT));
    assert_eq!(table.free_all(SV_TEXT), 0);
    assert_eq!(table.len(), 1);
}

#[test]
fn constructor_asking_for_its_own_variable_gets_an_error() {
    let table = ShadowTable::new();
    let obj = 0u32;
    let inner = Mutex::new(None);
    let outer = table.get_or_alloc_with(&obj, SV_NUM, || {
        *inner.lock().unwrap() = Some(table.get_or_alloc(&obj, SV_NUM, 1).map(|s| *s));
        Ok::<_, String>(2)
    });
    assert_eq!(outer.map(|s| *s), Ok(2));
    assert_eq!(
        inner.into_inner().unwrap(),
        Some(Err(ShadowError::Reentrant {
            obj: ObjAddr::of(&obj),
            id: 0x1234
        }))
    );
}

/// Two constructors, each asking for the variable the other builds: waiting would deadlock, so
/// the nested calls answer at once and both outer variables are made.
#[test]
fn constructors_asking_for_each_other_do_not_deadlock() {
    let table = ShadowTable::new();
    let objs = [0u8; 2];
    let (both_pending, both_asked) = (Barrier::new(2), Barrier::new(2));
    let nested = |mine: usize| {
        let other = &objs[1 - mine];
        table.get_or_alloc_with(&objs[mine], SV_NUM, || {
            both_pending.wait();
            let inner = table.get_or_alloc(other, SV_NUM, 0).map(|s| *s);
            let dup = table.alloc(other, SV_NUM, 0);
            // Neither constructor finishes before both have asked.
            both_asked.wait();
            assert!(dup.is_none());
            assert_eq!(
                inner,
                Err(ShadowError::Reentrant {
                    obj: ObjAddr::of(other),
                    id: 0x1234
                })
            );
            Ok::<_, String>(u32::try_from(mine).unwrap() + 10)
        })
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| nested(0));
        let b = s.spawn(|| nested(1));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.map(|s| *s), b.map(|s| *s)), (Ok(10), Ok(11)));
    assert_eq!(table.len(), 2);
}

/// A value allocation meeting a constructor of the same pair waits for it, then finds it.
#[test]
fn a_value_alloc_meeting_a_constructor_finds_its_variable() {
    let table = ShadowTable::new();
    let obj = 0u64;
    let started = Barrier::new(2);
    let (built, given) = std::thread::scope(|s| {
        let builder = s.spawn(|| {
            table.get_or_alloc_with(&obj, SV_NUM, || {
                started.wait();
                std::thread::yield_now();
                Ok::<_, String>(1)
            })
        });
        started.wait();
        let given = table.alloc(&obj, SV_NUM, 2);
        (builder.join().unwrap(), given)
    });
    assert_eq!(built.map(|s| *s), Ok(1));
    assert!(given.is_none());
    assert_eq!(table.get(&obj, SV_NUM).as_deref(), Some(&1));
}

#[test]
fn handles_outlive_free_and_data_drops_once() {
    let table = ShadowTable::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let obj = 0u64;
    let held = table
        .alloc(
            &obj,
            SV_COUNTED,
            Counted {
                value: 11,
                drops: Arc::clone(&drops),
            },
        )
        .expect("new");
    let mut seen = Vec::new();
    assert!(table.free_with(&obj, SV_COUNTED, |o, data| seen.push((o, data.value))));
    assert_eq!(seen, [(ObjAddr::of(&obj), 11)]);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a handle still holds it");
    assert_eq!(held.value, 11);
    drop(held);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn free_all_frees_every_object_of_the_id_only() {
    let table = ShadowTable::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let objs = [0u8; 5];
    for (i, obj) in objs.iter().enumerate() {
        let value = u32::try_from(i).unwrap();
        let drops = Arc::clone(&drops);
        table.alloc(obj, SV_COUNTED, Counted { value, drops });
    }
    table.alloc(&objs[0], SV_NUM, 0);
    let mut freed = Vec::new();
    assert_eq!(
        table.free_all_with(SV_COUNTED, |_, d| freed.push(d.value)),
        5
    );
    freed.sort_unstable();
    assert_eq!(freed, [0, 1, 2, 3, 4]);
    assert_eq!(drops.load(Ordering::SeqCst), 5);
    assert_eq!(table.len(), 1);
    drop(table);
}

#[test]
fn dropping_a_table_drops_its_variables() {
    let drops = Arc::new(AtomicUsize::new(0));
    let table = ShadowTable::new();
    let obj = 0u8;
    let drops2 = Arc::clone(&drops);
    table.alloc(
        &obj,
        SV_COUNTED,
        Counted {
            value: 1,
            drops: drops2,
        },
    );
    drop(table);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn racing_get_or_alloc_constructs_once() {
    const THREADS: usize = 4;
    let table = ShadowTable::new();
    let ctors = AtomicUsize::new(0);
    let barrier = Barrier::new(THREADS);
    let obj = 0u64;
    let got: Vec<Shadow<u32>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    table
                        .get_or_alloc_with(&obj, SV_NUM, || {
                            ctors.fetch_add(1, Ordering::SeqCst);
                            // Give the other threads time to arrive and wait for this one.
                            std::thread::yield_now();
                            Ok::<_, String>(42)
                        })
                        .expect("no error")
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(ctors.load(Ordering::SeqCst), 1);
    assert!(got.iter().all(|s| Shadow::ptr_eq(s, &got[0]) && **s == 42));
}

/// Lookups racing a writer that inserts (growing the array several times) and removes: every
/// lookup finds the right variable or none, and every variable is dropped exactly once. Small
/// enough for Miri, which checks the read protocol's memory accesses.
#[test]
fn lookups_race_insertions_resizes_and_removals() {
    const KEYS: usize = 40;
    let table = ShadowTable::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let objs = [0u8; KEYS];
    let done = std::sync::atomic::AtomicBool::new(false);
    let reader = |start: usize| {
        let mut seen = 0;
        let mut i = start;
        while !done.load(Ordering::SeqCst) {
            if let Some(found) = table.get(&objs[i % KEYS], SV_COUNTED) {
                assert_eq!(found.value as usize, i % KEYS);
                seen += 1;
            }
            i += 7;
        }
        seen
    };
    std::thread::scope(|s| {
        let readers = [s.spawn(|| reader(0)), s.spawn(|| reader(3))];
        for (i, obj) in objs.iter().enumerate() {
            let value = u32::try_from(i).unwrap();
            let drops = Arc::clone(&drops);
            table
                .alloc(obj, SV_COUNTED, Counted { value, drops })
                .unwrap();
        }
        for obj in objs.iter().step_by(2) {
            assert!(table.free(obj, SV_COUNTED));
        }
        done.store(true, Ordering::SeqCst);
        for r in readers {
            r.join().unwrap();
        }
    });
    // A free that met a lookup in its shard left the variable to a later write of the shard.
    assert!(drops.load(Ordering::SeqCst) <= KEYS / 2);
    table.reclaim();
    assert_eq!(drops.load(Ordering::SeqCst), KEYS / 2);
    assert_eq!(table.len(), KEYS / 2);
    assert_eq!(table.free_all(SV_COUNTED), KEYS / 2);
    assert_eq!(drops.load(Ordering::SeqCst), KEYS);
}

/// Lookups take no lock: a writer stalled in the middle of a write, holding its shard's mutex,
/// delays no lookup of that shard, of another key or of the key being written.
mod lookups_never_wait {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::super::table::{WritePoint, hash_key, shard_of};
    use super::*;

    /// Generous bound for every wait; reaching it fails the test.
    const PATIENCE: Duration = Duration::from_secs(60);

    /// Two object addresses whose keys with id `SV_NUM` fall in the same shard.
    fn same_shard() -> (ObjAddr, ObjAddr) {
        let shard = |i: usize| shard_of(hash_key((0x1000 + 8 * i, SV_NUM.id())));
        let other = (1..).find(|&i| shard(i) == shard(0)).unwrap();
        (
            ObjAddr::from_addr(0x1000),
            ObjAddr::from_addr(0x1000 + 8 * other),
        )
    }

    /// Runs `write` on a thread of its own and stalls it at `point` of its write of `a`, holding
    /// the shard's mutex; meanwhile looks up `b`, then `a`, from a third thread, and fails the test
    /// if that takes longer than `PATIENCE`. Then lets the writer go. Returns what the lookups
    /// found and what `write` returned.
    fn lookups_while_stalled<R: Send + 'static>(
        table: &Arc<ShadowTable>,
        point: WritePoint,
        (a, b): (ObjAddr, ObjAddr),
        write: impl FnOnce(&ShadowTable) -> R + Send + 'static,
    ) -> ((Option<u32>, Option<u32>), R) {
        let (tell, stalled) = mpsc::channel();
        let (gate, wait) = mpsc::channel::<()>();
        let (tell, wait) = (Mutex::new(tell), Mutex::new(wait));
        *table.inner.mid_write.lock().unwrap() = Some(Arc::new(move |at, obj, _| {
            if at == point && obj == a.addr() {
                tell.lock().unwrap().send(()).unwrap();
                // Returns when the gate is dropped.
                let _ = wait.lock().unwrap().recv();
            }
        }));
        let writer = {
            let table = Arc::clone(table);
            std::thread::spawn(move || write(&table))
        };
        stalled.recv_timeout(PATIENCE).expect("the writer stalled");
        let (send, found) = mpsc::channel();
        let reader = Arc::clone(table);
        std::thread::spawn(move || {
            let other = reader.get(b, SV_NUM).map(|s| *s);
            let same = reader.get(a, SV_NUM).map(|s| *s);
            send.send((other, same)).unwrap();
        });
        let found = found
            .recv_timeout(PATIENCE)
            .expect("the lookups finished while the writer was stalled");
        drop(gate);
        (found, writer.join().unwrap())
    }

    #[test]
    fn during_an_insertion() {
        let table = Arc::new(ShadowTable::new());
        let (a, b) = same_shard();
        table.alloc(b, SV_NUM, 2).expect("new");
        let insert = move |t: &ShadowTable| t.alloc(a, SV_NUM, 1).map(|s| *s);
        let (found, inserted) = lookups_while_stalled(&table, WritePoint::Locked, (a, b), insert);
        assert_eq!(found, (Some(2), None));
        assert_eq!(inserted, Some(1));
        assert_eq!(table.get(a, SV_NUM).as_deref(), Some(&1));
    }

    #[test]
    fn during_a_removal() {
        let table = Arc::new(ShadowTable::new());
        let (a, b) = same_shard();
        table.alloc(a, SV_NUM, 1).expect("new");
        table.alloc(b, SV_NUM, 2).expect("new");
        let held = table.get(a, SV_NUM).expect("present");
        let free = move |t: &ShadowTable| t.free(a, SV_NUM);
        let (found, freed) = lookups_while_stalled(&table, WritePoint::Unlinked, (a, b), free);
        // The variable was out of the array: lookups missed it, and handles still read it.
        assert_eq!(found, (Some(2), None));
        assert_eq!(*held, 1);
        assert!(freed);
        assert_eq!(table.len(), 1);
    }
}

/// A free never waits for a lookup: one stalled in the middle of its read leaves what was freed
/// in its shard to a later write of the shard, up to the shard's bound; a free beyond the bound
/// sleeps until the lookup has left, and then everything freed is given back.
mod frees_never_wait {
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::super::shard::{MAX_RETIRED_NODES, MID_READ};
    use super::super::table::{hash_key, shard_of};
    use super::*;

    /// Generous bound for every wait; reaching it fails the test.
    const PATIENCE: Duration = Duration::from_secs(60);

    /// `n` object addresses whose keys with id `SV_COUNTED` fall in one shard, and its index.
    fn one_shard(n: usize) -> (usize, Vec<ObjAddr>) {
        let shard = |i: usize| shard_of(hash_key((0x1000 + 8 * i, SV_COUNTED.id())));
        let objs = (0..)
            .filter(|&i| shard(i) == shard(0))
            .take(n)
            .map(|i| ObjAddr::from_addr(0x1000 + 8 * i))
            .collect();
        (shard(0), objs)
    }

    /// A table holding a `Counted` with value `i` for each of `objs`, and their drop counter.
    fn filled(objs: &[ObjAddr]) -> (Arc<ShadowTable>, Arc<AtomicUsize>) {
        let table = Arc::new(ShadowTable::new());
        let drops = Arc::new(AtomicUsize::new(0));
        for (i, &obj) in objs.iter().enumerate() {
            let value = u32::try_from(i).unwrap();
            let drops = Arc::clone(&drops);
            table
                .alloc(obj, SV_COUNTED, Counted { value, drops })
                .unwrap();
        }
        (table, drops)
    }

    /// Looks `obj` up on a thread of its own, and returns once that lookup is stalled in the
    /// middle of its read: dropping the gate lets it go on, and the thread returns what it found.
    fn stalled_lookup(
        table: &Arc<ShadowTable>,
        obj: ObjAddr,
    ) -> (mpsc::Sender<()>, JoinHandle<Option<u32>>) {
        let (tell, stalled) = mpsc::channel();
        let (gate, wait) = mpsc::channel::<()>();
        let table = Arc::clone(table);
        let reader = std::thread::spawn(move || {
            MID_READ.with(|hook| {
                *hook.borrow_mut() = Some(Box::new(move || {
                    tell.send(()).unwrap();
                    // Returns when the gate is dropped.
                    let _ = wait.recv();
                }));
            });
            table.get(obj, SV_COUNTED).map(|s| s.value)
        });
        stalled.recv_timeout(PATIENCE).expect("the lookup stalled");
        (gate, reader)
    }

    /// Runs `op` on a thread of its own; fails the test if it does not finish within `PATIENCE`.
    fn promptly<R: Send + 'static>(op: impl FnOnce() -> R + Send + 'static) -> R {
        let (send, done) = mpsc::channel();
        std::thread::spawn(move || send.send(op()).unwrap());
        done.recv_timeout(PATIENCE)
            .expect("finished without waiting for the lookup")
    }

    fn free(table: &Arc<ShadowTable>, objs: &[ObjAddr]) -> usize {
        let (table, objs) = (Arc::clone(table), objs.to_vec());
        promptly(move || objs.iter().filter(|&&o| table.free(o, SV_COUNTED)).count())
    }

    /// A table of `n` variables in one shard, the second of them freed while a lookup of the
    /// first was stalled in the middle of its read, and that lookup gone since.
    fn freed_during_a_lookup(n: usize) -> (Arc<ShadowTable>, Arc<AtomicUsize>, Vec<ObjAddr>) {
        let (_, objs) = one_shard(n);
        let (table, drops) = filled(&objs);
        let (gate, reader) = stalled_lookup(&table, objs[0]);
        assert_eq!(free(&table, &objs[1..2]), 1);
        assert!(table.get(objs[1], SV_COUNTED).is_none());
        // Kept: the stalled lookup might be reading it.
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(gate);
        assert_eq!(reader.join().unwrap(), Some(0));
        // The lookup has left, but no writer of the shard has looked since.
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        (table, drops, objs)
    }

    #[test]
    fn a_later_write_gives_back_what_a_lookup_held_back() {
        let (table, drops, objs) = freed_during_a_lookup(3);
        // The next write of the shard gives back both variables, its own and the kept one.
        assert_eq!(free(&table, &objs[2..3]), 1);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn reclaim_gives_back_what_a_lookup_held_back() {
        let (table, drops, _) = freed_during_a_lookup(2);
        table.reclaim();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_free_beyond_the_bound_sleeps_until_the_lookup_leaves() {
        let (shard, objs) = one_shard(MAX_RETIRED_NODES + 2);
        let (table, drops) = filled(&objs);
        let (gate, reader) = stalled_lookup(&table, objs[0]);
        // As many frees as the shard may keep return at once, keeping their variables.
        let kept = &objs[1..=MAX_RETIRED_NODES];
        assert_eq!(free(&table, kept), MAX_RETIRED_NODES);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        // One more sleeps until the lookup has left.
        let last = objs[MAX_RETIRED_NODES + 1];
        let freeing = {
            let table = Arc::clone(&table);
            std::thread::spawn(move || table.free(last, SV_COUNTED))
        };
        let start = Instant::now();
        while !table.inner.shards()[shard].writer_sleeps() {
            assert!(start.elapsed() < PATIENCE, "the free went to sleep");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert!(!freeing.is_finished());
        drop(gate);
        assert!(freeing.join().unwrap());
        assert_eq!(reader.join().unwrap(), Some(0));
        // Everything freed is given back, and nothing else.
        assert_eq!(drops.load(Ordering::SeqCst), MAX_RETIRED_NODES + 1);
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(objs[0], SV_COUNTED).map(|s| s.value), Some(0));
    }
}

/// A release reported late, after a newer patch declared the state again, frees only what was
/// tied before the release.
mod generations {
    use super::super::{state_generation_released, state_released, state_releasing};
    use super::*;
    use crate::{ObjectDesc, PatchDesc, Runtime, StateDesc, StateHandle};

    const AUDIT: StateHandle<()> = StateHandle::new(1, 1);
    static STATES: [StateDesc; 1] = [AUDIT.desc()];
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()];
    static P: PatchDesc = PatchDesc::new("p").states(&STATES).objects(&OBJECTS);

    fn counted(drops: &Arc<AtomicUsize>, value: u32) -> Counted {
        Counted {
            value,
            drops: Arc::clone(drops),
        }
    }

    #[test]
    fn a_late_release_keeps_what_was_tied_after_it() {
        let rt = Runtime::new();
        let table = ShadowTable::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let objs = [0u8; 2];
        rt.enable(&P).unwrap();
        let tied = table.tied(&rt, AUDIT);
        tied.alloc(&objs[0], SV_COUNTED, counted(&drops, 1))
            .unwrap()
            .expect("new");
        // The runtime releases the state under its lock (and, say, a newer patch declares it
        // again before the release is reported): what is tied now is of the next generation.
        let ended = state_releasing(rt.id(), AUDIT.id());
        tied.alloc(&objs[1], SV_COUNTED, counted(&drops, 2))
            .unwrap()
            .expect("new");
        // The release is reported: only the variable tied before it goes.
        state_generation_released(rt.id(), AUDIT.id(), ended);
        assert!(table.get(&objs[0], SV_COUNTED).is_none());
        assert_eq!(table.get(&objs[1], SV_COUNTED).map(|s| s.value), Some(2));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // The next release frees the other one.
        let ended = state_releasing(rt.id(), AUDIT.id());
        state_generation_released(rt.id(), AUDIT.id(), ended);
        assert!(table.is_empty());
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    /// A release announced while the constructor runs ends the generation the allocation
    /// started in: the variable is taken out again, as when the state is no longer declared.
    #[test]
    fn a_release_during_the_constructor_keeps_nothing() {
        let rt = Runtime::new();
        let table = ShadowTable::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let obj = 0u8;
        rt.enable(&P).unwrap();
        let made = table.tied(&rt, AUDIT).alloc_with(&obj, SV_COUNTED, || {
            state_releasing(rt.id(), AUDIT.id());
            Ok::<_, String>(counted(&drops, 1))
        });
        assert_eq!(
            made.map(|_| ()),
            Err(ShadowError::StateNotDeclared {
                state: AUDIT.label()
            })
        );
        assert!(table.is_empty());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // A release without a generation (a runtime dropped) frees every generation.
        table
            .tied(&rt, AUDIT)
            .alloc(&obj, SV_COUNTED, counted(&drops, 2))
            .unwrap()
            .expect("new");
        state_released(rt.id(), AUDIT.id());
        assert!(table.is_empty());
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_dropped_runtime_leaves_no_generation_behind() {
        let rt = Runtime::new();
        let id = rt.id();
        rt.enable(&P).unwrap();
        rt.disable("p").unwrap();
        assert!(super::super::tie::has_generations(id));
        drop(rt);
        assert!(!super::super::tie::has_generations(id));
    }
}
