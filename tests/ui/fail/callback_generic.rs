use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch]
    fn apply<T>(_cx: &mut PostPatch<'_>) {
        
    }
}

fn main() {}
