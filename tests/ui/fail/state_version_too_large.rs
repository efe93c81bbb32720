use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, version: 4294967296 }])]
pub mod fix {}

fn main() {}
