livepatch::program!();

#[livepatch::livepatch]
pub mod fix {}

livepatch::patch_library!(patch = fix, program = crate, patch = fix);

fn main() {}
