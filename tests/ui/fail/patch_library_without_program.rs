#[livepatch::livepatch]
pub mod fix {}

livepatch::patch_library!(patch = fix);

fn main() {}
