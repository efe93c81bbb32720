use livepatch::prelude::*;

#[livepatch(states = [
    /// The first.
    FIRST { id: 1, version: 1 },
    /// The second.
    SECOND { id: 1, version: 1 },
])]
pub mod fix {}

fn main() {}
