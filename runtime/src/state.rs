//! System states: the compatibility check of enable, typed state data, and how data moves between
//! patches (taken over by a newer patch, passed back when it goes, dropped when nobody holds it).

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

use crate::core::PatchEntry;
use crate::descriptor::{DataType, PatchDesc, StateDesc, StateHandle, StateLabel};
use crate::error::StateDataError;

/// Data owned by a state, as stored: typed by the state's declared [`DataType`].
pub(crate) type Data = Box<dyn Any + Send + Sync>;

/// The run-time side of one declared state of a patch on the list.
#[derive(Default)]
pub(crate) struct StateSlot {
    pub(crate) data: Option<Data>,
    /// The patch this data was taken over from, so it can be passed back if this patch goes
    /// first. Follows the chain when that patch itself leaves (see [`release_patch`]).
    pub(crate) origin: Option<u64>,
}

/// One state of this patch, with typed access to its data.
pub struct StateMut<'a, T> {
    desc: &'static StateDesc,
    slot: &'a mut StateSlot,
    _data: PhantomData<fn() -> T>,
}

impl<'a, T: Send + Sync + 'static> StateMut<'a, T> {
    pub(crate) fn new(desc: &'static StateDesc, slot: &'a mut StateSlot) -> Self {
        StateMut {
            desc,
            slot,
            _data: PhantomData,
        }
    }

    /// The state's id.
    pub fn id(&self) -> u64 {
        self.desc.id
    }

    /// The version this patch declares.
    pub fn version(&self) -> u32 {
        self.desc.version
    }

    /// The data, if the state holds any.
    pub fn data(&self) -> Option<&T> {
        self.slot.data.as_deref().and_then(|d| d.downcast_ref())
    }

    /// The data, mutably.
    pub fn data_mut(&mut self) -> Option<&mut T> {
        self.slot.data.as_deref_mut().and_then(|d| d.downcast_mut())
    }

    /// Stores `data`, giving back what the state held before.
    pub fn set(&mut self, data: T) -> Option<T> {
        let old = self.take();
        self.slot.data = Some(Box::new(data));
        old
    }

    /// Removes the data and gives it to the caller; nothing is passed back to an older patch then.
    pub fn take(&mut self) -> Option<T> {
        self.slot.origin = None;
        self.slot
            .data
            .take()
            .and_then(|d| d.downcast::<T>().ok())
            .map(|d| *d)
    }
}

impl<T> fmt::Debug for StateMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMut")
            .field("id", &self.desc.id)
            .field("version", &self.desc.version)
            .field("has_data", &self.slot.data.is_some())
            .finish()
    }
}

/// A state of an earlier patch on the list, read-only (the kernel's `klp_get_prev_state`).
pub struct PrevState<'a> {
    patch: &'static PatchDesc,
    desc: &'static StateDesc,
    slot: &'a StateSlot,
}

impl PrevState<'_> {
    /// The name of the patch that declares this state.
    pub fn patch_name(&self) -> &'static str {
        self.patch.name()
    }

    /// The state's id.
    pub fn id(&self) -> u64 {
        self.desc.id
    }

    /// The version the earlier patch declares.
    pub fn version(&self) -> u32 {
        self.desc.version
    }

    /// The type of the earlier patch's data.
    pub fn data_type(&self) -> DataType {
        self.desc.data
    }

    /// Whether the state holds data.
    pub fn has_data(&self) -> bool {
        self.slot.data.is_some()
    }

    /// The earlier patch's data, read as `U`: `Ok(None)` when it holds none, an error when it is of
    /// another type.
    pub fn data<U: Send + Sync + 'static>(&self) -> Result<Option<&U>, StateDataError> {
        check_type::<U>(self.patch, self.desc, self.desc.label())?;
        Ok(self.slot.data.as_deref().and_then(|d| d.downcast_ref()))
    }
}

impl fmt::Debug for PrevState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrevState")
            .field("patch", &self.patch.name())
            .field("id", &self.desc.id)
            .field("version", &self.desc.version)
            .field("has_data", &self.slot.data.is_some())
            .finish()
    }
}

