use livepatch::prelude::*;

#[livepatch(states = [STATE])]
pub mod fix {}

fn main() {}
