//! SPEC §2: state ids and versions, the compatibility check of enable, `get_state` and
//! `get_prev_state`, and how typed state data moves between patches, with every piece of data
//! dropped exactly once.

mod common;

use common::{Counted, Harness, assert_log, chain, leak, slice, test_lines};
use livepatch::prelude::*;
use livepatch::{ConflictReason, EnableError, StateConflict};
use livepatch::{ObjectDesc, PatchDesc, StateDesc, StateHandle};

/// A patch with states of no data, given as (id, version).
fn with_states(name: &'static str, replace: bool, states: &[(u64, u32)]) -> &'static PatchDesc {
    let states = states
        .iter()
        .map(|&(id, version)| StateHandle::<()>::new(id, version).desc())
        .collect();
    leak(PatchDesc::new(name).replace(replace).states(slice(states)))
}

// ---- compatibility -------------------------------------------------------------------------

#[test]
fn states_no_installed_patch_has_are_always_allowed() {
    let h = Harness::new();
    h.rt.enable(with_states("a", true, &[(1, 1)])).unwrap();
    // A cumulative patch adding a new state while keeping the old one.
    h.rt.enable(with_states("b", true, &[(1, 1), (2, 1)]))
        .unwrap();
    assert_eq!(h.rt.patches().len(), 1);
}

#[test]
fn same_or_higher_versions_are_allowed_lower_ones_are_not() {
    let h = Harness::new();
    h.rt.enable(with_states("v2", false, &[(1, 2)])).unwrap();
    h.rt.enable(with_states("same", false, &[(1, 2)])).unwrap();
    h.rt.enable(with_states("higher", false, &[(1, 3)]))
        .unwrap();
    let lower = with_states("lower", false, &[(1, 2)]);
    let err = h.run(|h| h.rt.enable(lower).unwrap_err());
    let EnableError::Incompatible { patch, conflicts } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(*patch, "lower");
    assert_eq!(
        conflicts,
        &[StateConflict {
            id: 1,
            name: None,
            installed_patch: "higher",
            installed_version: 3,
            reason: ConflictReason::VersionLowered { new_version: 2 },
        }]
    );
    assert_log(
        &h.log.lines(),
        "livepatch: Livepatch patch (lower) is not compatible with the already installed livepatches.",
    );
}

#[test]
fn non_cumulative_patches_may_leave_installed_states_alone_cumulative_ones_may_not() {
    let h = Harness::new();
    h.rt.enable(with_states("a", false, &[(1, 1)])).unwrap();
    h.rt.enable(with_states("plain", false, &[])).unwrap();
    let err =
        h.rt.enable(with_states("cumulative", true, &[]))
            .unwrap_err();
    assert!(matches!(
        &err,
        EnableError::Incompatible { conflicts, .. } if conflicts == &[StateConflict {
            id: 1,
            name: None,
            installed_patch: "a",
            installed_version: 1,
            reason: ConflictReason::DroppedByCumulative,
        }]
    ));
}

fn record_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    tracing::info!(target: "test", "{}: pre_patch", cx.patch_name());
    Ok(())
}

#[test]
fn an_incompatible_patch_names_every_offending_state_and_changes_nothing() {
    let h = Harness::new();
    h.rt.enable(with_states("first", false, &[(1, 4), (2, 1)]))
        .unwrap();
    h.rt.enable(with_states("second", false, &[(3, 2)]))
        .unwrap();
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(record_pre_patch)];
    let bad = leak(
        PatchDesc::new("bad")
            .replace(true)
            .states(slice(vec![
                StateHandle::<()>::new(1, 3).desc(),
                StateHandle::<()>::new(2, 1).desc(),
            ]))
            .objects(&OBJECTS),
    );
    let before = h.rt.patches();
    let err = h.run(|h| h.rt.enable(bad).unwrap_err());
    let EnableError::Incompatible { conflicts, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(
        conflicts,
        &[
            StateConflict {
                id: 1,
                name: None,
                installed_patch: "first",
                installed_version: 4,
                reason: ConflictReason::VersionLowered { new_version: 3 },
            },
            StateConflict {
                id: 3,
                name: None,
                installed_patch: "second",
                installed_version: 2,
                reason: ConflictReason::DroppedByCumulative,
            },
        ]
    );
    assert_eq!(
        err.to_string(),
        "patch 'bad' is not compatible with the installed patches: state 1 is at version 4 in \
         patch 'first' and the new patch lowers it to 3; state 3 (version 2 in patch 'second') is \
         dropped by the new cumulative patch, which must declare it; raise the patch's state \
         versions, declare the states it drops, or disable the installed patches first"
    );
    // No callback ran, nothing joined the list.
    assert_log(
        &h.log.lines(),
        "livepatch: Livepatch patch (bad) is not compatible with the already installed livepatches.",
    );
    assert_eq!(h.rt.patches(), before);
}

