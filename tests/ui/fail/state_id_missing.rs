use livepatch::prelude::*;

#[livepatch(states = [STATE { version: 1 }])]
pub mod fix {}

fn main() {}
