//! Shadow variables tied to a system state: freed when no patch on the runtime's list declares the
//! state any more (disable, cancelled or reversed enable), kept while one does (a stacked patch, a
//! replacing patch that declares it, a reversed disable). Every test has its own runtime and
//! table, so they run in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use livepatch::shadow::{ObjAddr, ShadowError, ShadowId, ShadowTable};
use livepatch::{
    CallbackError, Dmesg, EnableError, ObjectDesc, PatchDesc, PostPatch, PrePatch, Runtime,
    StateDesc, StateHandle,
};

/// The state every patch here modifies, and a second one.
const AUDIT: StateHandle<()> = StateHandle::new(1, 1).named("AUDIT");
const AUDIT_V2: StateHandle<()> = StateHandle::new(1, 2);
const OTHER: StateHandle<()> = StateHandle::new(2, 1);

static WITH_AUDIT: [StateDesc; 1] = [AUDIT.desc()];
static WITH_AUDIT_V2: [StateDesc; 1] = [AUDIT_V2.desc()];
static WITH_OTHER: [StateDesc; 1] = [OTHER.desc()];
static PROGRAM: [ObjectDesc; 1] = [ObjectDesc::program()];
/// The patch most tests tie to.
static P: PatchDesc = PatchDesc::new("p").states(&WITH_AUDIT).objects(&PROGRAM);

/// Shadow data that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

const SV: ShadowId<Counted> = ShadowId::new(0x5a);

/// Generous bound for every wait; reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

struct Fixture {
    rt: Runtime,
    table: ShadowTable,
    drops: Arc<AtomicUsize>,
    obj: Box<u64>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            rt: Runtime::new(),
            table: ShadowTable::new(),
            drops: Arc::default(),
            obj: Box::new(0),
        }
    }

    /// A fixture with patch `P` enabled and the variable tied to its state.
    fn tied_to_p() -> Self {
        let f = Fixture::new();
        f.rt.enable(&P).unwrap();
        f.tie(AUDIT);
        f
    }

    fn data(&self) -> Counted {
        Counted(Arc::clone(&self.drops))
    }

    /// Allocates the variable tied to `state`.
    fn tie(&self, state: StateHandle<()>) {
        let tied = self.table.tied(&self.rt, state);
        let shadow = tied
            .alloc(&*self.obj, SV, self.data())
            .expect("state declared")
            .expect("a new variable");
        assert_eq!(shadow.tied_state(), Some(state.id()));
    }

    fn present(&self) -> bool {
        self.table.get(&*self.obj, SV).is_some()
    }

    fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Waits for the transition in progress, if any, to complete.
    fn settle(&self) {
        self.rt
            .wait_transition(std::time::Duration::from_secs(20))
            .unwrap();
    }

    /// Disables `patch`; then the variable is gone if `freed`, and `drops` data were dropped in
    /// all.
    fn disable(&self, patch: &str, freed: bool, drops: usize) {
        self.rt.disable(patch).unwrap();
        assert_eq!(self.present(), !freed, "after disabling '{patch}'");
        assert_eq!(self.drops(), drops, "after disabling '{patch}'");
    }
}

#[test]
fn disable_frees_tied_variables() {
    let f = Fixture::tied_to_p();
    assert!(f.present());
    f.disable("p", true, 1);
    assert!(f.table.is_empty());
}

#[test]
fn untied_variables_and_other_states_stay() {
    static Q: PatchDesc = PatchDesc::new("q").states(&WITH_OTHER).objects(&PROGRAM);
    let f = Fixture::new();
    f.rt.enable(&P).unwrap();
    f.rt.enable(&Q).unwrap();
    let plain = [0u8; 2];
    f.table.alloc(&plain[0], SV, f.data()).unwrap();
    let other = f.table.tied(&f.rt, OTHER);
    other.alloc(&plain[1], SV, f.data()).unwrap().unwrap();
    f.tie(AUDIT);
    assert_eq!(f.table.len(), 3);

    f.rt.disable("p").unwrap();
    assert_eq!(f.drops(), 1);
    assert!(!f.present());
    assert!(f.table.get(&plain[0], SV).is_some());
    assert!(f.table.get(&plain[1], SV).is_some());

    f.rt.disable("q").unwrap();
    assert_eq!(f.drops(), 2);
    assert!(f.table.get(&plain[0], SV).is_some());
    assert!(f.table.get(&plain[1], SV).is_none());
}

