use livepatch::prelude::*;

#[livepatch(replace = true)]
pub mod fix {}

fn main() {}
