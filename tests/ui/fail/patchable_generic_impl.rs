use livepatch::prelude::*;

pub struct Queue<T>(Vec<T>);

#[patchable]
impl<T> Queue<T> {
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

fn main() {}