#[test]
fn kept_while_another_patch_on_the_list_declares_the_state() {
    static LOW: PatchDesc = PatchDesc::new("low").states(&WITH_AUDIT).objects(&PROGRAM);
    static HIGH: PatchDesc = PatchDesc::new("high").states(&WITH_AUDIT).objects(&PROGRAM);
    let f = Fixture::new();
    f.rt.enable(&LOW).unwrap();
    f.rt.enable(&HIGH).unwrap();
    f.tie(AUDIT);
    f.disable("high", false, 0);
    f.disable("low", true, 1);
}

#[test]
fn a_replacing_patch_that_declares_the_state_takes_the_variables_over() {
    static V1: PatchDesc = PatchDesc::new("v1")
        .replace(true)
        .states(&WITH_AUDIT)
        .objects(&PROGRAM);
    static V2: PatchDesc = PatchDesc::new("v2")
        .replace(true)
        .states(&WITH_AUDIT_V2)
        .objects(&PROGRAM);
    let f = Fixture::new();
    f.rt.enable(&V1).unwrap();
    f.tie(AUDIT);
    f.rt.enable(&V2).unwrap();
    let names: Vec<_> = f.rt.patches().iter().map(|p| p.name).collect();
    assert_eq!(names, ["v2"], "v1 was replaced");
    assert!(f.present());
    assert_eq!(f.drops(), 0);
    f.disable("v2", true, 1);
}

/// A cumulative patch must declare every installed state (SPEC §2), so a replace can never drop
/// the state: the enable is refused and the variable stays. A non-cumulative patch without the
/// state stacks on top and leaves it alone.
#[test]
fn a_patch_without_the_state_leaves_the_variables_alone() {
    static CUMULATIVE: PatchDesc = PatchDesc::new("cumulative")
        .replace(true)
        .states(&WITH_OTHER)
        .objects(&PROGRAM);
    static STACKED: PatchDesc = PatchDesc::new("stacked")
        .states(&WITH_OTHER)
        .objects(&PROGRAM);
    let f = Fixture::tied_to_p();

    let refused = f.rt.enable(&CUMULATIVE);
    assert!(matches!(refused, Err(EnableError::Incompatible { .. })));
    assert!(f.present());

    f.rt.enable(&STACKED).unwrap();
    f.disable("stacked", false, 0);

    f.disable("p", true, 1);
}

#[test]
fn only_the_runtime_the_variable_is_tied_to_releases_it() {
    let f = Fixture::new();
    let other = Runtime::new();
    f.rt.enable(&P).unwrap();
    other.enable(&P).unwrap();
    f.tie(AUDIT);
    other.disable("p").unwrap();
    assert!(f.present());
    f.disable("p", true, 1);
}

#[test]
fn a_state_no_patch_declares_is_refused_before_the_constructor_runs() {
    let f = Fixture::new();
    let tied = f.table.tied(&f.rt, AUDIT);
    let ran = AtomicUsize::new(0);
    let ctor = || {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(f.data())
    };
    let refused = tied.get_or_alloc_with(&*f.obj, SV, ctor).map(|_| ());
    assert_eq!(
        refused,
        Err(ShadowError::StateNotDeclared {
            state: AUDIT.label()
        })
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        "state AUDIT (id 1) is not declared by any patch on the runtime: tie shadow variables to \
         a state of an installed patch (or allocate them untied)"
    );

    // Declared, then released: refused again.
    f.rt.enable(&P).unwrap();
    f.rt.disable("p").unwrap();
    let refused = tied.alloc(&*f.obj, SV, f.data()).map(|_| ());
    assert_eq!(
        refused,
        Err(ShadowError::StateNotDeclared {
            state: AUDIT.label()
        })
    );
    let zero = StateHandle::<()>::new(0, 1);
    let refused = f.table.tied(&f.rt, zero).alloc(&*f.obj, SV, f.data());
    assert_eq!(
        refused.map(|_| ()),
        Err(ShadowError::StateNotDeclared {
            state: zero.label()
        })
    );

    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(f.table.is_empty());
    assert_eq!(f.drops(), 2, "the values given to the refused allocs");
}

