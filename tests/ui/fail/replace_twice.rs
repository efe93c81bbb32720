use livepatch::prelude::*;

#[livepatch(replace, replace)]
pub mod fix {}

fn main() {}
