//! Compile-time behaviour of `#[livepatch]`, `#[patchable]` and `#[replaces]`: every mistake they
//! reject, one per file in `tests/ui/fail` with the compiler's reviewed output beside it, and
//! every form they accept in `tests/ui/pass`. The case files are not modules of any crate, so
//! `cargo fmt` leaves them (and the line numbers in their `.stderr` files) alone.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