// ---- get_state and get_prev_state -----------------------------------------------------------

const S1: StateHandle<&'static str> = StateHandle::new(1, 1);
const S1_V2: StateHandle<&'static str> = StateHandle::new(1, 2);
const S1_V3: StateHandle<&'static str> = StateHandle::new(1, 3);
const OTHER_TYPE: StateHandle<u64> = StateHandle::new(1, 3);
const UNDECLARED: StateHandle<&'static str> = StateHandle::new(9, 1);

fn report_states(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    let name = cx.patch_name();
    let own = cx.state(S1_V3).map(|s| s.version());
    let other_type = cx.state(OTHER_TYPE).is_some();
    let undeclared = cx.state(UNDECLARED).is_some();
    let prev = cx.prev_state(S1).map(|p| (p.patch_name(), p.version()));
    let prev_undeclared = cx.prev_state(UNDECLARED).is_some();
    tracing::info!(
        target: "test",
        "{name}: own {own:?}, other type {other_type}, undeclared {undeclared}, prev {prev:?}, \
         prev undeclared {prev_undeclared}"
    );
    Ok(())
}

fn store_name(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    let name = cx.patch_name();
    for handle in [S1, S1_V2] {
        if let Some(mut s) = cx.state(handle) {
            s.set(name);
        }
    }
    Ok(())
}

#[test]
fn get_state_is_typed_and_prev_state_is_the_last_earlier_patch_with_the_id() {
    let h = Harness::new();
    static STORE: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(store_name)];
    static REPORT: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(report_states)];
    let a = leak(
        PatchDesc::new("a")
            .states(slice(vec![S1.desc()]))
            .objects(&STORE),
    );
    let b = leak(
        PatchDesc::new("b")
            .states(slice(vec![S1_V2.desc()]))
            .objects(&STORE),
    );
    let without = leak(PatchDesc::new("without").objects(&STORE));
    let c = leak(
        PatchDesc::new("c")
            .states(slice(vec![S1_V3.desc()]))
            .objects(&REPORT),
    );
    h.rt.enable(a).unwrap();
    h.rt.enable(b).unwrap();
    h.rt.enable(without).unwrap();
    h.run(|h| {
        h.log.take();
        h.rt.enable(c).unwrap();
    });
    let lines = test_lines(&h.log);
    assert_eq!(
        lines,
        [
            "test: c: own Some(3), other type false, undeclared false, prev Some((\"b\", 2)), \
             prev undeclared false"
        ]
    );
    // A handle of another data type finds nothing, and is told so.
    let warned: Vec<_> = h
        .log
        .lines()
        .into_iter()
        .filter(|l| l.contains("asks for"))
        .collect();
    assert_eq!(
        warned,
        [
            "livepatch: 'c': state 1 holds data of type &str, and the handle asks for u64: the \
             callback finds no state; use a handle of the declared type"
        ]
    );
}

fn read_prev(cx: &mut PostPatch<'_>) {
    let Some(prev) = cx.prev_state(S1) else {
        tracing::info!(target: "test", "no prev");
        return;
    };
    let as_str = prev.data::<&'static str>().map(|d| d.copied());
    let as_u64 = prev.data::<u64>().map(|d| d.copied());
    tracing::info!(target: "test", "prev data {as_str:?}; as u64 {as_u64:?}");
}

#[test]
fn previous_state_data_is_readable_with_its_own_type_only() {
    let h = Harness::new();
    static STORE: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(store_name)];
    static READ: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(read_prev)];
    h.rt.enable(leak(
        PatchDesc::new("a")
            .states(slice(vec![S1.desc()]))
            .objects(&STORE),
    ))
    .unwrap();
    h.run(|h| {
        h.rt.enable(leak(PatchDesc::new("reader").objects(&READ)))
            .unwrap()
    });
    let lines = test_lines(&h.log);
    assert_eq!(
        lines,
        [
            "test: prev data Ok(Some(\"a\")); as u64 Err(TypeMismatch { \
             state: StateLabel { id: 1, name: None }, patch: \"a\", \
             found: \"&str\", expected: \"u64\" })"
        ]
    );
}

