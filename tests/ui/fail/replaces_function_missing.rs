// A function that does not exist is reported as not patchable, at its name, with a note to
// check the path.
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
