// When the states list itself cannot be read, the callbacks that use a state are not reported
// again.
use livepatch::prelude::*;

#[livepatch(states = CONSOLE_LOGLEVEL { id: 1, version: 1 })]
pub mod fix_loglevel {
    use super::*;

    #[post_patch]
    fn apply(cx: &mut PostPatch<'_>) {
        let _ = cx.take_over(CONSOLE_LOGLEVEL);
    }
}

fn main() {}