// ---- data: take over, pass back, drop exactly once ------------------------------------------

const DATA_V1: StateHandle<Counted> = StateHandle::new(7, 1);
const DATA_V2: StateHandle<Counted> = StateHandle::new(7, 2);
const WRONG_TYPE: StateHandle<String> = StateHandle::new(7, 2);

fn allocate(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    if cx.prev_state(DATA_V1).is_some() {
        return Ok(());
    }
    // Own states are found by id and data type: DATA_V1 reaches this patch's state 7 whichever
    // version the patch declares.
    if let Some(mut s) = cx.state(DATA_V1) {
        s.set(Counted::new());
    }
    Ok(())
}

fn take_over(cx: &mut PostPatch<'_>) {
    if cx.prev_state(DATA_V2).is_some() {
        let result = cx.take_over(DATA_V2);
        tracing::info!(target: "test", "{}: take over: {result:?}", cx.patch_name());
    }
}

static ALLOCATE: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(allocate)];
static ALLOCATE_AND_TAKE: [ObjectDesc; 1] = [ObjectDesc::program()
    .pre_patch(allocate)
    .post_patch(take_over)];

fn v1(name: &'static str) -> &'static PatchDesc {
    leak(
        PatchDesc::new(name)
            .states(slice(vec![DATA_V1.desc()]))
            .objects(&ALLOCATE),
    )
}

fn v2(name: &'static str, replace: bool) -> &'static PatchDesc {
    leak(
        PatchDesc::new(name)
            .replace(replace)
            .states(slice(vec![DATA_V2.desc()]))
            .objects(&ALLOCATE_AND_TAKE),
    )
}

fn has_data(h: &Harness) -> Vec<(&'static str, bool)> {
    h.rt.patches()
        .iter()
        .map(|p| (p.name, p.states[0].has_data))
        .collect()
}

#[test]
fn data_taken_over_by_a_newer_patch_goes_back_when_that_patch_is_disabled() {
    let h = Harness::new();
    h.run(|h| {
        h.rt.enable(v1("old")).unwrap();
        h.rt.enable(v2("new", false)).unwrap();
    });
    assert_eq!(has_data(&h), [("old", false), ("new", true)]);
    assert_eq!(Counted::counts(), (1, 0));
    h.rt.disable("new").unwrap();
    assert_eq!(has_data(&h), [("old", true)]);
    assert_eq!(Counted::counts(), (1, 0));
    h.rt.disable("old").unwrap();
    assert_eq!(Counted::counts(), (1, 1));
    assert_log(&test_lines(&h.log), "test: new: take over: Ok(())");
}

#[test]
fn data_follows_the_chain_when_a_middle_patch_leaves_first() {
    let h = Harness::new();
    h.rt.enable(v1("a")).unwrap();
    h.rt.enable(v2("b", false)).unwrap();
    h.rt.enable(v2("c", false)).unwrap();
    assert_eq!(has_data(&h), [("a", false), ("b", false), ("c", true)]);
    // b leaves: c now owes the data to a.
    h.rt.disable("b").unwrap();
    assert_eq!(has_data(&h), [("a", false), ("c", true)]);
    h.rt.disable("c").unwrap();
    assert_eq!(has_data(&h), [("a", true)]);
    assert_eq!(Counted::counts(), (1, 0));
    h.rt.disable("a").unwrap();
    assert_eq!(Counted::counts(), (1, 1));
}

#[test]
fn data_whose_origin_has_left_is_dropped_with_its_holder() {
    let h = Harness::new();
    h.rt.enable(v1("a")).unwrap();
    h.rt.enable(v2("b", false)).unwrap();
    h.rt.disable("a").unwrap();
    assert_eq!(Counted::counts(), (1, 0));
    h.rt.disable("b").unwrap();
    assert_eq!(Counted::counts(), (1, 1));
}

#[test]
fn a_replace_keeps_what_it_took_over_and_drops_the_rest_once() {
    let h = Harness::new();
    // Two states in the replaced patch: the new patch takes over one and ignores the other.
    const KEPT: StateHandle<Counted> = StateHandle::new(1, 1);
    const IGNORED: StateHandle<Counted> = StateHandle::new(2, 1);
    fn alloc_both(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        for h in [KEPT, IGNORED] {
            if cx.prev_state(h).is_some() {
                continue;
            }
            if let Some(mut s) = cx.state(h) {
                s.set(Counted::new());
            }
        }
        Ok(())
    }
    fn keep_one(cx: &mut PostPatch<'_>) {
        if cx.prev_state(KEPT).is_some() {
            cx.take_over(KEPT).unwrap();
        }
    }
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
        .pre_patch(alloc_both)
        .post_patch(keep_one)];
    static STATES: [StateDesc; 2] = [KEPT.desc(), IGNORED.desc()];
    static OLD: PatchDesc = PatchDesc::new("old")
        .replace(true)
        .states(&STATES)
        .objects(&OBJECTS);
    static NEW: PatchDesc = PatchDesc::new("new")
        .replace(true)
        .states(&STATES)
        .objects(&OBJECTS);
    h.rt.enable(&OLD).unwrap();
    assert_eq!(Counted::counts(), (2, 0));
    h.rt.enable(&NEW).unwrap();
    // The ignored data of the replaced patch is gone; the kept one moved.
    assert_eq!(Counted::counts(), (2, 1));
    let states: Vec<_> =
        h.rt.patch("new")
            .unwrap()
            .states
            .iter()
            .map(|s| s.has_data)
            .collect();
    assert_eq!(states, [true, false]);
    h.rt.disable("new").unwrap();
    assert_eq!(Counted::counts(), (2, 2));
}

#[test]
fn data_allocated_by_a_cancelled_enable_is_dropped_once() {
    let h = Harness::new();
    fn refuse(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        Err(CallbackError::new("no"))
    }
    static OBJECTS: [ObjectDesc; 2] = [
        ObjectDesc::program().pre_patch(allocate),
        ObjectDesc::named("net").pre_patch(refuse),
    ];
    static STATES: [StateDesc; 1] = [DATA_V1.desc()];
    static P: PatchDesc = PatchDesc::new("p").states(&STATES).objects(&OBJECTS);
    h.rt.load_object("net").unwrap();
    assert!(h.rt.enable(&P).is_err());
    assert_eq!(Counted::counts(), (1, 1));
    assert!(h.rt.patches().is_empty());
}

#[test]
fn data_of_a_cancelled_enable_that_took_over_goes_back() {
    let h = Harness::new();
    fn take_then_refuse(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        cx.take_over(DATA_V2).map_err(CallbackError::from_error)?;
        Err(CallbackError::new("changed my mind"))
    }
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(take_then_refuse)];
    static STATES: [StateDesc; 1] = [DATA_V2.desc()];
    static P: PatchDesc = PatchDesc::new("p")
        .replace(true)
        .states(&STATES)
        .objects(&OBJECTS);
    h.rt.enable(v1("old")).unwrap();
    let err = h.rt.enable(&P).unwrap_err();
    assert_eq!(
        chain(&err),
        [
            "pre_patch of patch 'p' failed for object 'vmlinux'",
            "changed my mind"
        ]
    );
    assert_eq!(has_data(&h), [("old", true)]);
    assert_eq!(Counted::counts(), (1, 0));
    h.rt.disable("old").unwrap();
    assert_eq!(Counted::counts(), (1, 1));
}

