// Patchable functions of the program and of a named object, methods of an impl block, and a
// patch that replaces some of them.
#[patchable]
pub fn checksum(buf: &[u8]) -> u32 {
    buf.iter().map(|&b| u32::from(b)).sum()
}

#[patchable(object = "net")]
pub(crate) unsafe fn peek((base, offset): (*const u8, usize), mut n: usize) -> u8 {
    n += offset;
    unsafe { *base.add(n) }
}

pub struct Conn {
    sent: u32,
}

#[patchable(object = "net")]
impl Conn {
    pub fn sent(&self, extra: &u32) -> &u32 {
        let _ = extra;
        &self.sent
    }

    fn reset(mut self) -> Self {
        self.sent = 0;
        self
    }
}

#[livepatch]
pub mod fix {
    use super::*;

    #[post_unpatch]
    fn cleanup(_cx: &mut PostUnpatch<'_>) {}

    #[replaces(crate::Conn::sent, object = "net")]
    fn sent<'a>(conn: &'a Conn, _extra: &u32) -> &'a u32 {
        &conn.sent
    }

    #[replaces(super::checksum)]
    fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32
    }
}
