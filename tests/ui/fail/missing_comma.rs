use livepatch::prelude::*;

#[livepatch(replace states = [])]
pub mod fix {}

fn main() {}
