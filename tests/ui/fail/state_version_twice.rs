use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, version: 1, version: 2 }])]
pub mod fix {}

fn main() {}
