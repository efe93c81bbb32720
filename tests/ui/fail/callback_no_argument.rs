use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    #[pre_unpatch]
    fn stop() {
        
    }
}

fn main() {}
