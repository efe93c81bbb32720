use livepatch::prelude::*;

#[patchable]
pub fn checksum(buf: &[u8]) -> u32 {
    buf.len() as u32
}

#[livepatch]
pub mod fix {
    #[replaces(crate::checksum)]
    fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32 + 1
    }

    #[replaces(crate::checksum)]
    fn checksum_again(buf: &[u8]) -> u32 {
        buf.len() as u32 + 2
    }
}

fn main() {}
