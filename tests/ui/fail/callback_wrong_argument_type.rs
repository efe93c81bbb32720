use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    #[post_unpatch]
    fn cleanup(_cx: &mut String) {
        
    }
}

fn main() {}
