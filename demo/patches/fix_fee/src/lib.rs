//! Patch 1: the fee is 2.9% plus 30 cents, as it always should have been.

use livepatch::prelude::*;

/// The fee rate this patch charges, in tenths of a percent.
const RATE_PER_MILLE: u64 = 29;

#[livepatch(states = [
    /// The fee rate in force, in tenths of a percent.
    FEE_RATE { id: 1, version: 1, data: u64 },
])]
pub mod fix_fee {
    use super::*;

    #[pre_patch]
    fn record_the_rate(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut rate) = cx.state(FEE_RATE) {
            rate.set(RATE_PER_MILLE);
        }
        eprintln!("fix_fee: the fee rate is {RATE_PER_MILLE} per mille");
        Ok(())
    }

    #[replaces(shop::pricing::fee)]
    fn fee(amount: u64) -> u64 {
        amount * RATE_PER_MILLE / 1000 + 30
    }
}

livepatch::patch_library!(patch = fix_fee, program = shop);
