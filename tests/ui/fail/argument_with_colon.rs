use livepatch::prelude::*;

#[livepatch(name: "fix")]
pub mod fix {}

fn main() {}
