use livepatch::prelude::*;

#[livepatch(states = [STATE { id: ID, version: 1 }])]
pub mod fix {}

fn main() {}
