use livepatch::prelude::*;

pub mod not_a_patch {}

#[livepatch(follows = [super::not_a_patch])]
pub mod fix {}

fn main() {}
