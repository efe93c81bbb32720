use livepatch::prelude::*;

#[livepatch]
pub mod fix {
    use super::*;

    #[post_patch]
    extern "C" fn apply(_cx: &mut PostPatch<'_>) {}
}

fn main() {}
