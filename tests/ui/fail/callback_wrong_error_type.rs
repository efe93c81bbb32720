use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[pre_patch]
    fn prepare(_cx: &mut PrePatch<'_>) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
