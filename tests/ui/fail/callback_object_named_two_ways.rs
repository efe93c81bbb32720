use livepatch::prelude::*;

pub const NET: &str = "net";

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch(object = NET)]
    fn apply(_cx: &mut PostPatch<'_>) {}

    #[post_unpatch(object = "net")]
    fn cleanup(_cx: &mut PostUnpatch<'_>) {}
}

fn main() {}
