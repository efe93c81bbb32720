//! The kernel's shadow-variable selftest (`test_klp_shadow_vars`, run by `test-shadow-vars.sh`),
//! replayed against a `ShadowTable`: three objects, ids 0x1234 and 0x1235, a get on the empty
//! table, allocations with constructors, every variable read back, `get_or_alloc` of existing
//! variables (no constructor), frees with a destructor and a `free_all` without one.
//!
//! As the kernel test does, every pointer is printed as `PTR<n>`, numbered in the order first
//! seen, `PTR0` standing for none, so the expected trace does not depend on addresses. The trace
//! is compared line for line, and holds every message the runtime logs as well: a stray warning
//! fails the test.

use std::cell::RefCell;

use livepatch::Dmesg;
use livepatch::shadow::{ObjAddr, Shadow, ShadowId, ShadowTable};

const TARGET: &str = "test_klp_shadow_vars";

/// The data: the address of a local variable, as the kernel test stores an `int *`.
type Data = ObjAddr;

/// Numbers pointers in the order first seen; `PTR0` is none.
struct PtrIds(RefCell<Vec<usize>>);

impl PtrIds {
    fn new() -> Self {
        PtrIds(RefCell::new(vec![0]))
    }

    fn id(&self, addr: usize) -> String {
        let mut seen = self.0.borrow_mut();
        let n = match seen.iter().position(|&a| a == addr) {
            Some(n) => n,
            None => {
                seen.push(addr);
                seen.len() - 1
            }
        };
        format!("PTR{n}")
    }

    fn obj(&self, obj: ObjAddr) -> String {
        self.id(obj.addr())
    }

    fn shadow(&self, shadow: Option<&Shadow<Data>>) -> String {
        self.id(shadow.map_or(0, |s| std::ptr::from_ref::<Data>(s) as usize))
    }
}

/// The test's wrappers: each calls the API and logs the call and its result.
struct Harness {
    table: ShadowTable,
    ptr: PtrIds,
}

fn log(line: String) {
    tracing::info!(target: TARGET, "{line}");
}

impl Harness {
    fn ctor(&self, obj: ObjAddr, ctor_data: ObjAddr) -> Result<Data, String> {
        log(format!(
            "shadow_ctor(obj={}) -> {}",
            self.ptr.obj(obj),
            self.ptr.obj(ctor_data)
        ));
        Ok(ctor_data)
    }

    fn dtor(&self, obj: ObjAddr, data: &Data) {
        log(format!(
            "shadow_dtor(obj={}, shadow_data={})",
            self.ptr.obj(obj),
            self.ptr.id(std::ptr::from_ref(data) as usize)
        ));
    }

    fn get(&self, obj: ObjAddr, id: ShadowId<Data>) -> Option<Shadow<Data>> {
        let ret = self.table.get(obj, id);
        log(format!(
            "get(obj={}, id={:#x}) = {}",
            self.ptr.obj(obj),
            id.id(),
            self.ptr.shadow(ret.as_ref())
        ));
        ret
    }

    fn alloc(&self, obj: ObjAddr, id: ShadowId<Data>, ctor_data: ObjAddr) -> Shadow<Data> {
        let ret = self
            .table
            .alloc_with(obj, id, || self.ctor(obj, ctor_data))
            .expect("the constructor does not fail");
        self.log_alloc("alloc", obj, id, ctor_data, ret.as_ref());
        ret.expect("a new variable")
    }

    fn get_or_alloc(&self, obj: ObjAddr, id: ShadowId<Data>, ctor_data: ObjAddr) -> Shadow<Data> {
        let ret = self
            .table
            .get_or_alloc_with(obj, id, || self.ctor(obj, ctor_data))
            .expect("the constructor does not fail");
        self.log_alloc("get_or_alloc", obj, id, ctor_data, Some(&ret));
        ret
    }

