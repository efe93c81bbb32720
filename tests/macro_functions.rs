//! `#[patchable]` functions and methods replaced by `#[livepatch]` patches written with
//! `#[replaces]`: calls switch to the newest replacement, fall back when a patch is disabled, go
//! back to the originals a replace patch restores, and follow named objects as they load and
//! unload. Each test has its own functions, so tests running at once never share one.

use std::time::Duration;

use livepatch::PatchDesc;
use livepatch::prelude::*;
use livepatch::{FuncDesc, ObjectName};

const WAIT: Duration = Duration::from_secs(30);

fn enable(rt: &Runtime, patch: &'static PatchDesc) {
    rt.enable(patch).unwrap();
    rt.wait_transition(WAIT).unwrap();
}

fn disable(rt: &Runtime, name: &str) {
    rt.disable(name).unwrap();
    rt.wait_transition(WAIT).unwrap();
}

/// Each object of a patch, with the names of the functions it replaces.
fn functions(patch: &PatchDesc) -> Vec<(ObjectName, Vec<&'static str>)> {
    patch
        .object_descs()
        .iter()
        .map(|object| {
            let names = object.function_descs().iter().map(FuncDesc::name).collect();
            (object.name(), names)
        })
        .collect()
}

pub mod stack {
    use livepatch::patchable;

    #[patchable]
    pub fn area(width: u32, height: u32) -> u32 {
        width * height
    }

    #[patchable]
    pub fn perimeter(width: u32, height: u32) -> u32 {
        2 * (width + height)
    }
}

#[livepatch]
pub mod stack_a {
    #[replaces(crate::stack::area)]
    fn area(width: u32, height: u32) -> u32 {
        width * height + 1000
    }

    #[replaces(crate::stack::perimeter)]
    fn perimeter(width: u32, height: u32) -> u32 {
        width + height + 1000
    }
}

#[livepatch]
pub mod stack_b {
    #[replaces(crate::stack::area)]
    fn area(_width: u32, _height: u32) -> u32 {
        2000
    }
}

#[test]
fn the_newest_patch_wins_and_disabling_falls_back_to_the_next_older() {
    use stack::{area, perimeter};
    let rt = Runtime::new();
    assert_eq!((area(2, 3), perimeter(2, 3)), (6, 10));
    enable(&rt, &stack_a::PATCH);
    assert_eq!((area(2, 3), perimeter(2, 3)), (1006, 1005));
    enable(&rt, &stack_b::PATCH);
    assert_eq!((area(2, 3), perimeter(2, 3)), (2000, 1005));
    disable(&rt, "stack_b");
    assert_eq!((area(2, 3), perimeter(2, 3)), (1006, 1005));
    enable(&rt, &stack_b::PATCH);
    // Disabling the older patch under the newer one changes only what the newer one leaves.
    disable(&rt, "stack_a");
    assert_eq!((area(2, 3), perimeter(2, 3)), (2000, 10));
    disable(&rt, "stack_b");
    assert_eq!((area(2, 3), perimeter(2, 3)), (6, 10));
}

#[test]
fn the_descriptor_lists_each_replacement_under_its_object_by_its_path() {
    assert_eq!(
        functions(&stack_a::PATCH),
        vec![(
            ObjectName::Program,
            vec![
                "macro_functions::stack::area",
                "macro_functions::stack::perimeter"
            ]
        )]
    );
    assert_eq!(
        functions(&methods_fix::PATCH),
        vec![(
            ObjectName::Program,
            vec![
                "macro_functions::methods::Counter::add",
                "macro_functions::methods::Counter::label",
                "macro_functions::methods::Counter::into_total",
                "macro_functions::methods::Counter::new",
            ]
        )]
    );
    // The program comes first even with nothing to replace in it; the named objects follow in
    // the order of their first replacement.
    assert_eq!(
        functions(&plugin_fix::PATCH),
        vec![
            (ObjectName::Program, vec![]),
            (
                ObjectName::Named("codec"),
                vec!["macro_functions::plugin::Codec::encode"]
            ),
            (
                ObjectName::Named("plugin"),
                vec!["macro_functions::plugin::version"]
            ),
        ]
    );
}

pub mod methods {
    use livepatch::patchable;

    #[derive(Debug, PartialEq)]
    pub struct Counter {
        pub total: u32,
    }

    #[patchable]
    impl Counter {
        pub const START: u32 = 1;

        pub fn new() -> Self {
            Counter { total: Self::START }
        }

