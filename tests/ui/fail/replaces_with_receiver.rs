use livepatch::prelude::*;

pub struct Conn;

#[patchable]
impl Conn {
    pub fn send(&self, len: usize) -> usize {
        len
    }
}

#[livepatch]
pub mod fix {
    #[replaces(crate::Conn::send)]
    fn send(&self, len: usize) -> usize {
        len + 1
    }
}

fn main() {}
