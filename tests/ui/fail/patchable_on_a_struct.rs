use livepatch::prelude::*;

#[patchable]
pub struct Conn;

fn main() {}
