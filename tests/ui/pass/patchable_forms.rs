// Every form `#[patchable]` accepts: free functions of the program and of a named object, with
// lifetimes, pattern arguments, `unsafe`, a raw name, attributes and `cfg`s; impl blocks with
// every kind of receiver, associated functions returning `Self` and other items; the macro
// written by its path or with `crate = path`. Each is replaced by the patch below.
#![deny(warnings)]

extern crate livepatch as lp;

use livepatch::prelude::*;

pub mod net {
    /// The longest of two strings.
    #[livepatch::patchable]
    #[inline]
    #[must_use]
    pub fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
        if a.len() >= b.len() { a } else { b }
    }

    #[livepatch::patchable(object = "net")]
    pub(crate) fn sum((a, b): (u32, u32), mut c: u32, _: u32, ref d: u32) -> u32 {
        c += a;
        c + b + *d
    }

    /// # Safety
    ///
    /// `p` points to a readable byte.
    #[livepatch::patchable]
    pub unsafe fn read(p: *const u8) -> u8 {
        unsafe { *p }
    }

    #[livepatch::patchable(crate = ::lp)]
    #[expect(clippy::needless_return)]
    pub fn r#type() -> u8 {
        return 1;
    }

    #[livepatch::patchable]
    #[cfg(any())]
    pub fn never() -> u8 {
        0
    }

    #[livepatch::patchable]
    pub fn first(items: &[u8], _by: fn(&u8) -> &u8) -> Option<&u8> {
        items.first()
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Conn {
    sent: usize,
}

#[patchable(object = "net")]
impl Conn {
    /// The sizes are in bytes.
    pub const UNIT: &'static str = "bytes";

    pub fn new() -> Self {
        Self::default()
    }

    pub fn send(&mut self, len: usize) -> &mut Self {
        self.sent += len;
        self
    }

    pub fn sent(&self) -> &usize {
        &self.sent
    }

    pub fn named<'a>(&'a self, name: &'a str) -> (&'a usize, &'a str) {
        (&self.sent, name)
    }

    pub fn close(mut self) -> usize {
        self.sent += 1;
        self.sent
    }

    pub fn boxed(self: Box<Self>) -> Self {
        *self
    }

    pub fn same(&self, other: &Self) -> bool {
        self.sent == other.sent
    }

    pub fn count(self: &Self, _unit: &str) -> &usize {
        &self.sent
    }

    pub fn tagged<'this>(&self, tag: &'this str) -> (&usize, &'this str) {
        (&self.sent, tag)
    }

    fn reset(&mut self) {
        self.sent = 0;
    }
}

#[livepatch]
pub mod fix {
    use super::Conn;

    #[replaces(crate::net::longest)]
    fn longest<'a>(a: &'a str, _b: &'a str) -> &'a str {
        a
    }

    #[replaces(crate::net::sum, object = "net")]
    fn sum(pair: (u32, u32), c: u32, _d: u32, e: u32) -> u32 {
        pair.0 + pair.1 + c + e
    }

    #[replaces(crate::net::read)]
    unsafe fn read(p: *const u8) -> u8 {
        unsafe { *p + 1 }
    }

    #[livepatch::replaces(crate::net::r#type)]
    fn r#type() -> u8 {
        2
    }

    #[replaces(crate::net::first)]
    fn first(items: &[u8], _by: fn(&u8) -> &u8) -> Option<&u8> {
        items.last()
    }

    #[replaces(crate::Conn::new, object = "net")]
    fn new() -> Conn {
        Conn { sent: 1 }
    }

    #[replaces(crate::Conn::send, object = "net")]
    fn send(conn: &mut Conn, len: usize) -> &mut Conn {
        conn.sent += 2 * len;
        conn
    }

    #[replaces(crate::Conn::sent, object = "net")]
    fn sent(conn: &Conn) -> &usize {
        &conn.sent
    }

    #[replaces(crate::Conn::named, object = "net")]
    fn named<'a>(conn: &'a Conn, _name: &'a str) -> (&'a usize, &'a str) {
        (&conn.sent, "fixed")
    }

    #[replaces(crate::Conn::close, object = "net")]
    fn close(conn: Conn) -> usize {
        conn.sent
    }

    #[replaces(crate::Conn::boxed, object = "net")]
    fn boxed(conn: Box<Conn>) -> Conn {
        Conn { sent: conn.sent + 1 }
    }

    #[replaces(crate::Conn::same, object = "net")]
    fn same(_conn: &Conn, _other: &Conn) -> bool {
        true
    }

    #[replaces(crate::Conn::count, object = "net")]
    fn count<'a>(conn: &'a Conn, _unit: &str) -> &'a usize {
        &conn.sent
    }

    #[replaces(crate::Conn::tagged, object = "net")]
    fn tagged<'a, 'b>(conn: &'a Conn, _tag: &'b str) -> (&'a usize, &'b str) {
        (&conn.sent, "fixed")
    }

    #[replaces(crate::Conn::reset, object = "net")]
    fn reset(conn: &mut Conn) {
        conn.sent = 100;
    }
}

fn main() {
    let byte = 7u8;
    // SAFETY: `byte` is readable.
    let read = unsafe { net::read(&byte) };
    assert_eq!(
        (net::longest("ab", "c"), net::sum((1, 2), 3, 0, 4), read, net::r#type()),
        ("ab", 10, 7, 1)
    );
    assert_eq!(net::first(&[1, 2], |b| b), Some(&1));
    let mut conn = Conn::new();
    conn.send(2).send(3);
    assert_eq!((conn.sent(), conn.named("x"), Conn::UNIT), (&5, (&5, "x"), "bytes"));
    assert!(conn.same(&Conn { sent: 5 }));
    assert_eq!((conn.count("bytes"), conn.tagged("t")), (&5, (&5, "t")));
    conn.reset();
    assert_eq!(Box::new(conn).boxed().close(), 1);
    let functions: usize = fix::PATCH
        .object_descs()
        .iter()
        .map(|object| object.function_descs().len())
        .sum();
    assert_eq!(functions, 15);
}
