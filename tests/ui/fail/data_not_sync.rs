use livepatch::prelude::*;

use std::cell::Cell;

#[livepatch(states = [STATE { id: 1, version: 1, data: Cell<u32> }])]
pub mod fix {}

fn main() {}
