// Every argument of #[livepatch] and every kind of callback, on the program and on objects.
use livepatch::prelude::*;
use livepatch::{ObjectName, StateHandle};

/// The saved log level.
pub struct SavedLoglevel(pub i32);

#[livepatch(name = "older")]
pub mod older {}

#[livepatch(
    name = "fix_loglevel",
    replace,
    follows = [super::older],
    states = [
        /// The console log level this patch raises.
        CONSOLE_LOGLEVEL { id: 1, version: 2, data: SavedLoglevel },
        /// A state without data.
        FLAG { version: 0, id: 0x10 },
    ],
)]
pub mod fix_loglevel {
    use super::*;

    #[pre_patch]
    fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut state) = cx.state(CONSOLE_LOGLEVEL) {
            state.set(SavedLoglevel(4));
        }
        Ok(())
    }

    #[post_patch]
    fn apply(cx: &mut PostPatch<'_>) {
        if cx.prev_state(CONSOLE_LOGLEVEL).is_some() {
            let _ = cx.take_over(CONSOLE_LOGLEVEL);
        }
    }

    #[pre_unpatch]
    pub fn stop(_cx: &mut PreUnpatch<'_>) {}

    #[post_unpatch]
    fn done(_cx: &mut PostUnpatch<'_>) {}

    #[post_unpatch(object = "net")]
    fn cleanup(cx: &mut PostUnpatch<'_>) {
        let _ = cx.reason();
    }

    #[pre_patch(object = "disk",)]
    fn prepare_disk(_cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        Ok(())
    }

    #[post_patch(object = "net")]
    fn apply_net(_cx: &mut PostPatch<'_>) {}
}

fn main() {
    let patch = &fix_loglevel::PATCH;
    assert_eq!(patch.name(), "fix_loglevel");
    assert!(patch.is_replace());
    let states: Vec<_> = patch.state_descs().iter().map(|s| (s.id(), s.version())).collect();
    assert_eq!(states, [(1, 2), (16, 0)]);
    let objects: Vec<_> = patch.object_descs().iter().map(|o| o.name()).collect();
    assert_eq!(
        objects,
        [ObjectName::Program, ObjectName::Named("net"), ObjectName::Named("disk")]
    );
    // Handles are typed with their data, and marked as handles of their own patch.
    let handle: StateHandle<SavedLoglevel, _> = fix_loglevel::CONSOLE_LOGLEVEL;
    assert_eq!((handle.id(), handle.version()), (1, 2));
    let flag: StateHandle<(), _> = fix_loglevel::FLAG;
    assert_eq!(flag.id(), 16);
    // A callback may be public, and is still an ordinary function, of its patch's context.
    let _: fn(&mut PreUnpatch<'_, _>) = fix_loglevel::stop;
    let rt = Runtime::new();
    rt.enable(&older::PATCH).unwrap();
    rt.enable(patch).unwrap();
    rt.disable("fix_loglevel").unwrap();
}
