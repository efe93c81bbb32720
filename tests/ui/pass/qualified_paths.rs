// The macros and types written with their paths, explicit lifetimes, an explicit `-> ()` and a
// `const fn` callback, without the prelude.
#[livepatch::livepatch(states = [STATE { id: 7, version: 1, data: std::sync::Mutex<Vec<u8>> }])]
mod r#override {
    #[livepatch::pre_patch]
    fn prepare<'a, 'b>(
        cx: &'a mut livepatch::PrePatch<'b>,
    ) -> Result<(), livepatch::CallbackError> {
        let _ = cx.state(STATE);
        Ok(())
    }

    #[livepatch::post_patch]
    fn apply(_cx: &mut livepatch::PostPatch) -> () {}

    #[livepatch::pre_unpatch]
    const fn stop(_cx: &mut livepatch::PreUnpatch<'_>) {}
}

fn main() {
    assert_eq!(r#override::PATCH.name(), "override");
    assert_eq!(r#override::STATE.id(), 7);
    let objects = r#override::PATCH.object_descs();
    assert_eq!(objects.len(), 1);
}
