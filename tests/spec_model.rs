//! The patch list and its state rules (SPEC §1, §2, §5) against a model: random sequences of
//! enables and disables of patches with states, some of them cumulative. Each patch's `post_patch`
//! takes over the previous patch's data of each of its states, or makes new data when there is
//! none to take. After every step the runtime's answer (or its error, with every conflict it
//! names), its list, which states hold data, and which data was dropped are what the model says.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use livepatch::prelude::*;
use livepatch::{
    CallbackKind, ConflictReason, EnableError, ObjectName, SetEnabledError, StateVerdict,
};
use livepatch::{ObjectDesc, PatchDesc, StateDesc, StateHandle};
use proptest::prelude::*;

mod common;

use common::list_ops::{Op, op};

/// State data: a serial number, recorded when dropped.
struct Data(u64);

impl Drop for Data {
    fn drop(&mut self) {
        DROPPED.lock().unwrap().push(self.0);
    }
}

static MADE: AtomicU64 = AtomicU64::new(0);
/// The callbacks that ran, in order, to compare with what `Runtime::plan` predicted.
static TRACE: Mutex<Vec<(ObjectName, CallbackKind)>> = Mutex::new(Vec::new());

fn trace_pre_patch(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    TRACE
        .lock()
        .unwrap()
        .push((cx.object(), CallbackKind::PrePatch));
    Ok(())
}
static DROPPED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Each state the patch declares (ids 1 and 2, in that order): the previous patch's data if it
/// can be taken over, new data otherwise.
fn keep_state_data(cx: &mut PostPatch<'_>) {
    TRACE
        .lock()
        .unwrap()
        .push((cx.object(), CallbackKind::PostPatch));
    for id in [1, 2] {
        // The version of a handle does not matter to a lookup; the id and the type do.
        let handle = StateHandle::<Data>::new(id, 1);
        if cx.state(handle).is_none() || cx.take_over(handle).is_ok() {
            continue;
        }
        let serial = MADE.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(mut state) = cx.state(handle) {
            state.set(Data(serial));
        }
    }
}

/// A patch of the model: its name, whether it replaces, and its states as (id, version).
struct Spec {
    desc: &'static PatchDesc,
    replace: bool,
    states: &'static [(u64, u32)],
}

