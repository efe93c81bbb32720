//! The steps of the model tests of the patch list: enabling or disabling one of a test's patches.

use proptest::prelude::*;

/// One step: enable or disable the patch at this index of the test's patches.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Enable(usize),
    Disable(usize),
}

/// Steps over `patches` patches, enables a little more often than disables.
pub fn op(patches: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..patches).prop_map(Op::Enable),
        2 => (0..patches).prop_map(Op::Disable),
    ]
}
