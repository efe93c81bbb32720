//! Expansion snapshots: three representative patches in `tests/expand/*.rs`, each expanded by the
//! macro and printed, compared with the reviewed expansion kept beside it in `*.expanded.rs`.
//! After an intended change of the generated code, run with `LIVEPATCH_BLESS=1` to rewrite the
//! expansions, then review the diff.

use std::path::Path;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Item, Meta};

/// Expands every `#[livepatch(...)]` module of a source file, as the compiler would.
fn expand_source(source: &str) -> String {
    let file = syn::parse_file(source).expect("the snapshot input parses");
    let mut out = TokenStream::new();
    for item in file.items {
        let Item::Mod(mut module) = item else {
            out.extend(item.into_token_stream());
            continue;
        };
        let position = module
            .attrs
            .iter()
            .position(|a| a.path().is_ident("livepatch"));
        let Some(position) = position else {
            out.extend(module.into_token_stream());
            continue;
        };
        let attr = module.attrs.remove(position);
        let args = match attr.meta {
            Meta::List(list) => list.tokens,
            _ => TokenStream::new(),
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
