//! The first fix: the fee is 15%.

use livepatch::prelude::*;

#[livepatch(states = [
    /// The fee rate, in percent.
    FEE_RATE { id: 1, version: 1, data: u64 },
])]
pub mod fix_fee_v1 {
    use super::*;

    #[pre_patch]
    fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut rate) = cx.state(FEE_RATE) {
            rate.set(15);
        }
        app::audit("fix_fee_v1 sets the rate to 15%");
        Ok(())
    }

    #[replaces(app::billing::fee)]
    fn fee(amount: u64) -> u64 {
        amount * 15 / 100
    }
}

livepatch::patch_library!(patch = fix_fee_v1, program = app);
