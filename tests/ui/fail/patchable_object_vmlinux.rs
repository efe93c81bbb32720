use livepatch::prelude::*;

#[patchable(object = "vmlinux")]
pub fn checksum(len: usize) -> u32 {
    len as u32
}

fn main() {}
