use livepatch::prelude::*;

#[livepatch]
pub struct Fix;

fn main() {}
