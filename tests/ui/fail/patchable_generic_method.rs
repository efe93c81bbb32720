use livepatch::prelude::*;

pub struct Queue(Vec<u8>);

#[patchable]
impl Queue {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend<I: IntoIterator<Item = u8>>(&mut self, items: I) {
        self.0.extend(items)
    }
}

fn main() {}
