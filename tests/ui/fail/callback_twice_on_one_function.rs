use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch]
    #[pre_unpatch]
    fn apply(_cx: &mut PostPatch<'_>) {}
}

fn main() {}