    fn log_alloc(
        &self,
        call: &str,
        obj: ObjAddr,
        id: ShadowId<Data>,
        ctor_data: ObjAddr,
        ret: Option<&Shadow<Data>>,
    ) {
        log(format!(
            "{call}(obj={}, id={:#x}, ctor=shadow_ctor, ctor_data={}) = {}",
            self.ptr.obj(obj),
            id.id(),
            self.ptr.obj(ctor_data),
            self.ptr.shadow(ret)
        ));
    }

    fn free(&self, obj: ObjAddr, id: ShadowId<Data>) {
        assert!(self.table.free_with(obj, id, |o, d| self.dtor(o, d)));
        log(format!(
            "free(obj={}, id={:#x}, dtor=shadow_dtor)",
            self.ptr.obj(obj),
            id.id()
        ));
    }

    fn free_all(&self, id: ShadowId<Data>) -> usize {
        let freed = self.table.free_all(id);
        log(format!("free_all(id={:#x}, dtor=none)", id.id()));
        freed
    }

    /// Reads the variable back and checks it is the one allocated, holding what its constructor
    /// was given (the kernel test's `got expected PTRa -> PTRb result`).
    fn expect_found(&self, obj: ObjAddr, id: ShadowId<Data>, sv: &Shadow<Data>, var: ObjAddr) {
        let ret = self.get(obj, id).expect("found");
        self.expect_same(&ret, sv, var);
    }

    fn expect_same(&self, ret: &Shadow<Data>, sv: &Shadow<Data>, var: ObjAddr) {
        assert!(Shadow::ptr_eq(ret, sv));
        assert_eq!(**sv, var);
        log(format!(
            "  got expected {} -> {} result",
            self.ptr.shadow(Some(sv)),
            self.ptr.obj(**sv)
        ));
    }

    fn expect_none(&self, obj: ObjAddr, id: ShadowId<Data>) {
        assert!(self.get(obj, id).is_none());
        log("  got expected NULL result".to_owned());
    }
}

