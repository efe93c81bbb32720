use livepatch::prelude::*;

use std::rc::Rc;

#[livepatch(states = [STATE { id: 1, version: 1, data: Rc<u32> }])]
pub mod fix {}

fn main() {}
