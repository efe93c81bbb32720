//! Procedural macros of `livepatch`. Use them through the `livepatch` facade crate, which
//! documents them: `livepatch::livepatch` and the callback attributes.

use proc_macro::TokenStream;

/// Turns an inline module into a live patch. Documented in the `livepatch` crate.
#[proc_macro_attribute]
pub fn livepatch(args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::livepatch(args.into(), item.into()).into()
}

/// Marks a `pre_patch` callback inside a `#[livepatch]` module. Documented in the `livepatch`
/// crate.
#[proc_macro_attribute]
pub fn pre_patch(_args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::callback_outside_patch("pre_patch", item.into()).into()
}

/// Marks a `post_patch` callback inside a `#[livepatch]` module. Documented in the `livepatch`
/// crate.
#[proc_macro_attribute]
pub fn post_patch(_args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::callback_outside_patch("post_patch", item.into()).into()
}

/// Marks a `pre_unpatch` callback inside a `#[livepatch]` module. Documented in the `livepatch`
/// crate.
#[proc_macro_attribute]
pub fn pre_unpatch(_args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::callback_outside_patch("pre_unpatch", item.into()).into()
}

/// Marks a `post_unpatch` callback inside a `#[livepatch]` module. Documented in the `livepatch`
/// crate.
#[proc_macro_attribute]
pub fn post_unpatch(_args: TokenStream, item: TokenStream) -> TokenStream {
    livepatch_macros_core::callback_outside_patch("post_unpatch", item.into()).into()
}
