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
}

#[livepatch]
pub mod fix {
    use super::Conn;

    // The receiver is `&mut Conn`.
    #[replaces(crate::Conn::send)]
    fn send(conn: &Conn, len: usize) -> usize {
        conn.sent + len
    }
}

fn main() {}
