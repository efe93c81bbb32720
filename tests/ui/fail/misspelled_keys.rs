use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, verison: 1 }])]
pub mod fix_state {}

#[livepatch(replaces = true)]
pub mod fix_replace {}

#[livepatch(follow = [super::fix_state])]
pub mod fix_follows {}

fn main() {}
