// Private `#[patchable]` items replaced by a patch in another module, as the kernel patches
// `static` functions: a private function, a private method of an inherent impl block, and a
// private function whose signature uses a type private to its module. The patch names them by
// their module's path; only the hidden slots are reachable from outside, the functions stay
// private.
#![deny(warnings)]

use livepatch::prelude::*;
use livepatch::PatchDesc;

pub mod billing {
    #[livepatch::patchable]
    fn fee(amount: u32) -> u32 {
        amount / 10
    }

    pub fn total(amount: u32) -> u32 {
        amount + fee(amount)
    }

    pub struct Account {
        pub balance: u32,
    }

    #[livepatch::patchable]
    impl Account {
        fn charge(&mut self, amount: u32) -> u32 {
            self.balance -= amount;
            self.balance
        }

        pub fn pay(&mut self, amount: u32) -> u32 {
            self.charge(amount)
        }
    }

    pub mod rates {
        // Private to `rates`: the signature of `rate` uses it, and only `rates` and the modules
        // inside it can name it.
        struct Tier(u32);

        #[livepatch::patchable]
        fn rate(tier: &Tier) -> u32 {
            tier.0
        }

        pub fn gold() -> u32 {
            rate(&Tier(3))
        }

        #[livepatch::livepatch]
        pub mod fix_rate {
            #[replaces(super::rate)]
            fn rate(tier: &super::Tier) -> u32 {
                tier.0 * 2
            }
        }
    }
}

#[livepatch]
pub mod fix_billing {
    use crate::billing::Account;

    #[replaces(crate::billing::fee)]
    fn fee(amount: u32) -> u32 {
        amount / 5
    }

    #[replaces(crate::billing::Account::charge)]
    fn charge(account: &mut Account, amount: u32) -> u32 {
        account.balance -= amount + 1;
        account.balance
    }
}

fn main() {
    let mut account = billing::Account { balance: 100 };
    assert_eq!((billing::total(50), account.pay(10), billing::rates::gold()), (55, 90, 3));
    // Each slot's name is its function's path, after the name of the crate.
    let replaced = |patch: &PatchDesc| -> Vec<&'static str> {
        patch
            .object_descs()
            .iter()
            .flat_map(|object| object.function_descs().iter().map(livepatch::FuncDesc::name))
            .map(|name| name.split_once("::").map_or(name, |(_, path)| path))
            .collect()
    };
    assert_eq!(
        replaced(&fix_billing::PATCH),
        [
            "billing::fee",
            "billing::Account::charge"
        ]
    );
    assert_eq!(
        replaced(&billing::rates::fix_rate::PATCH),
        ["billing::rates::rate"]
    );
}
