//! Procedural macros of `livepatch`. Use them through the `livepatch` facade crate.
