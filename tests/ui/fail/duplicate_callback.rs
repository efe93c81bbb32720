use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch]
    fn apply(_cx: &mut PostPatch<'_>) {}

    #[post_patch]
    fn apply_again(_cx: &mut PostPatch<'_>) {}
}

fn main() {}