/// Checks that `desc`'s data is a `U`; the error names the state `state`.
fn check_type<U: Send + Sync + 'static>(
    patch: &PatchDesc,
    desc: &StateDesc,
    state: StateLabel,
) -> Result<(), StateDataError> {
    let wanted = DataType::of::<U>();
    if desc.data == wanted {
        Ok(())
    } else {
        Err(StateDataError::TypeMismatch {
            state,
            patch: patch.name(),
            found: desc.data.name(),
            expected: wanted.name(),
        })
    }
}

impl PatchEntry {
    /// This patch's state for `handle`, if it declares one with the handle's id and data type.
    pub(crate) fn state_mut<T: Send + Sync + 'static, P>(
        &mut self,
        handle: StateHandle<T, P>,
    ) -> Option<StateMut<'_, T>> {
        let index = self.state_index(handle.id())?;
        let desc = &self.desc.states[index];
        let wanted = DataType::of::<T>();
        if desc.data != wanted {
            // Only a handle built by hand can differ from its patch's declaration.
            crate::messages::state_type_differs(self.desc.name(), desc, wanted);
            return None;
        }
        Some(StateMut::new(desc, &mut self.states[index]))
    }

    /// This patch's state with `id`, as seen by a later patch.
    pub(crate) fn prev_state(&self, id: u64) -> Option<PrevState<'_>> {
        let index = self.state_index(id)?;
        Some(PrevState {
            patch: self.desc,
            desc: &self.desc.states[index],
            slot: &self.states[index],
        })
    }

    pub(crate) fn state_index(&self, id: u64) -> Option<usize> {
        self.desc.states.iter().position(|s| s.id == id)
    }
}

/// The state `id` of the last patch before patch `index` on the list that declares it.
pub(crate) fn prev_state(list: &[PatchEntry], index: usize, id: u64) -> Option<PrevState<'_>> {
    list[..index]
        .iter()
        .rev()
        .find_map(|entry| entry.prev_state(id))
}

/// Moves the data of the previous patch's state `handle.id()` into patch `taker`'s own state.
pub(crate) fn take_over<T: Send + Sync + 'static, P>(
    list: &mut [PatchEntry],
    taker: usize,
    handle: StateHandle<T, P>,
) -> Result<(), StateDataError> {
    let id = handle.id();
    let (before, rest) = list.split_at_mut(taker);
    let me = &mut rest[0];
    let Some(own) = me.state_index(id) else {
        return Err(StateDataError::NotDeclared {
            state: handle.label(),
            patch: me.desc.name(),
        });
    };
    // Errors name the state as this patch does: by the handle's name, else by the declaration's.
    let state = StateLabel::new(id, handle.name().or(me.desc.states[own].name));
    check_type::<T>(me.desc, &me.desc.states[own], state)?;
    if me.states[own].data.is_some() {
        return Err(StateDataError::AlreadyHasData {
            state,
            patch: me.desc.name(),
        });
    }
    let Some((prev, prev_index)) = before
        .iter_mut()
        .rev()
        .find_map(|entry| entry.state_index(id).map(|i| (entry, i)))
    else {
        return Err(StateDataError::NoPreviousState { state });
    };
    check_type::<T>(prev.desc, &prev.desc.states[prev_index], state)?;
    // No version check is needed here: the compatibility check of enable guarantees that every
    // earlier patch's version of a state this patch declares is at most this patch's own.
    let Some(data) = prev.states[prev_index].data.take() else {
        return Err(StateDataError::NoData {
            state,
            patch: prev.desc.name(),
        });
    };
    me.states[own] = StateSlot {
        data: Some(data),
        origin: Some(prev.instance),
    };
    Ok(())
}

/// Moves the previous patch's data for `handle` into patch `taker`'s own state, as [`take_over`];
/// when no earlier patch declares the state or its state holds no data, stores `init()` instead.
pub(crate) fn take_over_or_init<T: Send + Sync + 'static, P>(
    list: &mut [PatchEntry],
    taker: usize,
    handle: StateHandle<T, P>,
    init: impl FnOnce() -> T,
) -> Result<StateMut<'_, T>, StateDataError> {
    match take_over(list, taker, handle) {
        Ok(()) => {}
        Err(StateDataError::NoPreviousState { .. } | StateDataError::NoData { .. }) => {
            let me = &mut list[taker];
            if let Some(own) = me.state_index(handle.id()) {
                me.states[own] = StateSlot {
                    data: Some(Box::new(init())),
                    origin: None,
                };
            }
        }
        Err(other) => return Err(other),
    }
    let me = &mut list[taker];
    let patch = me.desc.name();
    me.state_mut(handle).ok_or(StateDataError::NotDeclared {
        state: handle.label(),
        patch,
    })
}

