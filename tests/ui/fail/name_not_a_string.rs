use livepatch::prelude::*;

#[livepatch(name = fix_loglevel)]
pub mod fix {}

fn main() {}
