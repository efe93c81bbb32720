// A method's type that the patch module does not import (no `use super::*`): the type is
// reported once, at its name, with the path that does resolve.
use livepatch::prelude::*;

pub mod app {
    pub struct Conn;

    #[livepatch::patchable]
    impl Conn {
        pub fn send(&self, n: u32) -> u32 {
            n
        }
    }
}

#[livepatch]
pub mod fix {
    #[replaces(Conn::send)]
    fn send(_conn: &crate::app::Conn, n: u32) -> u32 {
        n + 1
    }
}

fn main() {}
