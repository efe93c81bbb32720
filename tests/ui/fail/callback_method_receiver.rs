use livepatch::prelude::*;

#[livepatch()]
pub mod fix {
    #[post_patch]
    fn apply(self) {
        
    }
}

fn main() {}
