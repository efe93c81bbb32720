//! The macro never panics: truncated, shuffled and mutated versions of valid patches go through
//! the whole pipeline (parse, validate, expand), and each gives either an error or a complete
//! expansion, always as tokens that parse as Rust items.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::{Group, TokenStream, TokenTree};
use quote::quote;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The valid patches the corpus is made from: (attribute arguments, module).
fn seeds() -> Vec<(TokenStream, TokenStream)> {
    vec![
        (
            quote! {
                name = "fix_loglevel",
                replace,
                follows = [super::older, crate::other::patch],
                states = [
                    /// The console log level.
                    CONSOLE_LOGLEVEL { id: 1, version: 2, data: SavedLoglevel },
                    TABLE { data: std::sync::Mutex<Vec<u8>>, version: 0, id: 0x10 },
                ],
            },
            quote! {
                /// Docs.
                pub mod fix_loglevel {
                    use super::*;

                    #[pre_patch]
                    fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> { Ok(()) }

                    #[post_patch]
                    fn apply(cx: &mut PostPatch<'_>) {}

                    #[livepatch::pre_unpatch(object = "net")]
                    fn stop<'a>(cx: &'a mut PreUnpatch<'_>) {}

                    #[post_unpatch(object = "net",)]
                    fn cleanup(cx: &mut PostUnpatch<'_>) -> () {}

                    struct Other;
                }
            },
        ),
        (
            quote!(),
            quote!(
                mod empty {}
            ),
        ),
        (
            quote!(states = [S { id: 3, version: 4 }]),
            quote!(
                pub(crate) mod r#type {
                    #[post_patch]
                    fn f(cx: &mut PostPatch) {}
                }
            ),
        ),
    ]
}

/// Runs the pipeline; panics (failing the test) if it panicked, and checks what it returned.
fn run(args: &TokenStream, item: &TokenStream, errors: &mut usize, expansions: &mut usize) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        livepatch_macros_core::livepatch(args.clone(), item.clone())
    }));
    let output = match result {
        Ok(output) => output,
        Err(_) => panic!("the macro panicked on `#[livepatch({args})] {item}`"),
    };
    let text = output.to_string();
    if text.contains("compile_error") {
        *errors += 1;
    } else {
        assert!(
            text.contains("pub static PATCH"),
            "no error and no descriptor for `#[livepatch({args})] {item}`:\n{text}"
        );
        *expansions += 1;
    }
    // Whatever the input, the output is well-formed Rust: the compiler reports our error, not
    // a syntax error of the generated code.
    if syn::parse2::<syn::File>(output.clone()).is_err() {
        // The item itself may be malformed (it is handed back as it was); the errors must be.
        assert!(text.contains("compile_error"), "malformed output:\n{text}");
    }
}

/// Every prefix of the token trees, at the top level and inside each group.
fn truncations(stream: &TokenStream) -> Vec<TokenStream> {
    let trees: Vec<TokenTree> = stream.clone().into_iter().collect();
    let mut out = Vec::new();
    for len in 0..trees.len() {
        out.push(trees[..len].iter().cloned().collect());
    }
    for (i, tree) in trees.iter().enumerate() {
        if let TokenTree::Group(group) = tree {
            for inner in truncations(&group.stream()) {
                let mut changed = trees.clone();
                let mut new = Group::new(group.delimiter(), inner);
                new.set_span(group.span());
                changed[i] = TokenTree::Group(new);
                out.push(changed.into_iter().collect());
            }
        }
    }
    out
}

/// A random change: swap two trees, drop one, repeat one, or change inside a group.
fn mutate(stream: &TokenStream, rng: &mut Rng) -> TokenStream {
    let mut trees: Vec<TokenTree> = stream.clone().into_iter().collect();
    if trees.is_empty() {
        return stream.clone();
    }
    let i = rng.below(trees.len());
    match rng.below(4) {
        0 => {
            let j = rng.below(trees.len());
            trees.swap(i, j);
        }
        1 => {
            trees.remove(i);
        }
        2 => {
            let tree = trees[i].clone();
            trees.insert(rng.below(trees.len() + 1), tree);
        }
        _ => {
            if let TokenTree::Group(group) = &trees[i] {
                let mut new = Group::new(group.delimiter(), mutate(&group.stream(), rng));
                new.set_span(group.span());
                trees[i] = TokenTree::Group(new);
            } else {
                trees.reverse();
            }
        }
    }
    trees.into_iter().collect()
}

#[test]
fn truncated_inputs_give_errors_not_panics() {
    let (mut errors, mut expansions) = (0, 0);
    for (args, item) in seeds() {
        for cut in truncations(&args) {
            run(&cut, &item, &mut errors, &mut expansions);
        }
        for cut in truncations(&item) {
            run(&args, &cut, &mut errors, &mut expansions);
        }
    }
    // Most cuts break the patch; a cut at a comma, between the module's items or inside a
    // function's body leaves one that the macro accepts (the compiler checks the bodies). Both
    // outcomes must occur, or the corpus does not exercise both paths.
    assert!(
        errors > expansions && expansions > 0,
        "{errors} errors, {expansions} expansions"
    );
}

#[test]
fn shuffled_inputs_give_errors_not_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut errors, mut expansions) = (0, 0);
    for (args, item) in seeds() {
        for _ in 0..2000 {
            let mut args = args.clone();
            let mut item = item.clone();
            for _ in 0..=rng.below(3) {
                if rng.below(2) == 0 {
                    args = mutate(&args, &mut rng);
                } else {
                    item = mutate(&item, &mut rng);
                }
            }
            run(&args, &item, &mut errors, &mut expansions);
        }
    }
    // Most mutations break the patch, some keep it valid: both paths are exercised.
    assert!(
        errors > expansions && expansions > 0,
        "{errors} errors, {expansions} expansions"
    );
}

