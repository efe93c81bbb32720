use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch(object = ["net", "net"])]
    fn apply(_cx: &mut PostPatch<'_>) {}
}

fn main() {}
