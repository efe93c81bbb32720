use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    use super::*;

    #[pre_unpatch]
    fn stop(_cx: &mut PreUnpatch<'_>, _level: i32) {
        
    }
}

fn main() {}
