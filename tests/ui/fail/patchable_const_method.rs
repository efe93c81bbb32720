use livepatch::prelude::*;

pub struct Conn {
    sent: usize,
}

#[patchable]
impl Conn {
    pub fn send(&mut self, len: usize) -> usize {
        self.sent += len;
        self.sent
    }

    pub const fn new() -> Self {
        Conn { sent: 0 }
    }
}

fn main() {}
