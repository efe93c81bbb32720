use livepatch::prelude::*;

#[patchable]
pub fn pick<'a, 'b>(long: &'a str, _short: &'b str) -> &'b str
where
    'a: 'b,
{
    long
}

fn main() {}
