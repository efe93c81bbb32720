//! The kernel's system-state selftest (`test-state.sh`) ported to the descriptor API: the same
//! three patches (state id 1; versions 1, 2 and 2; all cumulative), the same four scenarios, and
//! the kernel's expected log, line for line.

mod common;

use common::assert_log;
use common::selftest::{
    self, CONSOLE_LOGLEVEL_DEFAULT, CONSOLE_LOGLEVEL_STATE_CHANGE, SelfTest, allocations,
    console_loglevel,
};

/// Runs one scenario on a fresh runtime and compares its log with the kernel's expected one;
/// afterwards the original log level is back and the one allocation was freed exactly once.
fn check(scenario: fn(&SelfTest), expected: &str) {
    let t = SelfTest::new();
    t.run(scenario);
    assert_log(&t.log.lines(), expected);
    assert_eq!(console_loglevel(), CONSOLE_LOGLEVEL_DEFAULT);
    assert_eq!(allocations(), (1, 1));
}

#[test]
fn system_state_modification() {
    check(
        selftest::system_state_modification,
        "
        % modprobe test_klp_state
        livepatch: enabling patch 'test_klp_state'
        livepatch: 'test_klp_state': initializing patching transition
        test_klp_state: pre_patch_callback: vmlinux
        test_klp_state: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state': starting patching transition
        livepatch: 'test_klp_state': completing patching transition
        test_klp_state: post_patch_callback: vmlinux
        test_klp_state: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state': patching complete
        % echo 0 > /sys/kernel/livepatch/test_klp_state/enabled
        livepatch: 'test_klp_state': initializing unpatching transition
        test_klp_state: pre_unpatch_callback: vmlinux
        test_klp_state: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state': starting unpatching transition
        livepatch: 'test_klp_state': completing unpatching transition
        test_klp_state: post_unpatch_callback: vmlinux
        test_klp_state: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state': unpatching complete
        % rmmod test_klp_state
        ",
    );
}

#[test]
fn taking_over_system_state_modification() {
    check(
        selftest::taking_over,
        "
        % modprobe test_klp_state
        livepatch: enabling patch 'test_klp_state'
        livepatch: 'test_klp_state': initializing patching transition
        test_klp_state: pre_patch_callback: vmlinux
        test_klp_state: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state': starting patching transition
        livepatch: 'test_klp_state': completing patching transition
        test_klp_state: post_patch_callback: vmlinux
        test_klp_state: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state': patching complete
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: taking over the console_loglevel change
        livepatch: 'test_klp_state2': patching complete
        % rmmod test_klp_state
        % echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
        livepatch: 'test_klp_state2': initializing unpatching transition
        test_klp_state2: pre_unpatch_callback: vmlinux
        test_klp_state2: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state2': starting unpatching transition
        livepatch: 'test_klp_state2': completing unpatching transition
        test_klp_state2: post_unpatch_callback: vmlinux
        test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state2': unpatching complete
        % rmmod test_klp_state2
        ",
    );
}

#[test]
fn compatible_cumulative_livepatches() {
    check(
        selftest::compatible_cumulative,
        "
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state2': patching complete
        % modprobe test_klp_state3
        livepatch: enabling patch 'test_klp_state3'
        livepatch: 'test_klp_state3': initializing patching transition
        test_klp_state3: pre_patch_callback: vmlinux
        test_klp_state3: allocate_loglevel_state: space to store console_loglevel already allocated
        livepatch: 'test_klp_state3': starting patching transition
        livepatch: 'test_klp_state3': completing patching transition
        test_klp_state3: post_patch_callback: vmlinux
        test_klp_state3: fix_console_loglevel: taking over the console_loglevel change
        livepatch: 'test_klp_state3': patching complete
        % rmmod test_klp_state2
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: taking over the console_loglevel change
        livepatch: 'test_klp_state2': patching complete
        % echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
        livepatch: 'test_klp_state2': initializing unpatching transition
        test_klp_state2: pre_unpatch_callback: vmlinux
        test_klp_state2: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state2': starting unpatching transition
        livepatch: 'test_klp_state2': completing unpatching transition
        test_klp_state2: post_unpatch_callback: vmlinux
        test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state2': unpatching complete
        % rmmod test_klp_state2
        % rmmod test_klp_state3
        ",
    );
}

#[test]
fn incompatible_cumulative_livepatches() {
    check(
        selftest::incompatible_cumulative,
        "
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state2': patching complete
        % modprobe test_klp_state
        livepatch: Livepatch patch (test_klp_state) is not compatible with the already installed livepatches.
        modprobe: ERROR: could not insert 'test_klp_state': Invalid argument
        % echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
        livepatch: 'test_klp_state2': initializing unpatching transition
        test_klp_state2: pre_unpatch_callback: vmlinux
        test_klp_state2: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state2': starting unpatching transition
        livepatch: 'test_klp_state2': completing unpatching transition
        test_klp_state2: post_unpatch_callback: vmlinux
        test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state2': unpatching complete
        % rmmod test_klp_state2
        ",
    );
}

#[test]
fn the_state_change_is_in_effect_while_a_patch_is_enabled_and_moves_on_replace() {
    let t = SelfTest::new();
    t.load_lp(&selftest::klp_state::PATCH);
    assert_eq!(console_loglevel(), CONSOLE_LOGLEVEL_STATE_CHANGE);
    t.load_lp(&selftest::klp_state2::PATCH);
    assert_eq!(console_loglevel(), CONSOLE_LOGLEVEL_STATE_CHANGE);
    // The replaced patch left the list; its data now belongs to the new one.
    let patches = t.rt.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].name, "test_klp_state2");
    assert!(patches[0].states[0].has_data);
    assert_eq!(allocations(), (1, 0));
    t.disable_lp("test_klp_state2");
    assert_eq!(console_loglevel(), CONSOLE_LOGLEVEL_DEFAULT);
    assert_eq!(allocations(), (1, 1));
}
