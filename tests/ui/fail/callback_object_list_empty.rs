use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch(object = [])]
    fn apply(_cx: &mut PostPatch<'_>) {}
}

fn main() {}
