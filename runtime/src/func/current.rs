//! The current thread's record, reached on the call path without a function call.
//!
//! A `thread_local!` of a shared library is reached through the dynamic linker's
//! `__tls_get_addr` (or a TLS descriptor's resolver): a call on every patchable call, which is
//! most of its cost once the program's code lives in a `dylib`, as patch libraries require.
//! Executables reach their own thread-locals at a fixed offset from the thread pointer instead.
//!
//! On x86-64 Linux this module keeps one pointer-sized word in the runtime's thread-local
//! storage, declared for the *initial-exec* model: the code that computes its offset uses a
//! `GOTTPOFF` relocation, which makes the linker mark the module `STATIC_TLS`. The dynamic
//! linker then places the module's thread-local block at one offset from the thread pointer,
//! the same in every thread (or refuses to load the module), so the offset is read once and
//! kept in a plain static that code inlined into other modules reads. Elsewhere, and under
//! Miri, the word is an ordinary `thread_local!`.
//!
//! The word holds a pointer to the thread's record, or null. [`super::thread`] sets it when it
//! registers the thread and clears it before the record is released.

pub(crate) use imp::{get, set};

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
mod imp {
    use std::arch::{asm, global_asm};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::thread::Record;

    // The word: eight zeroed bytes of thread-local storage in every thread. Hidden, so that a
    // second copy of the runtime in another module keeps its own word.
    global_asm!(
        ".pushsection .tbss.__livepatch_current_record,\"awT\",@nobits",
        ".globl __livepatch_current_record",
        ".hidden __livepatch_current_record",
        ".type __livepatch_current_record,@tls_object",
        ".size __livepatch_current_record,8",
        ".p2align 3",
        "__livepatch_current_record:",
        ".zero 8",
        ".popsection",
    );

    /// The word's offset from the thread pointer, once a thread has read it; 0 before (the
    /// offsets of initial-exec variables are negative on x86-64, never 0).
    static OFFSET: AtomicUsize = AtomicUsize::new(0);

    /// The word's offset from the thread pointer, read from the GOT entry the dynamic linker
    /// filled when it placed the module's thread-local block.
    #[cold]
    #[inline(never)]
    fn offset() -> usize {
        let offset: usize;
        // SAFETY: reads the GOT entry of the word's `GOTTPOFF` relocation, which the linker
        // creates and the dynamic linker fills before any code of the module runs. No memory
        // is written.
        unsafe {
            asm!(
                "mov {offset}, qword ptr [rip + __livepatch_current_record@GOTTPOFF]",
                offset = out(reg) offset,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        OFFSET.store(offset, Ordering::Relaxed);
        offset
    }

    /// The current thread's record, or null when it has none (yet, or any more).
    #[inline]
    pub(crate) fn get() -> *const Record {
        let offset = OFFSET.load(Ordering::Relaxed);
        if offset == 0 {
            return std::ptr::null();
        }
        let word: usize;
        // SAFETY: `offset` was read from the word's GOT entry. The module is `STATIC_TLS`, so
        // the word lies at this offset from the thread pointer in every thread of the process,
        // for the thread's whole life, and only this thread accesses its own word.
        unsafe {
            asm!(
                "mov {word}, qword ptr fs:[{offset}]",
                offset = in(reg) offset,
                word = lateout(reg) word,
                options(nostack, readonly, preserves_flags),
            );
        }
        std::ptr::with_exposed_provenance(word)
    }

    /// Sets the current thread's record.
    pub(crate) fn set(record: *const Record) {
        let offset = match OFFSET.load(Ordering::Relaxed) {
            0 => offset(),
            known => known,
        };
        let word = record.expose_provenance();
        // SAFETY: as in `get`; this writes the current thread's own word, which nothing else
        // in the thread holds a reference to.
        unsafe {
            asm!(
                "mov qword ptr fs:[{offset}], {word}",
                offset = in(reg) offset,
                word = in(reg) word,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
mod imp {
    use std::cell::Cell;

    use super::super::thread::Record;

    thread_local! {
        // No destructor and a constant initial value: the word stays readable while the
        // thread is torn down.
        static CURRENT: Cell<*const Record> = const { Cell::new(std::ptr::null()) };
    }

    /// The current thread's record, or null when it has none (yet, or any more).
    #[inline]
    pub(crate) fn get() -> *const Record {
        CURRENT.get()
    }

    /// Sets the current thread's record.
    pub(crate) fn set(record: *const Record) {
        CURRENT.set(record);
    }
}
