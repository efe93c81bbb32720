// A callback with a wrong signature gives one error; the other callbacks and the state handles
// are still generated.
use livepatch::prelude::*;

pub struct SavedLoglevel(pub i32);

#[livepatch(
    states = [
        /// The console log level.
        CONSOLE_LOGLEVEL { id: 1, version: 1, data: SavedLoglevel },
    ],
)]
pub mod fix_loglevel {
    use super::*;

    #[pre_patch]
    fn prepare(cx: &mut PrePatch<'_>) {
        if let Some(mut state) = cx.state(CONSOLE_LOGLEVEL) {
            state.set(SavedLoglevel(4));
        }
    }

    #[post_unpatch(object = "net")]
    fn cleanup(cx: &mut PostUnpatch<'_>) {
        let _ = cx.reason();
    }
}

fn main() {
    let _ = &fix_loglevel::PATCH;
}
