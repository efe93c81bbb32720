use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    pub const PATCH: u32 = 1;
}

fn main() {}
