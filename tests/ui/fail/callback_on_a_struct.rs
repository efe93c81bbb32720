use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    #[post_patch]
    pub struct Apply;
}

fn main() {}
