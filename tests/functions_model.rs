//! Function stacks (SPEC §5, §7) against a model: random sequences of enables and disables of
//! patches that replace some of three functions, some of them cumulative. No thread is inside a
//! patched function, so every transition completes at once; after every step each function runs
//! what the model says: the replacement of the newest patch on the list that replaces it, or the
//! original.

use livepatch::prelude::*;
use livepatch::{FuncDesc, FuncSlot, ObjectName, Replacement};
use livepatch::{ObjectDesc, PatchDesc};
use proptest::prelude::*;

mod common;

use common::list_ops::{Op, op};

type Named = fn() -> &'static str;

static F: FuncSlot<Named> = FuncSlot::new("f", ObjectName::Program, || "original");
static G: FuncSlot<Named> = FuncSlot::new("g", ObjectName::Program, || "original");
static H: FuncSlot<Named> = FuncSlot::new("h", ObjectName::Program, || "original");

/// Calls each of the three functions.
fn run_all() -> [&'static str; 3] {
    [F.call(|f| f()), G.call(|f| f()), H.call(|f| f())]
}

/// A patch of the model: its descriptor, whether it replaces, and which functions it replaces
/// (their replacements return the patch's name).
struct Spec {
    desc: &'static PatchDesc,
    replace: bool,
    replaces: [bool; 3],
}

macro_rules! spec {
    ($name:literal, replace = $replace:literal, [$($slot:ident),*]) => {{
        static FUNCS: &[FuncDesc] = &[$({
            static NEW: Replacement<Named> = Replacement::new(&$slot, || $name);
            FuncDesc::new(&NEW)
        }),*];
        static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(FUNCS)];
        static DESC: PatchDesc = PatchDesc::new($name).replace($replace).objects(&OBJECTS);
        let names = [$(stringify!($slot)),*];
        Spec {
            desc: &DESC,
            replace: $replace,
            replaces: ["F", "G", "H"].map(|s| names.contains(&s)),
        }
    }};
}

const SPECS: usize = 6;

fn specs() -> [Spec; SPECS] {
    [
        spec!("a", replace = false, [F]),
        spec!("b", replace = false, [F, G]),
        spec!("c", replace = false, [G, H]),
        spec!("d", replace = true, [G]),
        spec!("e", replace = true, [F, H]),
        spec!("n", replace = false, []),
    ]
}

/// What each function runs with `list` (indices into `specs`, oldest first) enabled.
fn expected(specs: &[Spec], list: &[usize]) -> [&'static str; 3] {
    std::array::from_fn(|function| {
        list.iter()
            .rev()
            .find(|&&p| specs[p].replaces[function])
            .map_or("original", |&p| specs[p].desc.name())
    })
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let specs = specs();
    let rt = Runtime::new();
    let mut list: Vec<usize> = Vec::new();
    for &op in ops {
        match op {
            Op::Enable(i) if !list.contains(&i) => {
                rt.enable(specs[i].desc)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if specs[i].replace {
                    list.clear();
                }
                list.push(i);
            }
            Op::Disable(i) if list.contains(&i) => {
                rt.disable(specs[i].desc.name())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                list.retain(|&p| p != i);
            }
            // Errors of these are the list's business (`tests/spec_model.rs`).
            Op::Enable(_) | Op::Disable(_) => continue,
        }
        prop_assert!(
            rt.transition().is_none(),
            "no thread holds a transition back"
        );
        let names: Vec<&str> = rt.patches().iter().map(|p| p.name).collect();
        let expected_names: Vec<&str> = list.iter().map(|&p| specs[p].desc.name()).collect();
        prop_assert_eq!(names, expected_names);
        prop_assert_eq!(run_all(), expected(&specs, &list), "after {:?}", op);
    }
    drop(rt);
    // A runtime that goes away takes its replacements with it.
    prop_assert_eq!(run_all(), ["original"; 3]);
    Ok(())
}

proptest! {
    #[test]
    fn each_function_runs_the_newest_replacement_on_the_list(
        ops in proptest::collection::vec(op(SPECS), 1..40)
    ) {
        run(&ops)?;
    }
}
