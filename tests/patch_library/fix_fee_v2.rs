//! The second fix, cumulative: it keeps the first one's rate and takes a discount off, which it
//! sets through the program.

use std::sync::atomic::Ordering;

use livepatch::prelude::*;

#[livepatch(replace, states = [
    /// The fee rate, in percent, taken over from `fix_fee_v1`.
    FEE_RATE { id: 1, version: 2, data: u64 },
])]
pub mod fix_fee_v2 {
    use super::*;

    #[pre_patch]
    fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        cx.take_over(FEE_RATE).map_err(CallbackError::from_error)?;
        let rate = cx.state(FEE_RATE).and_then(|rate| rate.data().copied());
        app::set_discount(3);
        app::audit(&format!(
            "fix_fee_v2 takes over the rate {rate:?} and sets the discount to {}",
            app::DISCOUNT.load(Ordering::SeqCst)
        ));
        Ok(())
    }

    #[post_unpatch]
    fn cleanup(_cx: &mut PostUnpatch<'_>) {
        app::set_discount(0);
        app::audit("fix_fee_v2 is gone");
    }

    #[replaces(app::billing::fee)]
    fn fee(amount: u64) -> u64 {
        amount * 15 / 100 - app::DISCOUNT.load(Ordering::Relaxed)
    }
}

livepatch::patch_library!(patch = fix_fee_v2, program = app);
