use livepatch::prelude::*;

#[livepatch]
mod fix;

fn main() {}
