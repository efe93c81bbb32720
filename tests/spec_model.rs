//! The patch list and its state rules (SPEC §1, §2, §5) against a model: random sequences of
//! enables and disables of patches with states, some of them cumulative. After every step the
//! runtime's answer (or its error, with every conflict it names) and its list are what the model
//! says.

use livepatch::prelude::*;
use livepatch::{ConflictReason, EnableError, SetEnabledError};
use proptest::prelude::*;

/// A patch of the model: its name, whether it replaces, and its states as (id, version).
struct Spec {
    desc: &'static PatchDesc,
    replace: bool,
    states: &'static [(u64, u32)],
}

macro_rules! spec {
    ($name:literal, replace = $replace:literal, [$(($id:literal, $version:literal)),*]) => {{
        static STATES: &[StateDesc] = &[$(StateHandle::<()>::new($id, $version).desc()),*];
        static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()];
        static DESC: PatchDesc = PatchDesc::new($name)
            .replace($replace)
            .states(STATES)
            .objects(&OBJECTS);
        Spec {
            desc: &DESC,
            replace: $replace,
            states: &[$(($id, $version)),*],
        }
    }};
}

fn specs() -> [Spec; 7] {
    [
        spec!("a", replace = false, [(1, 1)]),
        spec!("b", replace = false, [(1, 2)]),
        spec!("c", replace = true, [(2, 1)]),
        spec!("d", replace = true, [(1, 2), (2, 1)]),
        spec!("e", replace = false, []),
        spec!("f", replace = true, [(1, 1)]),
        spec!("g", replace = true, []),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Enable(usize),
    Disable(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..7usize).prop_map(Op::Enable),
        2 => (0..7usize).prop_map(Op::Disable),
    ]
}

/// A conflict as the model predicts it: state id, installed patch, installed version, and the
/// version the new patch declares (`None`: dropped by a cumulative patch).
type Conflict = (u64, &'static str, u32, Option<u32>);

/// Every installed state that `new` is not compatible with, in list order, then in the order
/// each installed patch declares its states.
fn conflicts(list: &[usize], specs: &[Spec], new: &Spec) -> Vec<Conflict> {
    let mut found = Vec::new();
    for &installed in list {
        for &(id, version) in specs[installed].states {
            match new.states.iter().find(|(i, _)| *i == id) {
                Some(&(_, v)) if v < version => {
                    found.push((id, specs[installed].desc.name(), version, Some(v)))
                }
                Some(_) => {}
                None if new.replace => {
                    found.push((id, specs[installed].desc.name(), version, None))
                }
                None => {}
            }
        }
    }
    found
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let specs = specs();
    let rt = Runtime::new();
    // The model's list: indices into `specs`, in enable order.
    let mut list: Vec<usize> = Vec::new();
    for &op in ops {
        match op {
            Op::Enable(i) => {
                let spec = &specs[i];
                let result = rt.enable(spec.desc);
                if list.contains(&i) {
                    prop_assert!(
                        matches!(result, Err(EnableError::AlreadyExists(name)) if name == spec.desc.name()),
                        "{:?}",
                        result
                    );
                    continue;
                }
                let expected = conflicts(&list, &specs, spec);
                if expected.is_empty() {
                    prop_assert!(result.is_ok(), "{:?}", result);
                    // Without functions the transition completes at once; a replace removes
                    // every older patch when it does.
                    if spec.replace {
                        list.clear();
                    }
                    list.push(i);
                } else {
                    let Err(EnableError::Incompatible { patch, conflicts }) = result else {
                        return Err(TestCaseError::fail(format!(
                            "expected an incompatibility, got {result:?}"
                        )));
                    };
                    prop_assert_eq!(patch, spec.desc.name());
                    let got: Vec<Conflict> = conflicts
                        .iter()
                        .map(|c| {
                            let new_version = match c.reason {
                                ConflictReason::VersionLowered { new_version } => Some(new_version),
                                ConflictReason::DroppedByCumulative => None,
                            };
                            (c.id, c.installed_patch, c.installed_version, new_version)
                        })
                        .collect();
                    prop_assert_eq!(got, expected);
                }
            }
            Op::Disable(i) => {
                let name = specs[i].desc.name();
                let result = rt.disable(name);
                match list.iter().position(|&p| p == i) {
                    Some(at) => {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        list.remove(at);
                    }
                    None => prop_assert!(
                        matches!(&result, Err(SetEnabledError::NotFound(n)) if n == name),
                        "{:?}",
                        result
                    ),
                }
            }
        }
        let shown: Vec<(&str, usize, bool, bool)> = rt
            .patches()
            .iter()
            .map(|p| (p.name, p.stack_order, p.enabled, p.transition))
            .collect();
        let expected: Vec<(&str, usize, bool, bool)> = list
            .iter()
            .enumerate()
            .map(|(at, &p)| (specs[p].desc.name(), at + 1, true, false))
            .collect();
        prop_assert_eq!(shown, expected);
    }
    Ok(())
}

proptest! {
    #[test]
    fn enables_and_disables_follow_the_list_and_state_rules(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        run(&ops)?;
    }
}
