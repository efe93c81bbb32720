use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, version: 1, data: std::cell::Cell<u32> }])]
pub mod fix {}

fn main() {}
