use livepatch::prelude::*;

#[livepatch(states = [], states = [])]
pub mod fix {}

fn main() {}
