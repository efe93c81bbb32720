use livepatch::prelude::*;

#[livepatch]
pub mod fix {
    #[replaces(crate::Conn)]
    pub struct Conn;
}

fn main() {}
