//! Shadow variables: data attached to an existing object, keyed by its address and an id.

/// Called by the runtime, outside its lock, when state `state` of runtime `runtime` is released:
/// no patch on the list declares it any more.
pub(crate) fn state_released(_runtime: u64, _state: u64) {}
