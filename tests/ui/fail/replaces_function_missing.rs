// A function that does not exist has no slot either: it is reported as not patchable, at its
// name.
use livepatch::prelude::*;

pub mod app {
    #[livepatch::patchable]
    pub fn fee(amount: u64) -> u64 {
        amount
    }
}

#[livepatch]
pub mod fix {
    #[replaces(crate::app::feee)]
    fn fee(amount: u64) -> u64 {
        amount + 1
    }
}

fn main() {}
