livepatch::program!();

pub mod fix {}

livepatch::patch_library!(patch = fix, program = crate);

fn main() {}
