//! Two patches as `#[livepatch]` documents them, for a reader of these docs: the pages of
//! [`fix_fee_v1`] and [`fix_fee_v2`] are what `cargo doc` shows a reviewer of any patch. Only
//! built for the documentation.
//!
//! [`shop::fee`] is the program's patchable function; `fix_fee_v1` fixes it and records the
//! rate in a state, and `fix_fee_v2`, cumulative, takes that rate over and adds a cap.

/// The program's side: the function patches replace.
pub mod shop {
    /// The card fee on `amount` cents: shipped charging 29% instead of 2.9%, plus 30 cents.
    #[crate::patchable]
    pub fn fee(amount: u64) -> u64 {
        amount * 29 / 100 + 30
    }
}

use crate::prelude::*;

/// The first fix: 2.9% plus 30 cents.
#[livepatch(states = [
    /// The fee rate in force, in tenths of a percent.
    FEE_RATE { id: 1, version: 1, data: u64 },
])]
pub mod fix_fee_v1 {
    use super::*;

    /// Records the rate this patch charges.
    #[pre_patch]
    fn record_the_rate(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut rate) = cx.state(FEE_RATE) {
            rate.set(29);
        }
        Ok(())
    }

    /// 2.9% plus 30 cents.
    #[replaces(crate::example::shop::fee)]
    fn fee(amount: u64) -> u64 {
        amount * 29 / 1000 + 30
    }
}

/// The cumulative fix: the rate `fix_fee_v1` recorded, and a cap of two dollars.
#[livepatch(
    replace,
    follows = [super::fix_fee_v1],
    states = [
        /// The fee rate in force, in tenths of a percent, taken over from `fix_fee_v1`.
        FEE_RATE { id: 1, version: 2, data: u64 },
        /// The highest fee, in cents.
        FEE_CAP { id: 2, version: 1, data: u64 },
    ],
)]
pub mod fix_fee_v2 {
    use super::*;

    /// Takes the rate over, or starts from 2.9%, and sets the cap.
    #[pre_patch]
    fn take_the_rate_over(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        cx.take_over_or_init(FEE_RATE, || 29)
            .map_err(CallbackError::from_error)?;
        if let Some(mut cap) = cx.state(FEE_CAP) {
            cap.set(200);
        }
        Ok(())
    }

    /// 2.9% plus 30 cents, at most 200 cents.
    #[replaces(crate::example::shop::fee)]
    fn fee(amount: u64) -> u64 {
        (amount * 29 / 1000 + 30).min(200)
    }
}
