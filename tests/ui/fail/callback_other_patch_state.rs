use livepatch::prelude::*;

pub struct FeeRate(pub u32);

#[livepatch(states = [FEE_RATE { id: 1, version: 1, data: FeeRate }])]
pub mod fee_v1 {
    use super::*;
}

#[livepatch(replace, states = [FEE_RATE { id: 1, version: 2, data: FeeRate }])]
pub mod fee_v2 {
    use super::*;

    #[post_patch]
    fn apply(cx: &mut PostPatch<'_>) {
        // The earlier patch's handle reads the earlier patch's state: that is allowed.
        let _ = cx.prev_state(super::fee_v1::FEE_RATE);
        // It does not reach this patch's own state.
        let _ = cx.state(super::fee_v1::FEE_RATE);
        let _ = cx.take_over(super::fee_v1::FEE_RATE);
    }
}

fn main() {}
