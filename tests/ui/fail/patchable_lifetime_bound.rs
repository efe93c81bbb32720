use livepatch::prelude::*;

#[patchable]
pub fn pick<'a: 'b, 'b>(long: &'a str, _short: &'b str) -> &'b str {
    long
}

fn main() {}
