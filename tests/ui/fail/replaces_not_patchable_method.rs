use livepatch::prelude::*;

pub struct Conn {
    sent: usize,
}

// The impl block is not marked `#[patchable]`.
impl Conn {
    pub fn send(&mut self, len: usize) -> usize {
        self.sent += len;
        self.sent
    }
}

#[livepatch]
pub mod fix {
    use super::Conn;

    #[replaces(crate::Conn::send)]
    fn send(conn: &mut Conn, len: usize) -> usize {
        conn.sent += len + 1;
        conn.sent
    }
}

fn main() {}