/// Takes patch `leaving` off the state books as it leaves the list: data that was taken over from
/// a patch that stays is passed back to it, data that was taken over from this patch now points
/// past it, and everything else is returned for dropping (outside the runtime's lock).
pub(crate) fn release_patch(list: &mut [PatchEntry], leaving: usize, graveyard: &mut Vec<Data>) {
    let leaving_instance = list[leaving].instance;
    let slots = std::mem::take(&mut list[leaving].states);
    for (desc, slot) in list[leaving].desc.states.iter().zip(&slots) {
        // Whoever took over from the leaving patch now owes the data to its origin.
        for entry in list.iter_mut() {
            let Some(i) = entry.state_index(desc.id) else {
                continue;
            };
            if let Some(s) = entry
                .states
                .get_mut(i)
                .filter(|s| s.origin == Some(leaving_instance))
            {
                s.origin = slot.origin;
            }
        }
    }
    for (desc, slot) in list[leaving].desc.states.iter().zip(slots) {
        let Some(data) = slot.data else { continue };
        let home = slot.origin.and_then(|origin| {
            list.iter_mut()
                .find(|e| e.instance == origin && e.instance != leaving_instance)
        });
        match home.and_then(|e| e.state_index(desc.id).map(|i| (e, i))) {
            Some((entry, i))
                if entry.desc.states[i].data == desc.data
                    && entry.states.get(i).is_some_and(|s| s.data.is_none()) =>
            {
                entry.states[i].data = Some(data);
            }
            _ => graveyard.push(data),
        }
    }
}

/// Why a state of an installed patch forbids enabling a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictReason {
    /// The new patch declares the state with a lower version.
    VersionLowered {
        /// The version the new patch declares.
        new_version: u32,
    },
    /// The new patch is cumulative and does not declare the state.
    DroppedByCumulative,
}

/// One installed state that the new patch is not compatible with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateConflict {
    /// The state's id.
    pub id: u64,
    /// The name of the installed patch's handle for the state, if it has one.
    pub name: Option<&'static str>,
    /// The installed patch that declares it.
    pub installed_patch: &'static str,
    /// The installed patch's version of the state.
    pub installed_version: u32,
    /// What is wrong.
    pub reason: ConflictReason,
}

impl StateConflict {
    /// How messages name the state.
    pub fn label(&self) -> StateLabel {
        StateLabel::new(self.id, self.name)
    }
}

impl fmt::Display for StateConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.label();
        match self.reason {
            ConflictReason::VersionLowered { new_version } => write!(
                f,
                "{state} is at version {} in patch '{}' and the new patch lowers it to {}",
                self.installed_version, self.installed_patch, new_version
            ),
            ConflictReason::DroppedByCumulative => write!(
                f,
                "{state} (version {} in patch '{}') is dropped by the new cumulative patch, \
                 which must declare it",
                self.installed_version, self.installed_patch
            ),
        }
    }
}

/// The compatibility check of enable: every state of every installed patch must be declared by the
/// new patch with the same or a higher version, or, for a non-cumulative new patch, left alone.
pub(crate) fn conflicts<'a>(
    new: &PatchDesc,
    installed: impl IntoIterator<Item = &'a PatchDesc>,
) -> Vec<StateConflict> {
    let mut found = Vec::new();
    for old in installed {
        for state in old.states {
            let reason = match new.state(state.id) {
                Some(mine) if mine.version >= state.version => continue,
                Some(mine) => ConflictReason::VersionLowered {
                    new_version: mine.version,
                },
                None if !new.replace => continue,
                None => ConflictReason::DroppedByCumulative,
            };
            found.push(StateConflict {
                id: state.id,
                name: state.name,
                installed_patch: old.name,
                installed_version: state.version,
                reason,
            });
        }
    }
    found
}