#[test]
fn basic_shadow_variable_api() {
    const ID1: ShadowId<Data> = ShadowId::new(0x1234);
    const ID2: ShadowId<Data> = ShadowId::new(0x1235);

    let module = [0u8; 3];
    let obj1 = ObjAddr::of(&module[0]);
    let obj2 = ObjAddr::of(&module[1]);
    let obj3 = ObjAddr::of(&module[2]);
    let vars = [0i32; 6];
    let var: Vec<ObjAddr> = vars.iter().map(ObjAddr::of).collect();

    let h = Harness {
        table: ShadowTable::new(),
        ptr: PtrIds::new(),
    };
    let dmesg = Dmesg::new();
    dmesg.capture(|| {
        h.expect_none(obj1, ID1);

        let sv1 = h.get_or_alloc(obj1, ID1, var[0]);
        let sv2 = h.alloc(obj1, ID2, var[1]);
        let sv3 = h.alloc(obj2, ID1, var[2]);
        let sv4 = h.alloc(obj2, ID2, var[3]);
        let sv5 = h.get_or_alloc(obj3, ID1, var[4]);
        let sv6 = h.alloc(obj3, ID2, var[5]);

        h.expect_found(obj1, ID1, &sv1, var[0]);
        h.expect_found(obj1, ID2, &sv2, var[1]);
        h.expect_found(obj2, ID1, &sv3, var[2]);
        h.expect_found(obj2, ID2, &sv4, var[3]);
        h.expect_found(obj3, ID1, &sv5, var[4]);
        h.expect_found(obj3, ID2, &sv6, var[5]);

        // The same pairs again: the existing variables, and no constructor runs.
        for (obj, sv, v) in [
            (obj1, &sv1, var[0]),
            (obj2, &sv3, var[2]),
            (obj3, &sv5, var[4]),
        ] {
            let ret = h.get_or_alloc(obj, ID1, v);
            h.expect_same(&ret, sv, v);
        }

        for obj in [obj1, obj2, obj3] {
            h.free(obj, ID1);
            h.expect_none(obj, ID1);
        }

        h.expect_found(obj1, ID2, &sv2, var[1]);
        h.expect_found(obj2, ID2, &sv4, var[3]);
        h.expect_found(obj3, ID2, &sv6, var[5]);

        assert_eq!(h.free_all(ID2), 3);
        for obj in [obj1, obj2, obj3] {
            h.expect_none(obj, ID2);
        }
    });
    assert!(h.table.is_empty());

    let expected = "\
get(obj=PTR1, id=0x1234) = PTR0
  got expected NULL result
shadow_ctor(obj=PTR1) -> PTR2
get_or_alloc(obj=PTR1, id=0x1234, ctor=shadow_ctor, ctor_data=PTR2) = PTR3
shadow_ctor(obj=PTR1) -> PTR4
alloc(obj=PTR1, id=0x1235, ctor=shadow_ctor, ctor_data=PTR4) = PTR5
shadow_ctor(obj=PTR6) -> PTR7
alloc(obj=PTR6, id=0x1234, ctor=shadow_ctor, ctor_data=PTR7) = PTR8
shadow_ctor(obj=PTR6) -> PTR9
alloc(obj=PTR6, id=0x1235, ctor=shadow_ctor, ctor_data=PTR9) = PTR10
shadow_ctor(obj=PTR11) -> PTR12
get_or_alloc(obj=PTR11, id=0x1234, ctor=shadow_ctor, ctor_data=PTR12) = PTR13
shadow_ctor(obj=PTR11) -> PTR14
alloc(obj=PTR11, id=0x1235, ctor=shadow_ctor, ctor_data=PTR14) = PTR15
get(obj=PTR1, id=0x1234) = PTR3
  got expected PTR3 -> PTR2 result
get(obj=PTR1, id=0x1235) = PTR5
  got expected PTR5 -> PTR4 result
get(obj=PTR6, id=0x1234) = PTR8
  got expected PTR8 -> PTR7 result
get(obj=PTR6, id=0x1235) = PTR10
  got expected PTR10 -> PTR9 result
get(obj=PTR11, id=0x1234) = PTR13
  got expected PTR13 -> PTR12 result
get(obj=PTR11, id=0x1235) = PTR15
  got expected PTR15 -> PTR14 result
get_or_alloc(obj=PTR1, id=0x1234, ctor=shadow_ctor, ctor_data=PTR2) = PTR3
  got expected PTR3 -> PTR2 result
get_or_alloc(obj=PTR6, id=0x1234, ctor=shadow_ctor, ctor_data=PTR7) = PTR8
  got expected PTR8 -> PTR7 result
get_or_alloc(obj=PTR11, id=0x1234, ctor=shadow_ctor, ctor_data=PTR12) = PTR13
  got expected PTR13 -> PTR12 result
shadow_dtor(obj=PTR1, shadow_data=PTR3)
free(obj=PTR1, id=0x1234, dtor=shadow_dtor)
get(obj=PTR1, id=0x1234) = PTR0
  got expected NULL result
shadow_dtor(obj=PTR6, shadow_data=PTR8)
free(obj=PTR6, id=0x1234, dtor=shadow_dtor)
get(obj=PTR6, id=0x1234) = PTR0
  got expected NULL result
shadow_dtor(obj=PTR11, shadow_data=PTR13)
free(obj=PTR11, id=0x1234, dtor=shadow_dtor)
get(obj=PTR11, id=0x1234) = PTR0
  got expected NULL result
get(obj=PTR1, id=0x1235) = PTR5
  got expected PTR5 -> PTR4 result
get(obj=PTR6, id=0x1235) = PTR10
  got expected PTR10 -> PTR9 result
get(obj=PTR11, id=0x1235) = PTR15
  got expected PTR15 -> PTR14 result
free_all(id=0x1235, dtor=none)
get(obj=PTR1, id=0x1235) = PTR0
  got expected NULL result
get(obj=PTR6, id=0x1235) = PTR0
  got expected NULL result
get(obj=PTR11, id=0x1235) = PTR0
  got expected NULL result";
    let expected: Vec<String> = expected.lines().map(|l| format!("{TARGET}: {l}")).collect();
    assert_eq!(dmesg.lines(), expected);
}