macro_rules! spec {
    ($name:literal, replace = $replace:literal, [$(($id:literal, $version:literal)),*]) => {{
        static STATES: &[StateDesc] = &[$(StateHandle::<Data>::new($id, $version).desc()),*];
        static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
            .pre_patch(trace_pre_patch)
            .post_patch(keep_state_data)];
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

const SPECS: usize = 9;

fn specs() -> [Spec; SPECS] {
    [
        spec!("a", replace = false, [(1, 1)]),
        spec!("b", replace = false, [(1, 2)]),
        spec!("c", replace = true, [(2, 1)]),
        spec!("d", replace = true, [(1, 2), (2, 1)]),
        spec!("e", replace = false, []),
        spec!("f", replace = true, [(1, 1)]),
        spec!("g", replace = true, []),
        spec!("h", replace = false, [(1, 2), (2, 1)]),
        spec!("i", replace = false, [(2, 2)]),
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

/// A patch on the model's list: which spec, its instance, and for each of its states the data it
/// holds and the instance it took that data over from.
struct Entry {
    spec: usize,
    instance: u64,
    slots: Vec<(Option<u64>, Option<u64>)>,
}

/// The model of the list and of the state data.
#[derive(Default)]
struct Model {
    list: Vec<Entry>,
    instances: u64,
    made: u64,
    dropped: Vec<u64>,
}

/// Where spec `spec` declares state `id` among its states.
fn state_at(specs: &[Spec], spec: usize, id: u64) -> Option<usize> {
    specs[spec].states.iter().position(|(i, _)| *i == id)
}

impl Model {
    /// `spec` joins the list; its `post_patch` takes over or makes each state's data; a replace
    /// then removes every older patch.
    fn enable(&mut self, specs: &[Spec], spec: usize) {
        self.instances += 1;
        let mut slots = Vec::new();
        for &(id, _) in specs[spec].states {
            let prev = self
                .list
                .iter_mut()
                .rev()
                .find(|e| state_at(specs, e.spec, id).is_some());
            let taken = prev.and_then(|prev| {
                let at = state_at(specs, prev.spec, id)?;
                let data = prev.slots[at].0.take()?;
                Some((Some(data), Some(prev.instance)))
            });
            slots.push(taken.unwrap_or_else(|| {
                self.made += 1;
                (Some(self.made), None)
            }));
        }
        self.list.push(Entry {
            spec,
            instance: self.instances,
            slots,
        });
        if specs[spec].replace {
            while self.list.len() > 1 {
                self.remove(specs, 0);
            }
        }
    }

    /// The patch at `at` leaves the list: whoever took data over from it now owes it to where it
    /// came from; its own data goes back there if that patch is still on the list and holds none,
    /// and is dropped otherwise.
    fn remove(&mut self, specs: &[Spec], at: usize) {
        let leaving = self.list.remove(at);
        let states = specs[leaving.spec].states;
        for (&(id, _), &(_, origin)) in states.iter().zip(&leaving.slots) {
            for entry in &mut self.list {
                if let Some(i) = state_at(specs, entry.spec, id)
                    && entry.slots[i].1 == Some(leaving.instance)
                {
                    entry.slots[i].1 = origin;
                }
            }
        }
        for (&(id, _), &(data, origin)) in states.iter().zip(&leaving.slots) {
            let Some(data) = data else { continue };
            let home = origin.and_then(|o| self.list.iter_mut().find(|e| e.instance == o));
            let slot = home.and_then(|home| {
                let i = state_at(specs, home.spec, id)?;
                Some(&mut home.slots[i])
            });
            match slot {
                Some(slot) if slot.0.is_none() => slot.0 = Some(data),
                _ => self.dropped.push(data),
            }
        }
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let specs = specs();
    MADE.store(0, Ordering::SeqCst);
    DROPPED.lock().unwrap().clear();
    let rt = Runtime::new();
    let mut model = Model::default();
    for &op in ops {
        let list: Vec<usize> = model.list.iter().map(|e| e.spec).collect();
        match op {
            Op::Enable(i) => {
                let spec = &specs[i];
                let plan = rt.plan(spec.desc).unwrap();
                TRACE.lock().unwrap().clear();
                let result = rt.enable(spec.desc);
                // The dry run predicted this very answer, the callbacks in the order they ran,
                // and the patches a cumulative patch removed.
                prop_assert_eq!(
                    plan.refusal.as_ref().map(ToString::to_string),
                    result.as_ref().err().map(ToString::to_string)
                );
                if result.is_ok() {
                    let predicted: Vec<_> = plan
                        .callbacks
                        .iter()
                        .map(|c| (c.object, c.callback))
                        .collect();
                    prop_assert_eq!(&predicted, &*TRACE.lock().unwrap());
                    let removed: Vec<_> = match spec.replace {
                        true => list.iter().map(|&p| specs[p].desc.name()).collect(),
                        false => Vec::new(),
                    };
                    prop_assert_eq!(&plan.removes, &removed);
                }
                // One verdict per state id, however many installed patches it conflicts with.
                let refused_states: std::collections::BTreeSet<u64> = plan
                    .states
                    .iter()
                    .filter(|s| matches!(s.verdict, StateVerdict::Incompatible(_)))
                    .map(|s| s.id)
                    .collect();
                let conflicting: std::collections::BTreeSet<u64> =
                    conflicts(&list, &specs, spec).iter().map(|c| c.0).collect();
                prop_assert_eq!(refused_states, conflicting);
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
                    // Without functions the transition completes at once.
                    model.enable(&specs, i);
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
                        model.remove(&specs, at);
                    }
                    None => prop_assert!(
                        matches!(&result, Err(SetEnabledError::NotFound { name: n, .. }) if n == name),
                        "{:?}",
                        result
                    ),
                }
            }
        }
        model.check(&rt, &specs)?;
    }
    // The runtime takes the data still held with it, each exactly once.
    drop(rt);
    let mut dropped = std::mem::take(&mut *DROPPED.lock().unwrap());
    dropped.sort_unstable();
    prop_assert_eq!(dropped, (1..=model.made).collect::<Vec<_>>());
    Ok(())
}

/// A patch as the runtime shows it: name, stack order, enabled, in transition, and which of its
/// states hold data.
type Shown = (&'static str, usize, bool, bool, Vec<bool>);

impl Model {
    fn check(&self, rt: &Runtime, specs: &[Spec]) -> Result<(), TestCaseError> {
        let shown: Vec<Shown> = rt
            .patches()
            .iter()
            .map(|p| {
                let data = p.states.iter().map(|s| s.has_data).collect();
                (p.name, p.stack_order, p.enabled, p.transition, data)
            })
            .collect();
        let expected: Vec<Shown> = self
            .list
            .iter()
            .enumerate()
            .map(|(at, e)| {
                let data = e.slots.iter().map(|(d, _)| d.is_some()).collect();
                (specs[e.spec].desc.name(), at + 1, true, false, data)
            })
            .collect();
        prop_assert_eq!(shown, expected);
        let mut dropped = DROPPED.lock().unwrap().clone();
        dropped.sort_unstable();
        let mut expected = self.dropped.clone();
        expected.sort_unstable();
        prop_assert_eq!(dropped, expected, "data dropped");
        prop_assert_eq!(MADE.load(Ordering::SeqCst), self.made, "data made");
        Ok(())
    }
}

proptest! {
    #[test]
    fn enables_and_disables_follow_the_list_and_state_rules(
        ops in proptest::collection::vec(op(SPECS), 1..60)
    ) {
        run(&ops)?;
    }
}
