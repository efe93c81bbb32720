//! The fee each version of the shop's code charges, written from what each version is meant to
//! do (`demo/`'s docs), not from its code.

/// A version of `shop::pricing::fee` that can be live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The shipped bug: 29% plus 30 cents.
    Shipped,
    /// `fix_fee`: 2.9% plus 30 cents.
    Fixed,
    /// `fee_cap`: 2.9% plus 30 cents, at most 200 cents.
    Capped,
}

impl Code {
    /// The fee this code charges on `amount` cents (integer cents, rounded down).
    pub fn fee(self, amount: u64) -> u64 {
        match self {
            Code::Shipped => amount * 290 / 1000 + 30,
            Code::Fixed => amount * 29 / 1000 + 30,
            Code::Capped => (amount * 29 / 1000 + 30).min(200),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::Shipped => "shipped",
            Code::Fixed => "fix_fee",
            Code::Capped => "fee_cap",
        }
    }
}

/// The amounts the load generator asks about, in turn: each pair of versions charges differently
/// on at least one of them.
pub const AMOUNTS: [u64; 4] = [1000, 20000, 4321, 100000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amounts_tell_every_pair_of_versions_apart() {
        let codes = [Code::Shipped, Code::Fixed, Code::Capped];
        for a in codes {
            for b in codes.into_iter().filter(|b| *b != a) {
                assert!(AMOUNTS.iter().any(|&amount| a.fee(amount) != b.fee(amount)));
            }
        }
    }
}
