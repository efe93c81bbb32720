use livepatch::prelude::*;

#[livepatch(replace, states = [
    /// The log level.
    LOGLEVEL { id: 1, version: 2 },
])]
pub mod fix_v1 {}

#[livepatch(replace, follows = [super::fix_v1], states = [
    /// The log level.
    LOGLEVEL { id: 1, version: 1 },
])]
pub mod fix_v2 {}

fn main() {}
