use livepatch::prelude::*;

#[livepatch()]
pub mod fix_v1 {}

#[livepatch(follows = [super::fix_v1, super::fix_v1])]
pub mod fix_v2 {}

fn main() {}
