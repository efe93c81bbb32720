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
