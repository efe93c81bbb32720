use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch]
    fn apply(_cx: PostPatch<'_>) {}
}

fn main() {}
