//! Patch 2, cumulative: it replaces `fix_fee`, keeps the rate `fix_fee` recorded, and caps every
//! fee at two dollars.

use std::sync::atomic::{AtomicU64, Ordering};

use livepatch::prelude::*;

/// The rate a fresh install charges, in tenths of a percent, when no earlier patch recorded one.
const DEFAULT_RATE_PER_MILLE: u64 = 29;
/// The highest fee, in cents.
const CAP_CENTS: u64 = 200;

/// What the replacement charges, published by `pre_patch` before any thread can run it.
static RATE: AtomicU64 = AtomicU64::new(DEFAULT_RATE_PER_MILLE);
static CAP: AtomicU64 = AtomicU64::new(CAP_CENTS);

#[livepatch(replace, states = [
    /// The fee rate in force, in tenths of a percent, taken over from `fix_fee`.
    FEE_RATE { id: 1, version: 2, data: u64 },
    /// The highest fee, in cents.
    FEE_CAP { id: 2, version: 1, data: u64 },
])]
pub mod fee_cap {
    use super::*;

    #[pre_patch]
    fn take_the_rate_over(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        let previous = cx.prev_state(FEE_RATE).map(|state| state.patch_name());
        // The rate `fix_fee` recorded, or the default on a fresh install.
        cx.take_over_or_init(FEE_RATE, || DEFAULT_RATE_PER_MILLE)
            .map_err(CallbackError::from_error)?;
        let rate = cx
            .state(FEE_RATE)
            .and_then(|rate| rate.data().copied())
            .unwrap_or(DEFAULT_RATE_PER_MILLE);
        if let Some(mut cap) = cx.state(FEE_CAP) {
            cap.set(CAP_CENTS);
        }
        RATE.store(rate, Ordering::SeqCst);
        CAP.store(CAP_CENTS, Ordering::SeqCst);
        match previous {
            Some(patch) => eprintln!(
                "fee_cap: took the rate over from {patch}: {rate} per mille, capped at {CAP_CENTS} cents"
            ),
            None => eprintln!("fee_cap: {rate} per mille, capped at {CAP_CENTS} cents"),
        }
        Ok(())
    }

    #[post_unpatch]
    fn say_goodbye(_cx: &mut PostUnpatch<'_>) {
        eprintln!("fee_cap: removed; the shop's own fee applies again");
    }

    #[replaces(shop::pricing::fee)]
    fn fee(amount: u64) -> u64 {
        let fee = amount * RATE.load(Ordering::Relaxed) / 1000 + 30;
        fee.min(CAP.load(Ordering::Relaxed))
    }
}

livepatch::patch_library!(patch = fee_cap, program = shop);
