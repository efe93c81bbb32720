use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, id: 2, version: 1 }])]
pub mod fix {}

fn main() {}
