use livepatch::prelude::*;

#[livepatch(name = "fix loglevel")]
pub mod fix {}

fn main() {}
