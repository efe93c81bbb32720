use livepatch::prelude::*;

#[livepatch(name = "a", name = "b")]
pub mod fix {}

fn main() {}
