/// Raises the console log level, and restores it when disabled.
#[livepatch(
    replace,
    states = [
        /// The console log level this patch raises.
        CONSOLE_LOGLEVEL { id: 1, version: 2, data: SavedLoglevel },
    ],
)]
pub mod fix_loglevel {
    use super::*;

    #[pre_patch]
    fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        Ok(())
    }

    #[post_patch]
    fn apply(cx: &mut PostPatch<'_>) {
        if cx.prev_state(CONSOLE_LOGLEVEL).is_some() {
            let _ = cx.take_over(CONSOLE_LOGLEVEL);
        }
    }

    #[post_unpatch(object = "net")]
    fn cleanup(cx: &mut PostUnpatch<'_>) {
        let _ = cx.reason();
    }
}
