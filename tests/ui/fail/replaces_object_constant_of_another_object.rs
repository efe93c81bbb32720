use livepatch::prelude::*;

pub mod app {
    pub const NET: &str = "net";
    pub const DISK: &str = "disk";

    #[livepatch::patchable(object = NET)]
    pub fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32
    }
}

#[livepatch]
pub mod fix {
    use super::*;

    #[replaces(crate::app::checksum, object = app::DISK)]
    fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32 + 1
    }
}

fn main() {}
