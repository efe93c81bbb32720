//! The compile-time lineage check behind `follows = [...]`, run here at run time to read its
//! messages: SPEC §2's compatibility rules, applied to a patch enabled after the one it follows.
//! (`tests/ui/fail/follows_*.rs` show the same messages as compiler errors.)

use livepatch::__private::{Lineage, LineageState, follows_verdict};

const fn state(name: &'static str, id: u64, version: u32) -> LineageState {
    LineageState { name, id, version }
}

const fn lineage(name: &'static str, replace: bool, states: &'static [LineageState]) -> Lineage {
    Lineage {
        name,
        replace,
        states,
    }
}

/// The check's message, or `None` if `new` may follow `old`.
fn verdict(new: Lineage, old: Lineage) -> Option<String> {
    let verdict = follows_verdict(&new, &old);
    (!verdict.is_ok()).then(|| verdict.message().to_owned())
}

static V1: [LineageState; 2] = [state("LOGLEVEL", 1, 1), state("CONSOLE", 2, 3)];
const OLD: Lineage = lineage("fix_v1", true, &V1);

#[test]
fn keeping_or_raising_every_version_is_allowed() {
    static V2: [LineageState; 3] = [
        state("LOGLEVEL", 1, 1),
        state("CONSOLE", 2, 4),
        state("NEW", 3, 0),
    ];
    let new = lineage("fix_v2", true, &V2);
    assert_eq!(verdict(new, OLD), None);
}

#[test]
fn a_patch_that_is_not_cumulative_may_leave_states_alone() {
    static ADDON: [LineageState; 1] = [state("OTHER", 9, 1)];
    let new = lineage("addon", false, &ADDON);
    assert_eq!(verdict(new, OLD), None);
}

#[test]
fn a_lowered_version_names_the_state_the_older_patch_and_both_versions() {
    static V2: [LineageState; 2] = [state("LOGLEVEL", 1, 1), state("CONSOLE", 2, 2)];
    let new = lineage("fix_v2", false, &V2);
    assert_eq!(
        verdict(new, OLD).as_deref(),
        Some(
            "`fix_v2` cannot follow `fix_v1`: state `CONSOLE` (id 2) is at version 3 in \
             `fix_v1` and `fix_v2` lowers it to version 2: a newer patch may only keep or raise \
             a state's version"
        )
    );
}

#[test]
fn a_cumulative_patch_may_not_drop_a_state() {
    static V2: [LineageState; 1] = [state("CONSOLE", 2, 3)];
    let new = lineage("fix_v2", true, &V2);
    assert_eq!(
        verdict(new, OLD).as_deref(),
        Some(
            "`fix_v2` cannot follow `fix_v1`: state `LOGLEVEL` (id 1, version 1 in `fix_v1`) is \
             dropped by the cumulative patch `fix_v2`: declare it with version 1 or higher, or \
             remove `replace`"
        )
    );
}

#[test]
fn every_conflict_is_reported() {
    static V2: [LineageState; 1] = [state("CONSOLE_LEVEL", 2, 0)];
    let new = lineage("fix_v2", true, &V2);
    assert_eq!(
        verdict(new, OLD).as_deref(),
        Some(
            "`fix_v2` cannot follow `fix_v1`: state `LOGLEVEL` (id 1, version 1 in `fix_v1`) is \
             dropped by the cumulative patch `fix_v2`: declare it with version 1 or higher, or \
             remove `replace`; state `CONSOLE_LEVEL` (id 2) is at version 3 in `fix_v1` and \
             `fix_v2` lowers it to version 0: a newer patch may only keep or raise a state's \
             version"
        )
    );
}

#[test]
fn a_message_too_long_for_its_buffer_is_cut_at_a_whole_piece() {
    static MANY: [LineageState; 100] = {
        let mut states = [state("A_RATHER_LONG_STATE_NAME_FOR_A_LONG_MESSAGE", 0, 7); 100];
        let mut i = 0;
        while i < 100 {
            states[i].id = i as u64 + 1;
            i += 1;
        }
        states
    };
    let old = lineage("many", false, &MANY);
    let new = lineage("none", true, &[]);
    let message = verdict(new, old).unwrap();
    assert!(message.len() <= 4096, "{} bytes", message.len());
    assert!(message.ends_with(" ..."), "{message}");
    assert!(message.starts_with(
        "`none` cannot follow `many`: state `A_RATHER_LONG_STATE_NAME_FOR_A_LONG_MESSAGE` (id 1, \
         version 7 in `many`)"
    ));
}

#[test]
fn large_numbers_are_written_in_full() {
    static OLD_MAX: [LineageState; 1] = [state("MAX", u64::MAX, u32::MAX)];
    let old = lineage("old", false, &OLD_MAX);
    static NEW_MAX: [LineageState; 1] = [state("MAX", u64::MAX, 0)];
    let new = lineage("new", false, &NEW_MAX);
    assert_eq!(
        verdict(new, old).as_deref(),
        Some(
            "`new` cannot follow `old`: state `MAX` (id 18446744073709551615) is at version \
             4294967295 in `old` and `new` lowers it to version 0: a newer patch may only keep or \
             raise a state's version"
        )
    );
}
