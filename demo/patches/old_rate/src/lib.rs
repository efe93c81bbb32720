//! Patch 3, built from an old branch: it declares the fee rate's state at version 1. Enabled after
//! `fee_cap`, whose version is 2, it would lose what version 2 knows, so it is refused.

use livepatch::prelude::*;

#[livepatch(states = [
    /// The fee rate in force, in tenths of a percent.
    FEE_RATE { id: 1, version: 1, data: u64 },
])]
pub mod old_rate {
    use super::*;

    #[pre_patch]
    fn record_the_rate(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut rate) = cx.state(FEE_RATE) {
            rate.set(30);
        }
        Ok(())
    }

    #[replaces(shop::pricing::fee)]
    fn fee(amount: u64) -> u64 {
        amount * 30 / 1000 + 30
    }
}

livepatch::patch_library!(patch = old_rate, program = shop);
