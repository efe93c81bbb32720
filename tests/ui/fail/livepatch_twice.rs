use livepatch::prelude::*;

#[livepatch(replace)]
#[livepatch(name = "fix")]
pub mod fix {}

fn main() {}
