use livepatch::prelude::*;

#[pre_patch]
fn prepare(_cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    Ok(())
}

fn main() {}