/// The state is released while the constructor runs, after the first check and before the
/// variable is inserted: the release cannot see it yet, so the allocation takes it out again.
#[test]
fn released_while_the_constructor_runs_keeps_nothing() {
    let f = Fixture::new();
    f.rt.enable(&P).unwrap();
    let tied = f.table.tied(&f.rt, AUDIT);
    let result = tied.alloc_with(&*f.obj, SV, || {
        f.rt.disable("p").map_err(|e| e.to_string())?;
        Ok::<_, String>(f.data())
    });
    assert_eq!(
        result.map(|_| ()),
        Err(ShadowError::StateNotDeclared {
            state: AUDIT.label()
        })
    );
    assert!(f.table.is_empty());
    assert_eq!(f.drops(), 1);
}

#[test]
fn handles_keep_the_data_until_they_go() {
    let f = Fixture::tied_to_p();
    let held = f.table.get(&*f.obj, SV).unwrap();
    f.disable("p", true, 0);
    drop(held);
    assert_eq!(f.drops(), 1);
}

/// Callbacks run under the runtime's lock; variables tied from there follow the state too.
mod from_callbacks {
    use super::*;

    static RT: LazyLock<Runtime> = LazyLock::new(Runtime::new);
    static TABLE: LazyLock<ShadowTable> = LazyLock::new(ShadowTable::new);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static OBJ: u64 = 0;

    struct Tracked;

    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    const SV_CB: ShadowId<Tracked> = ShadowId::new(0xcb);

    fn tie_here() -> Result<(), String> {
        let tied = TABLE.tied(&RT, AUDIT);
        match tied.alloc(&OBJ, SV_CB, Tracked) {
            Ok(Some(_)) => Ok(()),
            other => Err(format!("alloc: {:?}", other.map(|s| s.is_some()))),
        }
    }

    fn alloc_then_fail(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tie_here().map_err(CallbackError::new)?;
        Err(CallbackError::new("refusing"))
    }

    fn alloc_in_post_patch(_: &mut PostPatch<'_>) {
        tie_here().expect("tied from post_patch");
    }

    static CANCELLED: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(alloc_then_fail)];
    static ALLOCATING: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(alloc_in_post_patch)];

    /// Both scenarios share the statics a callback can reach, so they run in sequence here.
    #[test]
    fn cancelled_enable_and_post_patch() {
        static FAILING: PatchDesc = PatchDesc::new("failing")
            .states(&WITH_AUDIT)
            .objects(&CANCELLED);
        static GOOD: PatchDesc = PatchDesc::new("good")
            .states(&WITH_AUDIT)
            .objects(&ALLOCATING);

        // The enable is cancelled by the failing pre_patch: the patch leaves the list, the state
        // is released, and the variable its pre_patch tied to it is freed.
        let err = RT.enable(&FAILING);
        assert!(matches!(err, Err(EnableError::PrePatchFailed { .. })));
        assert!(RT.patches().is_empty());
        assert!(TABLE.get(&OBJ, SV_CB).is_none());
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);

        RT.enable(&GOOD).unwrap();
        assert!(TABLE.get(&OBJ, SV_CB).is_some());
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        RT.disable("good").unwrap();
        assert!(TABLE.get(&OBJ, SV_CB).is_none());
        assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    }
}

