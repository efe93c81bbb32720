use livepatch::prelude::*;

#[livepatch(states = [PATCH { id: 1, version: 1 }])]
pub mod fix {}

fn main() {}
