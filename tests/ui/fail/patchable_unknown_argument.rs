use livepatch::prelude::*;

#[patchable(module = "net")]
pub fn checksum(len: usize) -> u32 {
    len as u32
}

fn main() {}