fn try_take_over_errors(cx: &mut PostPatch<'_>) {
    let name = cx.patch_name();
    let wrong_type = cx.take_over(WRONG_TYPE);
    let undeclared = cx.take_over(StateHandle::<Counted>::new(99, 1));
    let first = cx.take_over(DATA_V2);
    let again = cx.take_over(DATA_V2);
    tracing::info!(target: "test", "{name}: {wrong_type:?}");
    tracing::info!(target: "test", "{name}: {undeclared:?}");
    tracing::info!(target: "test", "{name}: {first:?}");
    tracing::info!(target: "test", "{name}: {again:?}");
}

#[test]
fn take_over_checks_type_presence_and_ownership() {
    let h = Harness::new();
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(try_take_over_errors)];
    static STATES: [StateDesc; 1] = [DATA_V2.desc()];
    static P: PatchDesc = PatchDesc::new("p").states(&STATES).objects(&OBJECTS);
    h.rt.enable(v1("old")).unwrap();
    h.run(|h| h.rt.enable(&P).unwrap());
    let lines = test_lines(&h.log);
    // WRONG_TYPE has this patch's id but another type: the type check refuses it. (The first
    // mismatch found is the taker's own declared type.)
    assert_eq!(
        lines,
        [
            "test: p: Err(TypeMismatch { state: StateLabel { id: 7, name: None }, patch: \"p\", \
             found: \"spec_states::common::Counted\", \
             expected: \"alloc::string::String\" })",
            "test: p: Err(NotDeclared { state: StateLabel { id: 99, name: None }, \
             patch: \"p\" })",
            "test: p: Ok(())",
            "test: p: Err(AlreadyHasData { state: StateLabel { id: 7, name: None }, \
             patch: \"p\" })",
        ]
    );
    assert_eq!(has_data(&h), [("old", false), ("p", true)]);
}

