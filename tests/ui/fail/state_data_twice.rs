use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, version: 1, data: u32, data: u64 }])]
pub mod fix {}

fn main() {}
