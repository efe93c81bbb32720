// Lineages the rules of enable allow: raising a version, keeping it, and a patch that is not
// cumulative leaving an older patch's state alone.
use livepatch::prelude::*;

#[livepatch(replace, states = [A { id: 1, version: 1 }, B { id: 2, version: 5 }])]
pub mod v1 {}

#[livepatch(replace, follows = [super::v1], states = [A { id: 1, version: 2 }, B { id: 2, version: 5 }])]
pub mod v2 {}

#[livepatch(follows = [super::v1, super::v2, crate::vendor::nested::inner], states = [C { id: 3, version: 1 }])]
pub mod addon {}

pub mod vendor {
    pub mod nested {
        use livepatch::prelude::*;

        #[livepatch(name = "inner")]
        pub mod inner {}
    }
}

fn main() {
    let rt = Runtime::new();
    rt.enable(&v1::PATCH).unwrap();
    rt.enable(&v2::PATCH).unwrap();
    rt.enable(&addon::PATCH).unwrap();
    assert_eq!(rt.patches().len(), 2);
}
