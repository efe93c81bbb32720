//! `Runtime::plan`: a dry run of an enable names the states' verdicts, the callbacks in the order
//! they would run, the functions that would change and the patches a cumulative patch would
//! remove, and changes nothing.

use livepatch::prelude::*;
use livepatch::{
    CallbackKind, ConflictReason, EnableError, FuncDesc, FuncSlot, FunctionChange, ObjectName,
    PlannedCallback, PlannedFunction, PlannedState, Replacement, StateVerdict,
};
use livepatch::{ObjectDesc, PatchDesc, StateDesc, StateHandle};

type Work = fn() -> u32;

static F: FuncSlot<Work> = FuncSlot::new("f", ObjectName::Program, || 0);
static G: FuncSlot<Work> = FuncSlot::new("g", ObjectName::Program, || 0);
static H: FuncSlot<Work> = FuncSlot::new("h", ObjectName::Named("net"), || 0);
static F1: Replacement<Work> = Replacement::new(&F, || 1);
static G1: Replacement<Work> = Replacement::new(&G, || 1);
static F2: Replacement<Work> = Replacement::new(&F, || 2);
static H2: Replacement<Work> = Replacement::new(&H, || 2);

fn pre(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    Ok(())
}
fn post(_: &mut PostPatch<'_>) {}

const COUNTER_V1: StateHandle<u64> = StateHandle::new(7, 1);
const COUNTER_V2: StateHandle<u64> = StateHandle::new(7, 2);
const CACHE: StateHandle<u64> = StateHandle::new(8, 1);

fn keep_counter(cx: &mut PostPatch<'_>) {
    if let Some(mut state) = cx.state(COUNTER_V1) {
        state.set(41);
    }
}

static FIRST_FUNCS: [FuncDesc; 2] = [FuncDesc::new(&F1), FuncDesc::new(&G1)];
static FIRST_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
    .post_patch(keep_counter)
    .functions(&FIRST_FUNCS)];
static FIRST_STATES: [StateDesc; 1] = [COUNTER_V1.desc()];
static FIRST: PatchDesc = PatchDesc::new("first")
    .states(&FIRST_STATES)
    .objects(&FIRST_OBJECTS);

static SECOND_PROGRAM: [FuncDesc; 1] = [FuncDesc::new(&F2)];
static SECOND_NET: [FuncDesc; 1] = [FuncDesc::new(&H2)];
static SECOND_OBJECTS: [ObjectDesc; 2] = [
    ObjectDesc::named("net")
        .pre_patch(pre)
        .post_patch(post)
        .functions(&SECOND_NET),
    ObjectDesc::program()
        .pre_patch(pre)
        .post_patch(post)
        .functions(&SECOND_PROGRAM),
];
static SECOND_STATES: [StateDesc; 2] = [COUNTER_V2.desc(), CACHE.desc()];
static SECOND: PatchDesc = PatchDesc::new("second")
    .replace(true)
    .states(&SECOND_STATES)
    .objects(&SECOND_OBJECTS);

static LOWER_STATES: [StateDesc; 0] = [];
static LOWER: PatchDesc = PatchDesc::new("lower")
    .replace(true)
    .states(&LOWER_STATES)
    .objects(&SECOND_OBJECTS);

#[test]
fn a_plan_names_what_an_enable_would_do_and_changes_nothing() {
    let rt = Runtime::new();
    let plan = rt.plan(&FIRST).unwrap();
    assert!(plan.refusal.is_none());
    assert_eq!(
        plan.states,
        [PlannedState {
            id: 7,
            version: Some(1),
            installed: None,
            verdict: StateVerdict::New,
        }]
    );
    assert_eq!(
        plan.callbacks,
        [PlannedCallback {
            object: ObjectName::Program,
            callback: CallbackKind::PostPatch,
        }]
    );
    let patched = |name| PlannedFunction {
        object: ObjectName::Program,
        name,
        change: FunctionChange::Patched,
    };
    assert_eq!(plan.functions, [patched("f"), patched("g")]);
    assert!(plan.removes.is_empty());
    assert!(rt.patches().is_empty());
    assert_eq!(F.call(|f| f()), 0);

    rt.enable(&FIRST).unwrap();
    rt.wait_transition(std::time::Duration::from_secs(30))
        .unwrap();
    // `net` is not loaded: its callbacks and functions wait for its load.
    let plan = rt.plan(&SECOND).unwrap();
    assert!(plan.refusal.is_none());
    assert_eq!(
        plan.states,
        [
            PlannedState {
                id: 7,
                version: Some(2),
                installed: Some(("first", 1)),
                verdict: StateVerdict::Compatible { has_data: true },
            },
            PlannedState {
                id: 8,
                version: Some(1),
                installed: None,
                verdict: StateVerdict::New,
            },
        ]
    );
    let program = |callback| PlannedCallback {
        object: ObjectName::Program,
        callback,
    };
    assert_eq!(
        plan.callbacks,
        [
            program(CallbackKind::PrePatch),
            program(CallbackKind::PostPatch)
        ]
    );
    assert_eq!(
        plan.functions,
        [
            PlannedFunction {
                object: ObjectName::Program,
                name: "f",
                change: FunctionChange::Repatched {
                    current: Some("first"),
                },
            },
            PlannedFunction {
                object: ObjectName::Program,
                name: "g",
                change: FunctionChange::Restored {
                    current: Some("first"),
                },
            },
        ]
    );
    assert_eq!(plan.removes, ["first"]);

    // With `net` loaded, its callbacks come first, as its entry is listed first.
    rt.load_object("net").unwrap();
    let plan = rt.plan(&SECOND).unwrap();
    let net = |callback| PlannedCallback {
        object: ObjectName::Named("net"),
        callback,
    };
    assert_eq!(
        plan.callbacks,
        [
            net(CallbackKind::PrePatch),
            program(CallbackKind::PrePatch),
            net(CallbackKind::PostPatch),
            program(CallbackKind::PostPatch)
        ]
    );
    assert_eq!(
        plan.functions[0],
        PlannedFunction {
            object: ObjectName::Named("net"),
            name: "h",
            change: FunctionChange::Patched,
        }
    );

    // A cumulative patch that drops an installed state: refused, with the enable's own error.
    let plan = rt.plan(&LOWER).unwrap();
    let refusal = plan.refusal.unwrap();
    let enabled = rt.enable(&LOWER).unwrap_err();
    assert!(matches!(
        refusal,
        EnableError::Incompatible { patch: "lower", .. }
    ));
    assert_eq!(refusal.to_string(), enabled.to_string());
    assert_eq!(
        plan.states,
        [PlannedState {
            id: 7,
            version: None,
            installed: Some(("first", 1)),
            verdict: StateVerdict::Incompatible(ConflictReason::DroppedByCumulative),
        }]
    );
    assert_eq!(
        rt.patches().iter().map(|p| p.name).collect::<Vec<_>>(),
        ["first"]
    );
    assert_eq!((F.call(|f| f()), G.call(|f| f())), (1, 1));
}
