//! A patch library linked on its own, without `-C prefer-dynamic`: it carries its own std, its
//! own runtime and its own "program".

mod program {
    livepatch::program!();
}

#[livepatch::livepatch]
pub mod fix_fee_v1 {}

livepatch::patch_library!(patch = fix_fee_v1, program = crate::program);
