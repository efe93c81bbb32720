use livepatch::prelude::*;

#[patchable]
pub fn first<const N: usize>(items: [u8; N]) -> u8 {
    items[0]
}

fn main() {}
