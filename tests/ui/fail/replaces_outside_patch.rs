use livepatch::prelude::*;

#[replaces(crate::checksum)]
fn checksum(buf: &[u8]) -> u32 {
    buf.len() as u32
}

fn main() {}
