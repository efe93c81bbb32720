//! Threads racing for the same shadow variables: every constructor runs exactly once per key,
//! every thread gets that one variable, everything is readable afterwards, and drop counters show
//! that `free_all` leaks nothing and drops nothing twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use livepatch::Dmesg;
use livepatch::shadow::{ObjAddr, Shadow, ShadowId, ShadowTable};

const THREADS: usize = 4;
const OBJECTS: usize = 300;

/// Shadow data that counts its drops, per key.
struct Tracked {
    key: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.key].fetch_add(1, Ordering::SeqCst);
    }
}

/// One counter per key.
fn counters(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn total(counters: &[AtomicUsize]) -> usize {
    counters.iter().map(|c| c.load(Ordering::SeqCst)).sum()
}

/// The order in which thread `t` visits the keys: each thread starts elsewhere and half of them
/// walk backwards, so that they meet on every key.
fn order(t: usize, keys: usize) -> Vec<usize> {
    let start = t * keys / THREADS;
    let mut keys: Vec<usize> = (0..keys).map(|i| (start + i) % keys).collect();
    if t % 2 == 1 {
        keys.reverse();
    }
    keys
}

#[test]
fn get_or_alloc_races_construct_each_variable_once() {
    let objects = vec![0u64; OBJECTS];
    let obj = |k: usize| ObjAddr::of(&objects[k % OBJECTS]);
    let keys = OBJECTS * 2;
    let ctors = counters(keys);
    let attempts = counters(keys);
    let drops = Arc::new(counters(keys));
    let table = ShadowTable::new();
    let ids = [ShadowId::<Tracked>::new(0x1234), ShadowId::new(0x1235)];
    let id = |k: usize| ids[k / OBJECTS];
    let barrier = Barrier::new(THREADS);

    let handles: Vec<Vec<(usize, Shadow<Tracked>)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (table, barrier) = (&table, &barrier);
                let (ctors, attempts, drops) = (&ctors, &attempts, &drops);
                s.spawn(move || {
                    barrier.wait();
                    let mut got = Vec::new();
                    for k in order(t, keys) {
                        let shadow = table
                            .get_or_alloc_with(obj(k), id(k), || {
                                // Every third key's first constructor fails: the next thread to
                                // try must construct it instead.
                                if k % 3 == 0 && attempts[k].fetch_add(1, Ordering::SeqCst) == 0 {
                                    return Err("first try fails");
                                }
                                ctors[k].fetch_add(1, Ordering::SeqCst);
                                // Give the other threads time to arrive and wait for this one.
                                std::thread::yield_now();
                                Ok(Tracked {
                                    key: k,
                                    drops: Arc::clone(drops),
                                })
                            })
                            .or_else(|_| {
                                table.get_or_alloc_with(obj(k), id(k), || {
                                    ctors[k].fetch_add(1, Ordering::SeqCst);
                                    Ok::<_, &str>(Tracked {
                                        key: k,
                                        drops: Arc::clone(drops),
                                    })
                                })
                            })
                            .expect("the second try succeeds");
                        got.push((k, shadow));
                    }
                    got
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    for (k, ctor) in ctors.iter().enumerate() {
        assert_eq!(ctor.load(Ordering::SeqCst), 1, "constructors of key {k}");
        let found = table.get(obj(k), id(k)).expect("readable");
        assert_eq!(found.key, k);
        for per_thread in &handles {
            let (_, h) = per_thread
                .iter()
                .find(|(hk, _)| *hk == k)
                .expect("every thread got every key");
            assert!(
                Shadow::ptr_eq(h, &found),
                "thread got another variable for key {k}"
            );
        }
    }
    assert_eq!(table.len(), keys);
    assert_eq!(total(&drops), 0);

    assert_eq!(table.free_all(ids[0]), OBJECTS);
    assert_eq!(table.free_all(ids[1]), OBJECTS);
    assert!(table.is_empty());
    // The threads' handles still hold the data.
    assert_eq!(total(&drops), 0);
    drop(handles);
    assert!(drops.iter().all(|d| d.load(Ordering::SeqCst) == 1));
    assert_eq!(table.free_all(ids[0]), 0);
    assert_eq!(total(&drops), keys);
}

#[test]
fn alloc_races_insert_once_and_warn_for_every_loser() {
    let objects = vec![0u32; OBJECTS];
    let table = ShadowTable::new();
    const SV: ShadowId<usize> = ShadowId::new(0x77);
    let ctors = counters(OBJECTS);
    let won = counters(OBJECTS);
    let log = Dmesg::new();
    let barrier = Barrier::new(THREADS);

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (table, objects, ctors, won) = (&table, &objects, &ctors, &won);
            let (log, barrier) = (log.clone(), &barrier);
            s.spawn(move || {
                log.capture(|| {
                    barrier.wait();
                    for k in order(t, OBJECTS) {
                        let new = table.alloc_with(&objects[k], SV, || {
                            ctors[k].fetch_add(1, Ordering::SeqCst);
                            Ok::<_, &str>(k)
                        });
                        if let Ok(Some(shadow)) = new {
                            assert_eq!(*shadow, k);
                            won[k].fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            });
        }
    });

    for k in 0..OBJECTS {
        assert_eq!(ctors[k].load(Ordering::SeqCst), 1);
        assert_eq!(won[k].load(Ordering::SeqCst), 1);
        assert_eq!(table.get(&objects[k], SV).as_deref(), Some(&k));
    }
    let lines = log.lines();
    assert_eq!(lines.len(), (THREADS - 1) * OBJECTS);
    for object in &objects {
        let line = format!(
            "livepatch: Duplicate shadow variable <{}, 77>",
            ObjAddr::of(object)
        );
        assert_eq!(lines.iter().filter(|l| **l == line).count(), THREADS - 1);
    }
}

/// A constructor and a destructor blocked on a gate delay no lookup: lookups of variables of
/// every shard, and of the variable being constructed or freed, finish while they wait.
#[test]
fn blocked_constructors_and_destructors_delay_no_lookup() {
    use std::sync::mpsc;
    use std::time::Duration;

    /// Generous bound for every wait; reaching it fails the test.
    const PATIENCE: Duration = Duration::from_secs(60);
    const SV: ShadowId<usize> = ShadowId::new(0x5e);
    // Enough objects that every one of the table's shards holds some of them.
    let objects: Arc<Vec<u64>> = Arc::new(vec![0; 2000]);
    let table = Arc::new(ShadowTable::new());
    for (k, object) in objects.iter().enumerate().skip(1) {
        table.alloc(object, SV, k).expect("new");
    }
    let blocked = ObjAddr::of(&objects[0]);

    // Looks every variable up from a thread of its own; fails the test if that takes longer
    // than `PATIENCE`. Returns what it found for the blocked object.
    let look_up_all = || {
        let (table, objects) = (Arc::clone(&table), Arc::clone(&objects));
        let (send, found) = mpsc::channel();
        std::thread::spawn(move || {
            for (k, object) in objects.iter().enumerate().skip(1) {
                assert_eq!(table.get(object, SV).as_deref(), Some(&k));
            }
            send.send(table.get(blocked, SV).map(|s| *s)).unwrap();
        });
        found
            .recv_timeout(PATIENCE)
            .expect("the lookups finished while a constructor or destructor was blocked")
    };
    // Runs `op` on a thread of its own, which says when it is blocked inside a constructor or
    // destructor and waits there for the gate; returns the lookups' result for the blocked
    // object, and then `op`'s.
    let while_blocked = |op: fn(&ShadowTable, ObjAddr, &dyn Fn()) -> bool| {
        let (tell, inside) = mpsc::channel();
        let (gate, wait) = mpsc::channel::<()>();
        let table = Arc::clone(&table);
        let worker = std::thread::spawn(move || {
            op(&table, blocked, &|| {
                tell.send(()).unwrap();
                // Returns when the gate is dropped.
                let _ = wait.recv();
            })
        });
        inside.recv_timeout(PATIENCE).expect("the worker blocked");
        let found = look_up_all();
        drop(gate);
        (found, worker.join().unwrap())
    };

    let constructed = while_blocked(|table, obj, block| {
        let made = table.get_or_alloc_with(obj, SV, || {
            block();
            Ok::<_, String>(0)
        });
        made.is_ok_and(|s| *s == 0)
    });
    // Not yet inserted while its constructor ran.
    assert_eq!(constructed, (None, true));
    assert_eq!(table.get(blocked, SV).as_deref(), Some(&0));

    let freed = while_blocked(|table, obj, block| {
        table.free_with(obj, SV, |_, data| {
            assert_eq!(*data, 0);
            block();
        })
    });
    // Already out of the table while its destructor ran.
    assert_eq!(freed, (None, true));
    assert_eq!(table.len(), objects.len() - 1);
}
