use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[pre_patch(objekt = "net")]
    fn prepare(_cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
}

fn main() {}
