use livepatch::prelude::*;

#[livepatch]
pub fn fix() {}

fn main() {}
