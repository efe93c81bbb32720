use livepatch::prelude::*;

#[patchable]
pub async fn fetch(id: u32) -> u32 {
    id
}

fn main() {}
