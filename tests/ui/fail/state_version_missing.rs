use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1 }])]
pub mod fix {}

fn main() {}
