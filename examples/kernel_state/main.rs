//! The kernel's system-state selftest, run on this crate's runtime and printed as a kernel log.
//!
//! Each scenario enables, replaces and disables cumulative patches that change a (simulated)
//! console log level and keep the original value in their state data; the output is what the
//! kernel's `test-state.sh` expects to find in `dmesg`.

mod selftest;

use livepatch::Dmesg;
use selftest::{SCENARIOS, SelfTest, allocations, console_loglevel};

fn main() {
    for (title, scenario) in SCENARIOS {
        println!("TEST: {title}");
        let before = allocations();
        let t = SelfTest::with_log(Dmesg::new().echo());
        t.run(scenario);
        let after = allocations();
        println!(
            "-- console_loglevel is back to {}; state data: {} allocated, {} freed\n",
            console_loglevel(),
            after.0 - before.0,
            after.1 - before.1
        );
    }
}
