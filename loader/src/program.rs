//! The program's side of a patch library's checks: which build of the program's library is
//! running.

/// One build of a program's library, as `livepatch::program!()` declares it at the library's
/// root: the crate's name and an id drawn anew each time the library is compiled. Any change to
/// the library's sources, to its dependencies, to the compiler or to the flags recompiles it, and
/// so gives it a new id; a patch library records the id of the build it was compiled against.
#[derive(Debug)]
pub struct Program {
    name: &'static str,
    build_id: &'static str,
}

impl Program {
    /// A build of the program `name` with the id `build_id`. Written by `livepatch::program!()`.
    #[doc(hidden)]
    pub const fn new(name: &'static str, build_id: &'static str) -> Program {
        Program { name, build_id }
    }

    /// The name of the program's library crate.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The id of this build.
    pub const fn build_id(&self) -> &'static str {
        self.build_id
    }
}
