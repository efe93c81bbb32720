// The patch module does not import its parent's items, so `billing` is not in scope there: the
// path is reported at the user's tokens, with the path that does resolve as the suggestion (and,
// a module giving the check nothing to tell, as not patchable too).
use livepatch::prelude::*;

pub mod app {
    pub mod billing {
        #[livepatch::patchable]
        pub fn fee(amount: u64) -> u64 {
            amount
        }
    }
}

#[livepatch]
pub mod fix {
    #[replaces(billing::fee)]
    fn fee(amount: u64) -> u64 {
        amount + 1
    }
}

fn main() {}