#[test]
fn a_panicking_drop_at_release_is_logged_and_contained() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    const SV_BOMB: ShadowId<Bomb> = ShadowId::new(0xb);
    let f = Fixture::new();
    f.rt.enable(&P).unwrap();
    f.table
        .tied(&f.rt, AUDIT)
        .alloc(&*f.obj, SV_BOMB, Bomb)
        .unwrap();
    let log = Dmesg::new();
    log.capture(|| f.rt.disable("p")).unwrap();
    assert!(f.table.is_empty());
    let shadow_lines: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.contains("shadow"))
        .collect();
    assert_eq!(
        shadow_lines,
        [format!(
            "livepatch: dropping shadow variable <{}, b> panicked: boom",
            ObjAddr::of(&*f.obj)
        )]
    );
}

/// Across reversed transitions: a thread parked inside a patched function holds the transition
/// open, and the patch's `enabled` switch reverses it. A reversed enable takes the patch off the
/// list and releases its state; a reversed disable keeps both.
mod reversal {
    use std::sync::{Condvar, Mutex, PoisonError};
    use std::time::Instant;

    use livepatch::{FuncDesc, FuncSlot, ObjectName, Replacement};

    use super::*;

    /// Where a patchable function's code parks the calling thread until the test lets it go.
    struct Gate {
        /// How many threads came in, and whether the gate is open.
        state: Mutex<(usize, bool)>,
        changed: Condvar,
    }

    impl Gate {
        const fn new() -> Self {
            Gate {
                state: Mutex::new((0, false)),
                changed: Condvar::new(),
            }
        }

        fn visit(&self) {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 += 1;
            self.changed.notify_all();
            while !state.1 {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }

        /// Waits until `n` threads have come in.
        fn wait_inside(&self, n: usize) {
            let deadline = Instant::now() + PATIENCE;
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            while state.0 < n {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "no thread came into the patched function");
                state = self
                    .changed
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }

        fn open(&self) {
            self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
            self.changed.notify_all();
        }
    }

    type Parkable = fn() -> &'static str;

    /// A module with a patchable function `enter` that parks at `GATE`, and a patch `PATCH` named "p"
    /// that replaces it and declares the state `AUDIT`. Each test has its own, so tests running at
    /// once share nothing.
    macro_rules! parkable_patch {
        ($module:ident) => {
            mod $module {
                use super::*;

                pub static GATE: Gate = Gate::new();
                static SLOT: FuncSlot<Parkable> = FuncSlot::new("f", ObjectName::Program, || {
                    GATE.visit();
                    "original"
                });
                static NEW: Replacement<Parkable> = Replacement::new(&SLOT, || {
                    GATE.visit();
                    "patched"
                });
                static FUNCS: [FuncDesc; 1] = [FuncDesc::new(&NEW)];
                static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&FUNCS)];
                pub static PATCH: PatchDesc =
                    PatchDesc::new("p").states(&WITH_AUDIT).objects(&OBJECTS);

                pub fn enter() -> &'static str {
                    SLOT.call(|f| f())
                }
            }
        };
    }

    parkable_patch!(enable);

    #[test]
    fn a_reversed_enable_frees_the_variables_tied_to_its_state() {
        use enable::*;
        let f = Fixture::new();
        // A thread inside the original function holds the patching transition open.
        let parked = std::thread::spawn(enter);
        GATE.wait_inside(1);
        f.rt.enable(&PATCH).unwrap();
        assert!(f.rt.transition().is_some_and(|t| t.patch == "p"));

        // Tied while the patch is in transition: it is on the list and declares the state.
        f.tie(AUDIT);
        assert!(f.present());

        let log = Dmesg::new();
        log.capture(|| f.rt.disable("p")).unwrap();
        assert!(log.lines().contains(&reversing("patching to unpatching")));
        f.settle();
        assert!(f.rt.patches().is_empty());
        assert!(!f.present());
        assert_eq!(f.drops(), 1);

        GATE.open();
        assert_eq!(parked.join().unwrap(), "original");
    }

    parkable_patch!(disable);

    #[test]
    fn a_reversed_disable_keeps_the_variables_tied_to_its_state() {
        use disable::*;
        let f = Fixture::new();
        f.rt.enable(&PATCH).unwrap();
        f.settle();
        f.tie(AUDIT);

        // A thread inside the patched function holds the unpatching transition open.
        let parked = std::thread::spawn(enter);
        GATE.wait_inside(1);
        f.rt.disable("p").unwrap();
        assert!(f.rt.transition().is_some_and(|t| t.patch == "p"));
        assert!(f.present(), "the patch is still on the list");

        let log = Dmesg::new();
        log.capture(|| f.rt.set_enabled("p", true)).unwrap();
        assert!(log.lines().contains(&reversing("unpatching to patching")));
        f.settle();
        assert!(f.rt.patch("p").is_some_and(|p| p.enabled));
        assert!(f.present());
        assert_eq!(f.drops(), 0);

        GATE.open();
        assert_eq!(parked.join().unwrap(), "patched");
        f.rt.disable("p").unwrap();
        f.settle();
        assert!(!f.present());
        assert_eq!(f.drops(), 1);
    }

    fn reversing(path: &str) -> String {
        format!("livepatch: 'p': reversing transition from {path}")
    }
}

