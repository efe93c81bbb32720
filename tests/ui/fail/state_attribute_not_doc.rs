use livepatch::prelude::*;

#[livepatch(states = [#[cfg(test)] STATE { id: 1, version: 1 }])]
pub mod fix {}

fn main() {}
