// A mistake in one state leaves the rest of the patch generated: the callbacks that use the state
// compile, and the one mistake gives one error.
use livepatch::prelude::*;

pub struct SavedLoglevel(pub i32);

#[livepatch(
    replace,
    states = [
        /// The console log level.
        CONSOLE_LOGLEVEL { id: 1, version: -2, data: SavedLoglevel },
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
        let _ = cx.take_over(CONSOLE_LOGLEVEL);
    }
}

fn main() {
    let _ = &fix_loglevel::PATCH;
}
