use livepatch::prelude::*;

#[patchable]
pub fn evens() -> impl Iterator<Item = u32> {
    (0..10).filter(|n| n % 2 == 0)
}

fn main() {}
