use livepatch::prelude::*;

#[livepatch(states = [LOGLEVEL { id: 1, version: 1, data: i32 }])]
pub mod fix {
    use super::*;

    #[pre_unpatch]
    fn stop(cx: &mut PreUnpatch<'_>) {
        let _ = cx.take_over(LOGLEVEL);
    }
}

fn main() {}
