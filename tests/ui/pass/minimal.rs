// The smallest patch: no arguments, no states, no callbacks.
use livepatch::prelude::*;

#[livepatch]
pub mod fix {}

fn main() {
    assert_eq!(fix::PATCH.name(), "fix");
    assert!(!fix::PATCH.is_replace());
    assert!(fix::PATCH.state_descs().is_empty());
    let objects: Vec<_> = fix::PATCH.object_descs().iter().map(|o| o.name()).collect();
    assert_eq!(objects, [livepatch::ObjectName::Program]);
    let rt = Runtime::new();
    rt.enable(&fix::PATCH).unwrap();
    rt.disable("fix").unwrap();
}