#[test]
fn token_soup_gives_errors_not_panics() {
    let soup: Vec<TokenStream> = vec![
        quote!(= = = ,,,),
        quote!(states = [[[]]]),
        quote!(
            states = [A {
                id: 18446744073709551616,
                version: 1
            }]
        ),
        quote!(states = [A { id: 1, version: 1, data: }]),
        quote!(states = [A { id: 1, version: 1, data: dyn }]),
        quote!(name = "a" name),
        quote!(follows = [1, "x", ::]),
        quote!(replace replace replace),
        quote!(states = [/// doc only
        ]),
        quote!(
            #[doc = 1]
            states = []
        ),
    ];
    let (mut errors, mut expansions) = (0, 0);
    for args in &soup {
        run(
            args,
            &quote!(
                mod m {}
            ),
            &mut errors,
            &mut expansions,
        );
        run(&quote!(), args, &mut errors, &mut expansions);
    }
    assert_eq!(expansions, 0);
    assert_eq!(errors, 2 * soup.len());
}

/// Every `#[livepatch]` module of the compile-time cases of `tests/ui`, each then cut at every
/// token: the pass cases expand without an error, and nothing panics.
#[test]
fn ui_cases_and_their_truncations_never_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui");
    let (mut errors, mut expansions) = (0, 0);
    let mut patches = 0;
    for dir in ["pass", "fail"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        for path in files {
            let source = std::fs::read_to_string(&path).unwrap();
            let file = syn::parse_file(&source).unwrap();
            for item in file.items {
                let syn::Item::Mod(mut module) = item else {
                    continue;
                };
                let Some(position) = module.attrs.iter().position(|a| {
                    a.path()
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "livepatch")
                }) else {
                    continue;
                };
                let attr = module.attrs.remove(position);
                let args = match attr.meta {
                    syn::Meta::List(list) => list.tokens,
                    _ => TokenStream::new(),
                };
                let item = quote!(#module);
                patches += 1;
                if dir == "pass" {
                    let out = livepatch_macros_core::livepatch(args.clone(), item.clone());
                    assert!(
                        !out.to_string().contains("compile_error"),
                        "{}: {out}",
                        path.display()
                    );
                }
                for cut in truncations(&args) {
                    run(&cut, &item, &mut errors, &mut expansions);
                }
            }
        }
    }
    // A guard against reading no case at all; the exact number grows with the cases.
    assert!(patches > 60, "{patches} patches read");
}

/// A callback attribute on its own always reports that it stands outside a patch, whatever the
/// item is, and gives the item back.
#[test]
fn callback_attributes_outside_a_patch_give_an_error_not_a_panic() {
    let item = quote! {
        fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> { Ok(()) }
    };
    let mut cuts = truncations(&item);
    cuts.push(quote!(
        struct S;
    ));
    for cut in &cuts {
        for kind in ["pre_patch", "post_patch", "pre_unpatch", "post_unpatch"] {
            let out = catch_unwind(AssertUnwindSafe(|| {
                livepatch_macros_core::callback_outside_patch(kind, cut.clone())
            }))
            .unwrap_or_else(|_| panic!("panicked on `#[{kind}] {cut}`"));
            let text = out.to_string();
            assert!(
                text.starts_with(&format!(
                    ":: core :: compile_error ! {{ \"`#[{kind}]` marks a callback of a live patch"
                )),
                "{text}"
            );
        }
    }
}

/// `#[patchable]` never panics: every cut of a function and of an impl block, and of its
/// arguments, gives either an error or an expansion, always as tokens that parse as Rust items
/// when the item did.
#[test]
fn patchable_truncations_give_errors_not_panics() {
    let seeds = [
        (
            quote!(object = "net", crate = ::lp),
            quote! {
                #[inline]
                pub(crate) unsafe fn peek<'a>((base, n): (&'a [u8], usize), mut m: usize) -> &'a u8 {
                    m += n;
                    &base[m]
                }
            },
        ),
        (
            quote!(),
            quote! {
                impl Conn {
                    pub const UNIT: u32 = 1;
                    pub fn send(&mut self, buf: &[u8]) -> &Self { self }
                    fn close(mut self: Box<Self>) -> Self { *self }
                }
            },
        ),
    ];
    let (mut errors, mut expansions) = (0, 0);
    for (args, item) in &seeds {
        let cuts = truncations(args)
            .into_iter()
            .map(|cut| (cut, item.clone()))
            .chain(truncations(item).into_iter().map(|cut| (args.clone(), cut)));
        for (args, item) in cuts {
            let output = catch_unwind(AssertUnwindSafe(|| {
                livepatch_macros_core::patchable(args.clone(), item.clone())
            }))
            .unwrap_or_else(|_| panic!("panicked on `#[patchable({args})] {item}`"));
            let text = output.to_string();
            if text.contains("compile_error") {
                errors += 1;
            } else {
                assert!(syn::parse2::<syn::File>(output).is_ok(), "{text}");
                expansions += 1;
            }
        }
    }
    // Cuts inside a body, between the arguments, or after a whole method leave items the macro
    // accepts; the others are refused. Both paths are exercised.
    assert!(
        errors > expansions && expansions > 0,
        "{errors} errors, {expansions} expansions"
    );
}
