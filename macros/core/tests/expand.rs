//! Expansion snapshots: representative patches and patchable functions in `tests/expand/*.rs`,
//! each expanded by the macros and printed, compared with the reviewed expansion kept beside it in
//! `*.expanded.rs`.
//! After an intended change of the generated code, run with `LIVEPATCH_BLESS=1` to rewrite the
//! expansions, then review the diff.

use std::path::Path;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Item, Meta};

/// Takes the `#[name(...)]` attribute off `attrs`, returning its arguments.
fn take_attr(attrs: &mut Vec<syn::Attribute>, name: &str) -> Option<TokenStream> {
    let position = attrs.iter().position(|a| a.path().is_ident(name))?;
    Some(match attrs.remove(position).meta {
        Meta::List(list) => list.tokens,
        _ => TokenStream::new(),
    })
}

/// Expands every `#[livepatch(...)]` module and `#[patchable]` function or impl block of a source
/// file, as the compiler would.
fn expand_source(source: &str) -> String {
    let file = syn::parse_file(source).expect("the snapshot input parses");
    let mut out = TokenStream::new();
    for item in file.items {
        let mut item = item;
        let patchable = match &mut item {
            Item::Fn(function) => take_attr(&mut function.attrs, "patchable"),
            Item::Impl(block) => take_attr(&mut block.attrs, "patchable"),
            _ => None,
        };
        if let Some(args) = patchable {
            out.extend(livepatch_macros_core::patchable(
                args,
                item.into_token_stream(),
            ));
            continue;
        }
        let Item::Mod(mut module) = item else {
            out.extend(item.into_token_stream());
            continue;
        };
        let Some(args) = take_attr(&mut module.attrs, "livepatch") else {
            out.extend(module.into_token_stream());
            continue;
        };
        out.extend(livepatch_macros_core::livepatch(
            args,
            module.into_token_stream(),
        ));
    }
    let expanded: syn::File = syn::parse2(out).expect("the expansion parses as a file");
    prettyplease::unparse(&expanded)
}

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let input = std::fs::read_to_string(dir.join(format!("{name}.rs"))).unwrap();
    let actual = expand_source(&input);
    let expected_path = dir.join(format!("{name}.expanded.rs"));
    if std::env::var_os("LIVEPATCH_BLESS").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert!(
        actual == expected,
        "the expansion of tests/expand/{name}.rs changed; if intended, rerun with \
         LIVEPATCH_BLESS=1 and review the diff\n--- actual ---\n{actual}"
    );
}

#[test]
fn fix_loglevel() {
    check("fix_loglevel");
}

#[test]
fn minimal() {
    check("minimal");
}

#[test]
fn lineage() {
    check("lineage");
}

#[test]
fn functions() {
    check("functions");
}
