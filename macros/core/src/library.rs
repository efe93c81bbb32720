//! `livepatch::program!()` and `livepatch::patch_library!`: the two ends of a patch library.
//!
//! `program!()`, at the root of the program's library, declares the build of that library:
//! `LIVEPATCH_PROGRAM`, with the crate's name and an id drawn anew each time the macro is
//! expanded. A crate is expanded again whenever it is compiled again (a change to its sources,
//! its dependencies, the compiler or the flags), so the id names one build exactly.
//!
//! `patch_library!(patch = path, program = path)`, in a patch crate, exports that patch: the
//! manifest section, written at compile time from what the patch holds and the program's build,
//! and the entry static the loader finds once the library is open.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::{Path, Token};

use crate::ctxt::Ctxt;

mod kw {
    syn::custom_keyword!(patch);
    syn::custom_keyword!(program);
}

/// `livepatch::program!()`: the program's build, or an error if it was given arguments.
pub fn program(input: TokenStream) -> TokenStream {
    if let Some(first) = input.into_iter().next() {
        return syn::Error::new(
            first.span(),
            "`livepatch::program!()` takes no arguments: write `livepatch::program!();` at the \
             root of the program's library",
        )
        .into_compile_error();
    }
    let build_id = build_id();
    let doc = format!(
        " This build of the program's library (build `{build_id}`), which patch libraries are \
         checked against: pass `&LIVEPATCH_PROGRAM` to `PatchLibrary::open`."
    );
    quote! {
        #[doc = #doc]
        pub static LIVEPATCH_PROGRAM: ::livepatch::__private::library::Program =
            __LIVEPATCH_PROGRAM;

        /// The same build, as a constant for the manifests of patch libraries.
        #[doc(hidden)]
        pub const __LIVEPATCH_PROGRAM: ::livepatch::__private::library::Program =
            ::livepatch::__private::library::Program::new(::core::module_path!(), #build_id);
    }
}

/// A fresh id: 128 bits from the standard library's random hash keys, the time and the process,
/// in hex.
fn build_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let half = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        hasher.write_u64(count);
        hasher.write_u64(salt);
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(0), half(1))
}

/// The arguments of `patch_library!`.
struct Args {
    patch: Option<Path>,
    program: Option<Path>,
}

/// `livepatch::patch_library!(patch = path, program = path)`: the manifest and the entry of a
/// patch library, or the errors found.
pub fn patch_library(input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let args = parse(input, &mut cx);
    if let Some(error) = cx.into_error() {
        return error.into_compile_error();
    }
    let (Some(patch), Some(program)) = (args.patch, args.program) else {
        return TokenStream::new();
    };
    let private = quote!(::livepatch::__private::library);
    // What the macro appends to the user's paths carries their spans, so that a path that names
    // no patch, or no program, is reported at the path.
    let at = |path: &Path, item: &str| {
        let span = path
            .segments
            .last()
            .map_or_else(Span::call_site, |s| s.ident.span());
        let item = syn::Ident::new(item, span);
        quote_spanned!(span=> #path::#item)
    };
    let (contents, descriptor) = (at(&patch, "__LIVEPATCH_CONTENTS"), at(&patch, "PATCH"));
    let (program_const, program_static) = (
        at(&program, "__LIVEPATCH_PROGRAM"),
        at(&program, "LIVEPATCH_PROGRAM"),
    );
    quote! {
        const _: () = {
            #[unsafe(link_section = ".livepatch.manifest")]
            #[used]
            static __LIVEPATCH_MANIFEST: #private::ManifestBytes =
                #private::manifest(&#program_const, &#contents);

            /// The entry the loader reads once the library is open.
            #[unsafe(no_mangle)]
            static LIVEPATCH_LIBRARY_ENTRY: #private::LibraryEntry = #private::LibraryEntry {
                format: #private::MANIFEST_FORMAT,
                manifest: &__LIVEPATCH_MANIFEST,
                runtime: &#private::RUNTIME_IDENTITY,
                program: &#program_static,
                patch: &#descriptor,
            };
        };
    }
}

fn parse(input: TokenStream, cx: &mut Ctxt) -> Args {
    let mut args = Args {
        patch: None,
        program: None,
    };
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            let (key, slot, what) = if lookahead.peek(kw::patch) {
                let key: kw::patch = input.parse()?;
                (key.span, &mut args.patch, "patch")
            } else if lookahead.peek(kw::program) {
                let key: kw::program = input.parse()?;
                (key.span, &mut args.program, "program")
            } else {
                let error = lookahead.error();
                return Err(crate::suggest::unknown_key(
                    input,
                    error,
                    &["patch", "program"],
                ));
            };
            input.parse::<Token![=]>()?;
            let path: Path = input.parse()?;
            if slot.is_some() {
                cx.error_at(key, format!("`{what}` is given twice: keep one of them"));
            } else {
                *slot = Some(path);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(input) {
        cx.syn_error(error);
        return args;
    }
    let example = "`livepatch::patch_library!(patch = fix_fee, program = app)`";
    if args.patch.is_none() {
        cx.error_at(
            Span::call_site(),
            format!(
                "name the patch this library exports with `patch = ` and the path of its \
                 `#[livepatch]` module: {example}"
            ),
        );
    }
    if args.program.is_none() {
        cx.error_at(
            Span::call_site(),
            format!(
                "name the program this library patches with `program = ` and the program's \
                 library crate, whose root has `livepatch::program!()`: {example}"
            ),
        );
    }
    args
}
