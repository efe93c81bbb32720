//! Runtimes share the process's threads: each runtime with a transition of functions in progress
//! holds one of a fixed number of lanes (16). This test runs in its own process, so no other test
//! holds a lane meanwhile.

mod common;

use std::sync::Arc;

use common::gate::{Gate, PATIENCE};
use livepatch::prelude::*;
use livepatch::{EnableError, FuncDesc, FuncSlot, ObjectName, Replacement, SetEnabledError};
use livepatch::{ObjectDesc, PatchDesc};

type Parking = fn(&Gate);

/// A function, a patch replacing it, and a way to call it.
macro_rules! lane_patch {
    ($module:ident) => {
        mod $module {
            use super::*;
            static SLOT: FuncSlot<Parking> =
                FuncSlot::new(stringify!($module), ObjectName::Program, |g| g.visit());
            static NEW: Replacement<Parking> = Replacement::new(&SLOT, |g| g.visit());
            static FUNCS: [FuncDesc; 1] = [FuncDesc::new(&NEW)];
            static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&FUNCS)];
            pub static PATCH: PatchDesc = PatchDesc::new(stringify!($module)).objects(&OBJECTS);
            #[allow(dead_code, reason = "one function is never called")]
            pub fn call(gate: &Gate) {
                SLOT.call(|f| f(gate))
            }
        }
    };
}

lane_patch!(l0);
lane_patch!(l1);
lane_patch!(l2);
lane_patch!(l3);
lane_patch!(l4);
lane_patch!(l5);
lane_patch!(l6);
lane_patch!(l7);
lane_patch!(l8);
lane_patch!(l9);
lane_patch!(l10);
lane_patch!(l11);
lane_patch!(l12);
lane_patch!(l13);
lane_patch!(l14);
lane_patch!(l15);
lane_patch!(l16);
lane_patch!(l17);

/// A function to park in and the patch that replaces it.
type Lane = (fn(&Gate), &'static PatchDesc);

static PLAIN: PatchDesc = PatchDesc::new("plain");

#[test]
fn transitions_beyond_the_lanes_are_refused_until_one_completes() {
    let functions: [Lane; 17] = [
        (l0::call as fn(&Gate), &l0::PATCH),
        (l1::call as fn(&Gate), &l1::PATCH),
        (l2::call as fn(&Gate), &l2::PATCH),
        (l3::call as fn(&Gate), &l3::PATCH),
        (l4::call as fn(&Gate), &l4::PATCH),
        (l5::call as fn(&Gate), &l5::PATCH),
        (l6::call as fn(&Gate), &l6::PATCH),
        (l7::call as fn(&Gate), &l7::PATCH),
        (l8::call as fn(&Gate), &l8::PATCH),
        (l9::call as fn(&Gate), &l9::PATCH),
        (l10::call as fn(&Gate), &l10::PATCH),
        (l11::call as fn(&Gate), &l11::PATCH),
        (l12::call as fn(&Gate), &l12::PATCH),
        (l13::call as fn(&Gate), &l13::PATCH),
        (l14::call as fn(&Gate), &l14::PATCH),
        (l15::call as fn(&Gate), &l15::PATCH),
        (l16::call as fn(&Gate), &l16::PATCH),
    ];
    // A thread parked in each function keeps the transition that patches it open.
    let gate = Gate::closed();
    let parked: Vec<_> = functions
        .iter()
        .map(|&(call, _)| {
            let inside = Arc::clone(&gate);
            std::thread::spawn(move || call(&inside))
        })
        .collect();
    gate.wait_inside(functions.len());
    // A patch of a function nobody is inside: its transition completes at once.
    let settled = Runtime::new();
    settled.enable(&l17::PATCH).unwrap();
    assert!(settled.transition().is_none());

    let runtimes: Vec<Runtime> = functions[..16]
        .iter()
        .map(|&(_, patch)| {
            let rt = Runtime::new();
            rt.enable(patch).unwrap();
            assert!(rt.transition().is_some());
            rt
        })
        .collect();
    let rt = Runtime::new();
    let err = rt.enable(functions[16].1).unwrap_err();
    assert!(matches!(err, EnableError::NoLane("l16")));
    assert_eq!(
        err.to_string(),
        "patch 'l16' cannot start its transition: 16 other runtimes of this process are in \
         transition; wait for one to complete"
    );
    // Nothing was left behind, and a patch without functions needs no lane.
    assert!(rt.patches().is_empty());
    rt.enable(&PLAIN).unwrap();
    assert!(rt.transition().is_none());

    // Disabling a patch of functions needs a lane too.
    assert_eq!(settled.disable("l17"), Err(SetEnabledError::NoLane("l17")));
    assert!(settled.patch("l17").is_some_and(|p| p.enabled));

    gate.release();
    for thread in parked {
        thread.join().unwrap();
    }
    for other in &runtimes {
        other.wait_transition(PATIENCE).unwrap();
    }
    rt.enable(functions[16].1).unwrap();
    rt.wait_transition(PATIENCE).unwrap();
    assert_eq!(rt.patches().len(), 2);
    settled.disable("l17").unwrap();
    settled.wait_transition(PATIENCE).unwrap();
    assert!(settled.patches().is_empty());
}
