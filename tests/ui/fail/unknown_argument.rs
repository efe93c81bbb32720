use livepatch::prelude::*;

#[livepatch(replace, cumulative)]
pub mod fix {}

fn main() {}
