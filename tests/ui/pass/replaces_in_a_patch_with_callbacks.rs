// Replacements beside states and callbacks, for an object that has callbacks and one that has
// none, in a cumulative patch; the descriptor lists the objects in the order they first appear.
use livepatch::prelude::*;
use livepatch::ObjectName;

pub mod disk {
    #[livepatch::patchable(object = "disk")]
    pub fn flush() -> bool {
        true
    }
}

pub mod net {
    #[livepatch::patchable(object = "net")]
    pub fn mtu() -> u32 {
        1500
    }
}

#[livepatch(replace, states = [MTU { id: 1, version: 1, data: u32 }])]
pub mod fix {
    use super::*;

    #[replaces(crate::disk::flush, object = "disk")]
    fn flush() -> bool {
        false
    }

    #[post_patch(object = "net")]
    fn apply(cx: &mut PostPatch<'_>) {
        let _ = cx.state(MTU);
    }

    #[replaces(crate::net::mtu, object = "net")]
    fn mtu() -> u32 {
        9000
    }
}

fn main() {
    let objects: Vec<(ObjectName, usize)> = fix::PATCH
        .object_descs()
        .iter()
        .map(|object| (object.name(), object.function_descs().len()))
        .collect();
    assert_eq!(
        objects,
        [
            (ObjectName::Program, 0),
            (ObjectName::Named("disk"), 1),
            (ObjectName::Named("net"), 1),
        ]
    );
    assert!(disk::flush());
    assert_eq!(net::mtu(), 1500);
}
