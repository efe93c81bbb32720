use livepatch::prelude::*;

pub mod app {
    /// The program's name for its network object.
    pub const NET: &str = "net";
}

#[livepatch()]
pub mod fix {
    use super::*;

    #[post_patch(object = app::NTE)]
    fn apply(_cx: &mut PostPatch<'_>) {}
}

fn main() {}
