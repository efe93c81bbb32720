use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch]
    fn apply(_cx: &mut PostPatch<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
}

fn main() {}
