use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[pre_patch]
    fn prepare(_cx: &mut PostPatch<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
}

fn main() {}
