use livepatch::prelude::*;

#[livepatch(states = [STATE { id: 1, version: VERSION }])]
pub mod fix {}

fn main() {}
