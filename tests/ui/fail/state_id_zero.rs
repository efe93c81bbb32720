use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 0, version: 1 }])]
pub mod fix {}

fn main() {}
