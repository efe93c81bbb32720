use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[pre_patch]
    fn prepare(_cx: &mut PrePatch<'_>) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

fn main() {}
