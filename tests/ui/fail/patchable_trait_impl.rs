use livepatch::prelude::*;

pub struct Conn;

#[patchable]
impl std::fmt::Display for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("conn")
    }
}

fn main() {}
