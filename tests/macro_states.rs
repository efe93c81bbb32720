//! What patches written with `#[livepatch]` hear at run time about their states: errors name a
//! state by its handle's name and its id.

mod common;

use common::{Harness, assert_log, test_lines};
use livepatch::prelude::*;
use livepatch::{ConflictReason, EnableError, StateConflict};

/// The fee rate a patch sets, in basis points.
pub struct FeeRate(pub u32);

#[livepatch(states = [FEE_RATE { id: 1, version: 2, data: FeeRate }])]
pub mod fee_v2 {
    use super::*;
}

/// Declares the fee rate at a lower version than `fee_v2`, without saying it follows it: only
/// the run-time check of enable can refuse it.
#[livepatch(states = [FEE_RATE { id: 1, version: 1, data: FeeRate }])]
pub mod fee_v1 {
    use super::*;
}

#[livepatch(replace, states = [FEE_RATE { id: 1, version: 2, data: FeeRate }])]
pub mod fee_taker {
    use super::*;

    #[post_patch]
    fn take(cx: &mut PostPatch<'_>) {
        if let Err(err) = cx.take_over(FEE_RATE) {
            tracing::info!(target: "test", "{err}");
        }
    }
}

#[test]
fn an_incompatible_state_is_named_by_its_handle_and_its_id() {
    let h = Harness::new();
    h.rt.enable(&fee_v2::PATCH).unwrap();
    let err = h.rt.enable(&fee_v1::PATCH).unwrap_err();
    let EnableError::Incompatible { conflicts, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(
        conflicts,
        &[StateConflict {
            id: 1,
            name: Some("FEE_RATE"),
            installed_patch: "fee_v2",
            installed_version: 2,
            reason: ConflictReason::VersionLowered { new_version: 1 },
        }]
    );
    assert_eq!(
        err.to_string(),
        "patch 'fee_v1' is not compatible with the installed patches: state FEE_RATE (id 1) is at \
         version 2 in patch 'fee_v2' and the new patch lowers it to 1; raise the patch's state \
         versions, declare the states it drops, or disable the installed patches first"
    );
}

#[test]
fn a_failed_take_over_names_the_state_by_its_handle_and_its_id() {
    let h = Harness::new();
    h.rt.enable(&fee_v2::PATCH).unwrap();
    h.run(|h| h.rt.enable(&fee_taker::PATCH).unwrap());
    let lines = test_lines(&h.log);
    assert_log(
        &lines,
        "test: state FEE_RATE (id 1) of patch 'fee_v2' holds no data to take over",
    );
}

/// Sets the rate the later patches find.
#[livepatch(replace, states = [FEE_RATE { id: 1, version: 2, data: FeeRate }])]
pub mod fee_set {
    use super::*;

    #[pre_patch]
    fn set(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut rate) = cx.state(FEE_RATE) {
            rate.set(FeeRate(25));
        }
        Ok(())
    }
}

/// Declares the rate and forgets to take it over.
#[livepatch(replace, states = [FEE_RATE { id: 1, version: 3, data: FeeRate }])]
pub mod fee_forgets {
    use super::*;
}

/// Takes the rate over, or starts from its own.
#[livepatch(replace, states = [FEE_RATE { id: 1, version: 3, data: FeeRate }])]
pub mod fee_keeps {
    use super::*;

    #[pre_patch]
    fn keep(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        let rate = cx
            .take_over_or_init(FEE_RATE, || FeeRate(10))
            .map_err(CallbackError::from_error)?;
        let rate = rate.data().map_or(0, |r| r.0);
        tracing::info!(target: "test", "fee_keeps: rate {rate}");
        Ok(())
    }
}

#[test]
fn a_cumulative_patch_that_does_not_take_over_a_state_s_data_is_warned_when_it_is_dropped() {
    let h = Harness::new();
    h.rt.enable(&fee_set::PATCH).unwrap();
    h.run(|h| {
        h.log.take();
        h.rt.enable(&fee_forgets::PATCH).unwrap();
    });
    assert_log(
        &h.log.lines(),
        "
        livepatch: enabling patch 'fee_forgets'
        livepatch: 'fee_forgets': initializing patching transition
        livepatch: 'fee_forgets': starting patching transition
        livepatch: 'fee_forgets': completing patching transition
        livepatch: 'fee_forgets': patching complete
        livepatch: 'fee_forgets' replaces 'fee_set' without taking over the data of state \
        FEE_RATE (id 1), of type macro_states::FeeRate: the data is dropped; take it over in a \
        patching callback (take_over or take_over_or_init)
        ",
    );
    assert!(!h.rt.patch("fee_forgets").unwrap().states[0].has_data);
}

#[test]
fn take_over_or_init_takes_over_what_there_is_and_initialises_otherwise() {
    let h = Harness::new();
    h.run(|h| h.rt.enable(&fee_keeps::PATCH).unwrap());
    h.rt.disable("fee_keeps").unwrap();
    h.rt.enable(&fee_set::PATCH).unwrap();
    h.run(|h| {
        h.rt.enable(&fee_keeps::PATCH).unwrap();
    });
    assert_log(
        &test_lines(&h.log),
        "
        test: fee_keeps: rate 10
        test: fee_keeps: rate 25
        ",
    );
    // Nothing was dropped: nothing is warned.
    assert!(
        h.log
            .lines()
            .iter()
            .all(|l| !l.contains("without taking over"))
    );
    assert!(h.rt.patch("fee_keeps").unwrap().states[0].has_data);
}
