use livepatch::prelude::*;

#[patchable]
pub const fn limit() -> u32 {
    10
}

fn main() {}