        pub fn add(&mut self, by: u32) -> u32 {
            self.total += by;
            self.total
        }

        pub fn label(&self, prefix: &str) -> &str {
            let _ = prefix;
            "original"
        }

        pub fn into_total(self) -> u32 {
            self.total
        }
    }
}

#[livepatch]
pub mod methods_fix {
    use crate::methods::Counter;

    #[replaces(crate::methods::Counter::add)]
    fn add(this: &mut Counter, by: u32) -> u32 {
        this.total += 10 * by;
        this.total
    }

    #[replaces(crate::methods::Counter::label)]
    fn label<'a>(_this: &'a Counter, _prefix: &str) -> &'a str {
        "fixed"
    }

    #[replaces(crate::methods::Counter::into_total)]
    fn into_total(this: Counter) -> u32 {
        this.total + 100
    }

    #[replaces(crate::methods::Counter::new)]
    fn new() -> Counter {
        Counter { total: 50 }
    }
}

#[test]
fn methods_of_a_patchable_impl_block_switch_with_their_patch() {
    use methods::Counter;
    let rt = Runtime::new();
    let mut counter = Counter::new();
    assert_eq!(counter, Counter { total: 1 });
    assert_eq!((counter.add(2), counter.label("x")), (3, "original"));
    enable(&rt, &methods_fix::PATCH);
    assert_eq!((counter.add(2), counter.label("x")), (23, "fixed"));
    assert_eq!(Counter::new(), Counter { total: 50 });
    assert_eq!(counter.into_total(), 123);
    disable(&rt, "methods_fix");
    let mut counter = Counter::new();
    assert_eq!((counter.add(2), counter.label("x")), (3, "original"));
    assert_eq!(counter.into_total(), 3);
}

pub mod plugin {
    use livepatch::patchable;

    #[patchable(object = "plugin")]
    pub fn version() -> u32 {
        1
    }

    pub struct Codec;

    #[patchable(object = "codec")]
    impl Codec {
        pub fn encode(&self, byte: u8) -> u8 {
            byte
        }
    }
}

#[livepatch]
pub mod plugin_fix {
    use crate::plugin::Codec;

    #[replaces(crate::plugin::Codec::encode, object = "codec")]
    fn encode(_codec: &Codec, byte: u8) -> u8 {
        byte ^ 0xff
    }

    #[replaces(crate::plugin::version, object = "plugin")]
    fn version() -> u32 {
        2
    }
}

#[test]
fn replacements_of_a_named_object_apply_while_it_is_loaded() {
    use plugin::{Codec, version};
    let rt = Runtime::new();
    rt.load_object("codec").unwrap();
    enable(&rt, &plugin_fix::PATCH);
    assert_eq!((version(), Codec.encode(0x0f)), (1, 0xf0));
    rt.load_object("plugin").unwrap();
    rt.wait_transition(WAIT).unwrap();
    assert_eq!(version(), 2);
    rt.unload_object("plugin").unwrap();
    rt.wait_transition(WAIT).unwrap();
    assert_eq!((version(), Codec.encode(0x0f)), (1, 0xf0));
    disable(&rt, "plugin_fix");
    assert_eq!((version(), Codec.encode(0x0f)), (1, 0x0f));
}

pub mod cumulative {
    use livepatch::patchable;

    #[patchable]
    pub fn first() -> &'static str {
        "original"
    }

    #[patchable]
    pub fn second() -> &'static str {
        "original"
    }
}

#[livepatch]
pub mod cumulative_v1 {
    #[replaces(crate::cumulative::first)]
    fn first() -> &'static str {
        "v1"
    }

    #[replaces(crate::cumulative::second)]
    fn second() -> &'static str {
        "v1"
    }
}

#[livepatch(replace)]
pub mod cumulative_v2 {
    #[replaces(crate::cumulative::first)]
    fn first() -> &'static str {
        "v2"
    }
}

#[test]
fn a_replace_patch_restores_what_only_older_patches_replaced() {
    use cumulative::{first, second};
    let rt = Runtime::new();
    enable(&rt, &cumulative_v1::PATCH);
    assert_eq!((first(), second()), ("v1", "v1"));
    enable(&rt, &cumulative_v2::PATCH);
    assert_eq!((first(), second()), ("v2", "original"));
    // The replaced patch has left the list: disabling the replace patch restores the originals.
    disable(&rt, "cumulative_v2");
    assert_eq!((first(), second()), ("original", "original"));
}

pub mod forms {
    use livepatch::patchable;

