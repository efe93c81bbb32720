//! The parser, checks and code generator behind the procedural macros of `livepatch`, written
//! over `proc-macro2` tokens so that tests and benchmarks can run them outside the compiler.
//!
//! This is an implementation detail of `livepatch-macros`: use the macros through the `livepatch`
//! crate. The pipeline follows serde_derive and thiserror: [`parse`] builds the typed
//! model of [`ast`], [`validate`] records every mistake it finds in a [`ctxt::Ctxt`] so that all
//! are reported together, and [`expand`] only generates code.

#![warn(missing_docs)]

pub mod ast;
pub mod attr;
pub mod ctxt;
pub mod docs;
pub mod expand;
pub mod follows;
pub mod library;
pub mod parse;
pub mod patchable;
pub mod signature;
pub mod suggest;
pub mod validate;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

/// `#[livepatch(args)] item`: the module with its generated items, or the errors found and the
/// module without its descriptor's contents. Never panics, whatever the tokens.
pub fn livepatch(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let Some(patch) = parse::parse(args, item.clone(), &mut cx) else {
        // Not a module at all: give the item back as it was, beside the error.
        let errors = cx.into_error().map(syn::Error::into_compile_error);
        return quote::quote!(#errors #item);
    };
    validate::validate(&patch, &mut cx);
    match cx.into_error() {
        None => expand::patch(&patch),
        Some(error) => {
            let error = error.into_compile_error();
            let module = expand::fallback(&patch);
            quote::quote!(#error #module)
        }
    }
}

/// `#[pre_patch]` and the other callback attributes, when `#[livepatch]` did not consume them
/// because they are not on a function directly inside a patch module.
pub fn callback_outside_patch(kind: &str, item: TokenStream) -> TokenStream {
    expand::callback_outside_patch(kind, item)
}

/// `#[patchable(args)] item`: the function, or every method of the inherent impl block, made to
/// dispatch through a slot that patches can replace; or the errors found and the item as it was.
/// Never panics, whatever the tokens.
pub fn patchable(args: TokenStream, item: TokenStream) -> TokenStream {
    patchable::patchable(args, item)
}

/// `#[replaces(...)]` when `#[livepatch]` did not consume it, because it is not on a function
/// directly inside a patch module.
pub fn replaces_outside_patch(item: TokenStream) -> TokenStream {
    expand::replaces_outside_patch(item)
}

/// `livepatch::program!()`: the build of the program's library that patch libraries are checked
/// against.
pub fn program(input: TokenStream) -> TokenStream {
    library::program(input)
}

/// `livepatch::patch_library!(patch = path, program = path)`: the manifest and entry of a patch
/// library. Never panics, whatever the tokens.
pub fn patch_library(input: TokenStream) -> TokenStream {
    library::patch_library(input)
}

/// `follows_doc! { ... }`, which only the code `#[livepatch]` generates calls: the comparison of
/// a patch with one it follows, as a string literal for the follower's documentation.
pub fn follows_doc(input: TokenStream) -> TokenStream {
    follows::follows_doc(input)
}
