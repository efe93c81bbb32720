//! The process-wide memory barrier that keeps fences off the call path.
//!
//! A call into a patchable function records the function on the thread's own stack and then
//! reads the function's word. The switcher must see that record before it decides the thread is
//! outside the function. On Linux, `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` makes every
//! running thread of the process execute a full barrier, so the call path needs only a compiler
//! fence. Where `membarrier` is unavailable (another OS, an old kernel, a seccomp filter), the call
//! path issues a `SeqCst` fence instead and the switcher a `SeqCst` fence of its own.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering, compiler_fence, fence};

const UNKNOWN: u8 = 0;
const MEMBARRIER: u8 = 1;
const FENCE: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Decides once how barriers are made. Runs before any thread records its first frame.
pub(crate) fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mode = if register_membarrier() {
            MEMBARRIER
        } else {
            FENCE
        };
        MODE.store(mode, Ordering::SeqCst);
    });
}

/// Whether the process-wide barrier is `membarrier` (otherwise calls pay a fence).
pub fn uses_membarrier() -> bool {
    init();
    MODE.load(Ordering::Relaxed) == MEMBARRIER
}

/// The call path's half: orders the stack record before the read of the function word.
/// `fence_on_call` is the calling thread's copy of "membarrier is not available" (see
/// `thread::Record`), read from the thread's own record rather than a global.
#[inline(always)]
pub(crate) fn light(fence_on_call: &AtomicBool) {
    if fence_on_call.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// The switcher's half: after it, every thread's stores that preceded its last `light()` are
/// visible, or that thread's next reads see the switcher's earlier stores.
pub(crate) fn heavy() {
    fence(Ordering::SeqCst);
    if MODE.load(Ordering::Relaxed) == MEMBARRIER && !membarrier_expedited() {
        // The kernel refused after registration succeeded; nothing sensible is left but to stop
        // relying on it. Threads now fence on every call.
        MODE.store(FENCE, Ordering::SeqCst);
        super::thread::fence_on_every_call();
        fence(Ordering::SeqCst);
    }
    fence(Ordering::SeqCst);
}

#[cfg(all(target_os = "linux", not(miri)))]
fn register_membarrier() -> bool {
    const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
    // SAFETY: `membarrier` takes two integers and a cpu id, touches no memory of ours, and
    // reports failure through its return value.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
    if supported < 0 || supported & i64::from(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 {
        return false;
    }
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            0,
            0,
        ) == 0
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
fn membarrier_expedited() -> bool {
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    // SAFETY: see `register_membarrier`.
    unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0 }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn register_membarrier() -> bool {
    false
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn membarrier_expedited() -> bool {
    false
}
