use livepatch::prelude::*;

#[livepatch()]
pub mod fix_v1 {}

#[livepatch(follows = [fix_v1, fix_v1])]
pub mod fix_v2 {}

fn main() {}
