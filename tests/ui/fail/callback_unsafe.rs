use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch]
    unsafe fn apply(_cx: &mut PostPatch<'_>) {
        
    }
}

fn main() {}
