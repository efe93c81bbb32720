use livepatch::prelude::*;

#[livepatch]
pub mod fix {
    #[replaces(crate::checksum, object = "")]
    fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32 + 1
    }
}

fn main() {}