#[test]
fn take_over_refuses_data_of_another_type_in_the_previous_patch() {
    let h = Harness::new();
    const MINE: StateHandle<u32> = StateHandle::new(7, 2);
    fn store_counted(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        cx.state(DATA_V1).unwrap().set(Counted::new());
        Ok(())
    }
    fn take(cx: &mut PostPatch<'_>) {
        let err = cx.take_over(MINE).unwrap_err();
        tracing::info!(target: "test", "{err}");
    }
    static OLD_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(store_counted)];
    static OLD_STATES: [StateDesc; 1] = [DATA_V1.desc()];
    static OLD: PatchDesc = PatchDesc::new("old")
        .states(&OLD_STATES)
        .objects(&OLD_OBJECTS);
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(take)];
    static STATES: [StateDesc; 1] = [MINE.desc()];
    static NEW: PatchDesc = PatchDesc::new("new").states(&STATES).objects(&OBJECTS);
    h.rt.enable(&OLD).unwrap();
    h.run(|h| h.rt.enable(&NEW).unwrap());
    let lines = test_lines(&h.log);
    assert_eq!(
        lines,
        [
            "test: state 7 of patch 'old' holds spec_states::common::Counted, not u32; read it as \
             spec_states::common::Counted and convert it"
        ]
    );
    assert_eq!(Counted::counts(), (1, 0));
    h.rt.disable("new").unwrap();
    h.rt.disable("old").unwrap();
    assert_eq!(Counted::counts(), (1, 1));
}

#[test]
fn take_over_without_previous_state_or_data_fails() {
    let h = Harness::new();
    fn take(cx: &mut PostPatch<'_>) {
        let err = cx.take_over(DATA_V2).unwrap_err();
        tracing::info!(target: "test", "{err}");
    }
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().post_patch(take)];
    static STATES: [StateDesc; 1] = [DATA_V2.desc()];
    static FIRST: PatchDesc = PatchDesc::new("first").states(&STATES).objects(&OBJECTS);
    static SECOND: PatchDesc = PatchDesc::new("second").states(&STATES).objects(&OBJECTS);
    h.run(|h| {
        h.rt.enable(&FIRST).unwrap();
        h.rt.enable(&SECOND).unwrap();
    });
    let lines = test_lines(&h.log);
    assert_eq!(
        lines,
        [
            "test: no earlier patch declares state 7; check prev_state before taking over",
            "test: state 7 of patch 'first' holds no data to take over",
        ]
    );
}

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("drop bug");
    }
}

#[test]
fn a_panicking_drop_of_state_data_is_logged_and_contained() {
    const BOMB: StateHandle<PanicsOnDrop> = StateHandle::new(1, 1);
    fn arm(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        cx.state(BOMB).unwrap().set(PanicsOnDrop);
        Ok(())
    }
    static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(arm)];
    static STATES: [StateDesc; 1] = [BOMB.desc()];
    static P: PatchDesc = PatchDesc::new("p").states(&STATES).objects(&OBJECTS);
    let h = Harness::new();
    h.rt.enable(&P).unwrap();
    h.run(|h| h.rt.disable("p").unwrap());
    assert_eq!(
        h.log.lines().last().map(String::as_str),
        Some("livepatch: dropping state data panicked: drop bug")
    );
    h.rt.enable(&P).unwrap();
    assert_eq!(h.rt.patches().len(), 1);
    // Dropping the runtime drops the armed data the same way.
    let Harness { rt, log } = h;
    log.capture(|| drop(rt));
    assert_eq!(
        log.lines().last().map(String::as_str),
        Some("livepatch: dropping state data panicked: drop bug")
    );
}
