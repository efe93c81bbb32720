use livepatch::prelude::*;

pub mod net {
    pub fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32
    }
}

#[livepatch]
pub mod fix {
    // `checksum` is not marked `#[patchable(object = "net")]`.
    #[replaces(crate::net::checksum, object = "net")]
    fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32 + 1
    }
}

fn main() {}
