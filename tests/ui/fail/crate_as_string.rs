use livepatch::prelude::*;

#[livepatch(crate = "livepatch")]
pub mod fix {}

fn main() {}
