use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    pub mod inner {
        use livepatch::prelude::*;

        #[post_patch]
        fn apply(_cx: &mut PostPatch<'_>) {}
    }
}

fn main() {}