#[test]
fn dropping_the_runtime_releases_its_states() {
    let f = Fixture::tied_to_p();
    let Fixture {
        rt,
        table,
        drops,
        obj,
    } = f;
    assert!(table.get(&*obj, SV).is_some());
    drop(rt);
    assert!(table.get(&*obj, SV).is_none());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Two runtimes whose callbacks tie variables to each other's states at the same moment: the
/// tie checks take no runtime lock, so neither waits for the other.
mod across_runtimes {
    use super::*;
    use std::sync::Barrier;
    use std::sync::mpsc;

    static LEFT: LazyLock<Runtime> = LazyLock::new(Runtime::new);
    static RIGHT: LazyLock<Runtime> = LazyLock::new(Runtime::new);
    static TABLE: LazyLock<ShadowTable> = LazyLock::new(ShadowTable::new);
    static BOTH_INSIDE: Barrier = Barrier::new(2);
    static LEFT_OBJ: u64 = 1;
    static RIGHT_OBJ: u64 = 2;
    const TIED: ShadowId<u32> = ShadowId::new(0x77);

    static HOLDS_AUDIT: PatchDesc = PatchDesc::new("holds").states(&WITH_AUDIT);

    fn tie_to_right(_: &mut PostPatch<'_>) {
        BOTH_INSIDE.wait();
        let tied = TABLE.tied(&RIGHT, AUDIT).alloc(&LEFT_OBJ, TIED, 1);
        assert!(matches!(tied, Ok(Some(_))), "{tied:?}");
    }

    fn tie_to_left(_: &mut PostPatch<'_>) {
        BOTH_INSIDE.wait();
        let tied = TABLE.tied(&LEFT, AUDIT).alloc(&RIGHT_OBJ, TIED, 2);
        assert!(matches!(tied, Ok(Some(_))), "{tied:?}");
    }

    static LEFT_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(tie_to_right)];
    static RIGHT_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(tie_to_left)];
    static LEFT_PATCH: PatchDesc = PatchDesc::new("left").objects(&LEFT_OBJECTS);
    static RIGHT_PATCH: PatchDesc = PatchDesc::new("right").objects(&RIGHT_OBJECTS);

    #[test]
    fn ties_from_each_others_callbacks_do_not_deadlock() {
        LEFT.enable(&HOLDS_AUDIT).unwrap();
        RIGHT.enable(&HOLDS_AUDIT).unwrap();
        let (done, finished) = mpsc::channel();
        for (rt, patch) in [(&*LEFT, &LEFT_PATCH), (&*RIGHT, &RIGHT_PATCH)] {
            let done = done.clone();
            std::thread::spawn(move || {
                rt.enable(patch).unwrap();
                done.send(()).unwrap();
            });
        }
        for _ in 0..2 {
            finished
                .recv_timeout(PATIENCE)
                .expect("the two enables finished");
        }
        assert_eq!(TABLE.get(&LEFT_OBJ, TIED).map(|s| *s), Some(1));
        assert_eq!(TABLE.get(&RIGHT_OBJ, TIED).map(|s| *s), Some(2));
        // Each variable goes with the state it is tied to.
        RIGHT.disable("holds").unwrap();
        assert!(TABLE.get(&LEFT_OBJ, TIED).is_none());
        assert_eq!(TABLE.get(&RIGHT_OBJ, TIED).map(|s| *s), Some(2));
        LEFT.disable("holds").unwrap();
        assert!(TABLE.get(&RIGHT_OBJ, TIED).is_none());
    }
}
/// A release reported late: the disable that releases the state is still dropping the state's
/// data (outside the runtime's lock, before it reports the release) when a newer patch declares
/// the state again and a variable is tied to it. The late report must not free that variable.
mod late_release {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender, channel};

    const HELD: StateHandle<Stalling> = StateHandle::new(7, 1);
    static WITH_HELD: [StateDesc; 1] = [HELD.desc()];
    const PLAIN: StateHandle<()> = StateHandle::new(7, 1);
    static WITH_PLAIN: [StateDesc; 1] = [PLAIN.desc()];

    /// Said when the state's data starts dropping; the drop then waits for the gate.
    static DROPPING: Mutex<Option<Sender<()>>> = Mutex::new(None);
    static GATE: Mutex<Option<Receiver<()>>> = Mutex::new(None);

    /// State data whose drop stalls the disable after it left the runtime's lock.
    struct Stalling;

    impl Drop for Stalling {
        fn drop(&mut self) {
            if let Some(tell) = DROPPING.lock().unwrap().take() {
                tell.send(()).unwrap();
                let gate = GATE.lock().unwrap().take().unwrap();
                // Returns when the gate is dropped.
                let _ = gate.recv();
            }
        }
    }

    fn set_data(cx: &mut PostPatch<'_>) {
        cx.state(HELD).unwrap().set(Stalling);
    }

    static SETS_DATA: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(set_data)];
    static OLD: PatchDesc = PatchDesc::new("old").states(&WITH_HELD).objects(&SETS_DATA);
    static NEW: PatchDesc = PatchDesc::new("new").states(&WITH_PLAIN).objects(&PROGRAM);

    #[test]
    fn keeps_what_was_tied_after_the_state_was_declared_again() {
        let f = Fixture::new();
        let (tell, dropping) = channel();
        let (gate, wait) = channel::<()>();
        *DROPPING.lock().unwrap() = Some(tell);
        *GATE.lock().unwrap() = Some(wait);
        f.rt.enable(&OLD).unwrap();
        let early = Box::new(0u8);
        let tied = f.table.tied(&f.rt, PLAIN);
        tied.alloc(&*early, SV, f.data()).unwrap().expect("new");

        std::thread::scope(|s| {
            let disable = s.spawn(|| f.rt.disable("old"));
            dropping
                .recv_timeout(PATIENCE)
                .expect("the disable drops the state's data");
            // The state is released but the release not reported yet: declare it again and tie.
            f.rt.enable(&NEW).unwrap();
            f.table
                .tied(&f.rt, PLAIN)
                .alloc(&*f.obj, SV, f.data())
                .unwrap()
                .expect("new");
            drop(gate);
            disable.join().unwrap().unwrap();
        });

        // The late report freed what was tied before the release, and only that.
        assert!(f.table.get(&*early, SV).is_none());
        assert!(f.present(), "tied after the state was declared again");
        assert_eq!(f.drops(), 1);
        f.rt.disable("new").unwrap();
        assert!(f.table.is_empty());
        assert_eq!(f.drops(), 2);
    }
}
