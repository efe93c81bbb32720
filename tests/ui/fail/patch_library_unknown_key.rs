livepatch::program!();

#[livepatch::livepatch]
pub mod fix {}

livepatch::patch_library!(patch = fix, programme = crate);

fn main() {}
