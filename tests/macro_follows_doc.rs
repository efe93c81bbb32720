//! The comparison a patch's documentation gives against each patch it follows, through the
//! pieces the compiler runs: the hidden macro `#[livepatch]` leaves in the followed module, which
//! hands that patch's summary and the follower's to `follows_doc!`, whose text is a string
//! constant here (rustdoc puts the same text in the follower's page).

use livepatch::prelude::*;

pub mod app {
    #[livepatch::patchable]
    pub fn greet(name: &str) -> usize {
        name.len()
    }

    #[livepatch::patchable]
    pub fn log(line: &str) -> usize {
        line.len()
    }
}

#[livepatch(states = [
    LOGLEVEL { id: 1, version: 1 },
    VERBOSE { id: 3, version: 1 },
])]
pub mod fix_v1 {
    #[replaces(crate::app::log)]
    fn log(line: &str) -> usize {
        line.len() + 1
    }
}

/// The summary `#[livepatch]` writes for a cumulative `fix_v2` that raises `LOGLEVEL` to 2, adds
/// `RATELIMIT` (id 2), keeps `VERBOSE`, and replaces `crate::app::greet` only.
const AGAINST_V1_CUMULATIVE: &str = fix_v1::__livepatch_follows! {
    "fix_v2" true [("LOGLEVEL", 1u64, 2u32), ("RATELIMIT", 2u64, 1u32), ("VERBOSE", 3u64, 1u32)]
    ["crate::app::greet"]
};

/// The same, not cumulative, declaring `RATELIMIT` only and replacing `crate::app::log` too.
const AGAINST_V1_STACKED: &str = fix_v1::__livepatch_follows! {
    "extra" false [("RATELIMIT", 2u64, 1u32)] ["crate::app::greet", "crate::app::log"]
};

#[test]
fn a_cumulative_follower_lists_each_state_and_what_goes_back_to_the_original() {
    assert_eq!(
        AGAINST_V1_CUMULATIVE,
        "\n\
         - `LOGLEVEL` (id 1): version 1 → 2\n\
         - `RATELIMIT` (id 2): new, version 1\n\
         - `VERBOSE` (id 3): version 1, unchanged\n\
         - drops no state\n\
         - replaces `crate::app::greet` (new)\n\
         - gives `crate::app::log` back its original code (`fix_v1` replaced it)\n"
    );
}

#[test]
fn a_stacked_follower_leaves_the_other_states_to_the_patch_it_follows() {
    assert_eq!(
        AGAINST_V1_STACKED,
        "\n\
         - `RATELIMIT` (id 2): new, version 1\n\
         - leaves `LOGLEVEL` (id 1, version 1), `VERBOSE` (id 3, version 1) to `fix_v1`\n\
         - replaces `crate::app::greet` (new)\n\
         - replaces `crate::app::log` (as `fix_v1` does)\n"
    );
}

/// A real follower compiles against the same macro (its doc attribute is expanded by rustdoc).
#[livepatch(
    replace,
    follows = [super::fix_v1],
    states = [
        LOGLEVEL { id: 1, version: 2 },
        RATELIMIT { id: 2, version: 1 },
        VERBOSE { id: 3, version: 1 },
    ],
)]
pub mod fix_v2 {
    #[replaces(crate::app::greet)]
    fn greet(name: &str) -> usize {
        name.len() + 1
    }
}

#[test]
fn the_follower_enables_after_the_patch_it_follows() {
    let runtime = Runtime::new();
    runtime.enable(&fix_v1::PATCH).expect("fix_v1 enables");
    runtime
        .enable(&fix_v2::PATCH)
        .expect("fix_v2 follows fix_v1");
    runtime
        .wait_transition(std::time::Duration::from_secs(5))
        .expect("the transition completes");
    assert_eq!(app::greet("ab"), 3);
    assert_eq!(app::log("ab"), 2);
}
