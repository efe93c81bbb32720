use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_unpatch(object = "net")]
    fn cleanup(_cx: &mut PostUnpatch<'_>) {}

    #[post_unpatch(object = "net")]
    fn cleanup_again(_cx: &mut PostUnpatch<'_>) {}
}

fn main() {}
