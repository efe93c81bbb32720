//! Procedural macros of `livepatch`: `#[livepatch]` with the callback attributes and
//! `#[replaces]`, and `#[patchable]`. Use them through the `livepatch` facade crate, which
//! documents them with examples; the work is done by `livepatch-macros-core`.

use proc_macro::TokenStream;

// The macros with examples are documented on their re-exports in the facade, where the examples
// run as doctests: this crate's tests cannot build the facade. Rustdoc shows a re-export's
// documentation followed by the item's, so these items have a line of their own only on this
// crate's pages (`doc` is set for the crate rustdoc documents, not for its dependencies).

#[cfg_attr(
    doc,
    doc = "Turns an inline module into a live patch: `#[livepatch::livepatch]`, documented with \
           its arguments and examples in the crate `livepatch`, which re-exports it."
)]
#[proc_macro_attribute]
pub fn livepatch(args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::livepatch(args.into(), item.into()).into()
}

#[cfg_attr(
    doc,
    doc = "Makes a function, or every method of an inherent impl block, patchable: \
           `#[livepatch::patchable]`, documented with its examples in the crate `livepatch`, \
           which re-exports it."
)]
#[proc_macro_attribute]
pub fn patchable(args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::patchable(args.into(), item.into()).into()
}

#[cfg_attr(
    doc,
    doc = "Marks a replacement function of a `#[livepatch]` module: `#[livepatch::replaces]`, \
           documented with its examples in the crate `livepatch`, which re-exports it."
)]
#[proc_macro_attribute]
pub fn replaces(_args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::replaces_outside_patch(item.into()).into()
}

#[cfg_attr(
    doc,
    doc = "Declares the build of a program's library: `livepatch::program!()`, documented with \
           its examples in the crate `livepatch`, which re-exports it."
)]
#[proc_macro]
pub fn program(input: TokenStream) -> TokenStream {
    livepatch_macros_core::program(input.into()).into()
}

/// Exports a patch from a patch library crate (a `cdylib` built against the program's library):
/// `livepatch::patch_library!(patch = fix_fee, program = app);` at the crate's root, where
/// `fix_fee` is a `#[livepatch]` module and `app` the program's library, whose root has
/// `livepatch::program!()`.
///
/// It writes the library's manifest (the patch, its states, the program's build and how the
/// library was built) into the ELF section `.livepatch.manifest`, which the loader reads before
/// it opens the library, and exports the static `LIVEPATCH_LIBRARY_ENTRY` that hands the patch
/// over. One library exports one patch.
#[proc_macro]
pub fn patch_library(input: TokenStream) -> TokenStream {
    livepatch_macros_core::patch_library(input.into()).into()
}

/// The callback attributes: `#[livepatch]` consumes them on the functions of its module, so
/// whenever one of them runs on its own it stands somewhere else, which is an error.
macro_rules! callback_attribute {
    ($name:ident, $context:literal, $returns:literal, $when:literal) => {
        #[doc = concat!("Marks a `", stringify!($name), "` callback of a `#[livepatch]` module: runs ", $when, ".")]
        ///
        #[doc = concat!("Signature: `fn(cx: &mut ", $context, "<'_>)", $returns, "`. Write `#[", stringify!($name), "]` for the program itself or `#[", stringify!($name), "(object = \"name\")]` for a named object, or `object = [\"net\", \"disk\"]` for several.")]
        /// Only meaningful on a function directly inside a `#[livepatch]` module, which consumes
        /// the attribute; anywhere else it is an error.
        #[proc_macro_attribute]
        pub fn $name(_args: TokenStream, item: TokenStream) -> TokenStream {
            livepatch_macros_core::callback_outside_patch(stringify!($name), item.into()).into()
        }
    };
}

callback_attribute!(
    pre_patch,
    "PrePatch",
    " -> Result<(), CallbackError>",
    "before the object is patched; returning an error stops the enable (or the object's load)"
);
callback_attribute!(
    post_patch,
    "PostPatch",
    "",
    "when the object's patching completes"
);
callback_attribute!(
    pre_unpatch,
    "PreUnpatch",
    "",
    "before the object is unpatched"
);
callback_attribute!(
    post_unpatch,
    "PostUnpatch",
    "",
    "when the object's unpatching completes, if its `pre_patch` ran and succeeded"
);

/// The comparison of a patch with a patch it follows, for the follower's documentation: called
/// only by the code `#[livepatch]` generates.
#[doc(hidden)]
#[proc_macro]
pub fn follows_doc(input: TokenStream) -> TokenStream {
    livepatch_macros_core::follows_doc(input.into()).into()
}
