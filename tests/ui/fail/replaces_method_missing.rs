// A method that does not exist is reported as not patchable, with a note to check the path.
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
    #[replaces(crate::app::Conn::sned)]
    fn send(_conn: &crate::app::Conn, n: u32) -> u32 {
        n + 1
    }
}

fn main() {}
