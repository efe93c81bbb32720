// A crate that reaches the facade under another name says where it is with `crate = path`.
extern crate livepatch as lp;

use lp::prelude::*;

#[livepatch(crate = ::lp, states = [STATE { id: 1, version: 1, data: u32 }])]
pub mod fix {
    use super::*;

    #[post_patch]
    fn apply(cx: &mut PostPatch<'_>) {
        let _ = cx.state(STATE);
    }
}

fn main() {
    assert_eq!(fix::PATCH.name(), "fix");
    assert_eq!(fix::STATE.id(), 1);
}
