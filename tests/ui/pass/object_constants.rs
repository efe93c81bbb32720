// Objects named by constants of the program's, in `#[patchable]`, `#[replaces]` and callbacks.
use livepatch::prelude::*;

pub mod app {
    /// The program's name for its network object.
    pub const NET: &str = "net";

    #[livepatch::patchable(object = NET)]
    pub fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32
    }
}

#[livepatch]
pub mod fix {
    use super::*;

    #[replaces(crate::app::checksum, object = app::NET)]
    fn checksum(buf: &[u8]) -> u32 {
        buf.len() as u32 + 1
    }

    #[post_patch(object = app::NET)]
    fn attach(cx: &mut PostPatch<'_>) {
        assert_eq!(cx.object().as_str(), "net");
    }
}

fn main() {
    let rt = Runtime::new();
    rt.load_object("net").unwrap();
    rt.enable(&fix::PATCH).unwrap();
    assert_eq!(app::checksum(&[1, 2]), 3);
}