    /// Arguments written as patterns, and an `unsafe fn`.
    #[patchable]
    pub fn sum((a, b): (u32, u32), mut c: u32, _: u32) -> u32 {
        c += a;
        c + b
    }

    /// Reads the byte `offset` past `base`.
    ///
    /// # Safety
    ///
    /// `base + offset` is in one allocation.
    #[patchable]
    pub unsafe fn read(base: *const u8, offset: usize) -> u8 {
        unsafe { *base.add(offset) }
    }

    /// Calls itself by its own name, which inside the original is still the patchable function.
    #[patchable]
    pub fn depth(n: u32) -> u32 {
        if n == 0 { 0 } else { 1 + depth(n - 1) }
    }
}

#[livepatch]
pub mod forms_fix {
    #[replaces(crate::forms::sum)]
    fn sum(pair: (u32, u32), c: u32, d: u32) -> u32 {
        pair.0 * pair.1 * c * d
    }

    #[replaces(crate::forms::read)]
    unsafe fn read(base: *const u8, offset: usize) -> u8 {
        unsafe { *base.add(offset + 1) }
    }

    #[replaces(crate::forms::depth)]
    fn depth(n: u32) -> u32 {
        n + 100
    }
}

#[test]
fn pattern_arguments_unsafe_functions_and_recursion() {
    use forms::{depth, read, sum};
    let rt = Runtime::new();
    let bytes = [7u8, 8, 9];
    // SAFETY: offsets 0 and 1 (and 1 and 2 when patched) are in `bytes`.
    let read_both = || unsafe { (read(bytes.as_ptr(), 0), read(bytes.as_ptr(), 1)) };
    assert_eq!((sum((1, 2), 3, 4), read_both(), depth(3)), (6, (7, 8), 3));
    enable(&rt, &forms_fix::PATCH);
    assert_eq!(
        (sum((1, 2), 3, 4), read_both(), depth(3)),
        (24, (8, 9), 103)
    );
    disable(&rt, "forms_fix");
    assert_eq!((sum((1, 2), 3, 4), read_both(), depth(3)), (6, (7, 8), 3));
}

pub mod billing {
    use livepatch::patchable;

    /// Less visible than the hidden slot of `discount`, which is always `pub`.
    pub(crate) struct Coupon {
        pub(crate) percent: u32,
    }

    #[patchable]
    fn fee(amount: u32) -> u32 {
        amount / 10
    }

    #[patchable]
    fn discount(amount: u32, coupon: &Coupon) -> u32 {
        amount * coupon.percent / 100
    }

    /// `amount`, plus its fee, less a 20% coupon.
    pub fn total(amount: u32) -> u32 {
        amount + fee(amount) - discount(amount, &Coupon { percent: 20 })
    }

    pub struct Account {
        pub balance: u32,
    }

    #[patchable]
    impl Account {
        fn charge(&mut self, amount: u32) -> u32 {
            self.balance -= amount;
            self.balance
        }

        pub fn pay(&mut self, amount: u32) -> u32 {
            self.charge(amount)
        }
    }
}

/// Replaces the private functions and method of `billing` from outside it.
#[livepatch]
pub mod billing_fix {
    use crate::billing::{Account, Coupon};

    #[replaces(crate::billing::fee)]
    fn fee(amount: u32) -> u32 {
        amount / 5
    }

    #[replaces(crate::billing::discount)]
    fn discount(amount: u32, coupon: &Coupon) -> u32 {
        amount * coupon.percent / 50
    }

    #[replaces(crate::billing::Account::charge)]
    fn charge(account: &mut Account, amount: u32) -> u32 {
        account.balance -= amount + 1;
        account.balance
    }
}

#[test]
fn private_functions_and_methods_are_replaced_from_another_module() {
    use billing::{Account, total};
    let rt = Runtime::new();
    let mut account = Account { balance: 100 };
    // 100 + 100/10 - 100*20/100; 100 - 10.
    assert_eq!((total(100), account.pay(10)), (90, 90));
    enable(&rt, &billing_fix::PATCH);
    // 100 + 100/5 - 100*20/50; 90 - (10 + 1).
    assert_eq!((total(100), account.pay(10)), (80, 79));
    disable(&rt, "billing_fix");
    assert_eq!((total(100), account.pay(10)), (90, 69));
    assert_eq!(
        functions(&billing_fix::PATCH),
        vec![(
            ObjectName::Program,
            vec![
                "macro_functions::billing::fee",
                "macro_functions::billing::discount",
                "macro_functions::billing::Account::charge",
            ]
        )]
    );
}
