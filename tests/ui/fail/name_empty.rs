use livepatch::prelude::*;

#[livepatch(name = "")]
pub mod fix {}

fn main() {}
