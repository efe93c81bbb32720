use livepatch::prelude::*;

#[livepatch()]
pub mod fix_v1 {}

#[livepatch(follows = [super::fix_v1, super::fix_v2])]
pub mod fix_v2 {}

#[livepatch(follows = [self])]
pub mod fix_v3 {}

fn main() {}
