use livepatch::prelude::*;

pub struct Conn;

impl Conn {
    #[patchable]
    pub fn open() -> Self {
        Conn
    }
}

fn main() {}
