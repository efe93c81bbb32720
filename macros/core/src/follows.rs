//! The part of a patch's documentation that says what changes against each patch it follows.
//!
//! A patch module's macro sees only the path in `follows = [...]`, not the followed patch. So
//! every patch module carries a hidden `macro_rules!` macro, `__livepatch_follows`, that holds a
//! summary of the patch (its name, `replace`, states and replaced functions) and hands it, with
//! the follower's own summary, to the hidden function-like macro `follows_doc!` of the facade.
//! The follower puts a call of the followed module's macro in one of its own doc attributes,
//! `#[cfg_attr(doc, doc = path::__livepatch_follows! { ... })]`, which rustdoc's build expands
//! to the text of the comparison. The macro is re-exported with `pub(crate) use`, so the
//! comparison is made for followed patches of the same crate: paths that start with `self`,
//! `super` or `crate`, or of one segment. A path into another crate keeps the "Follows" line
//! only.

use std::fmt::Write as _;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, LitBool, LitInt, LitStr, Path, Token, bracketed, parse_quote};

use crate::ast::{Patch, ident_string, is_path_keyword};
use crate::docs;

/// The name of the hidden macro every patch module holds, under which followers reach it.
const INFO_MACRO: &str = "__livepatch_follows";

/// What one patch's comparison needs to know of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The patch's name.
    pub name: String,
    /// Whether it is cumulative.
    pub replace: bool,
    /// Its states: handle name, id, version.
    pub states: Vec<(String, u64, u32)>,
    /// The paths of the functions it replaces, as written in `#[replaces(...)]`.
    pub functions: Vec<String>,
}

impl Summary {
    /// The summary of `patch`, from what parsed.
    pub fn of(patch: &Patch) -> Self {
        Summary {
            name: patch.name(),
            replace: patch.replace.is_some(),
            states: patch
                .states
                .iter()
                .filter_map(|state| {
                    Some((
                        ident_string(&state.name),
                        state.id.as_ref()?.value,
                        state.version.as_ref()?.value,
                    ))
                })
                .collect(),
            functions: patch
                .functions
                .iter()
                .filter_map(|function| Some(docs::path_string(function.target.as_ref()?)))
                .collect(),
        }
    }

    /// The summary as tokens that [`Summary::parse`] reads back:
    /// `"name" false [("STATE", 1, 2)] ["app::f"]`.
    fn to_tokens(&self) -> TokenStream {
        let name = &self.name;
        let replace = self.replace;
        let states = self
            .states
            .iter()
            .map(|(state, id, version)| quote!((#state, #id, #version)));
        let functions = &self.functions;
        quote!(#name #replace [#(#states),*] [#(#functions),*])
    }
}

impl Parse for Summary {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: LitStr = input.parse()?;
        let replace: LitBool = input.parse()?;
        let states;
        bracketed!(states in input);
        let states = Punctuated::<StateEntry, Token![,]>::parse_terminated(&states)?;
        let functions;
        bracketed!(functions in input);
        let functions = Punctuated::<LitStr, Token![,]>::parse_terminated(&functions)?;
        Ok(Summary {
            name: name.value(),
            replace: replace.value,
            states: states
                .into_iter()
                .map(|s| (s.name, s.id, s.version))
                .collect(),
            functions: functions.iter().map(LitStr::value).collect(),
        })
    }
}

/// `("STATE", 1, 2)` in a summary.
struct StateEntry {
    name: String,
    id: u64,
    version: u32,
}

impl Parse for StateEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let content;
        syn::parenthesized!(content in input);
        let name: LitStr = content.parse()?;
        content.parse::<Token![,]>()?;
        let id: LitInt = content.parse()?;
        content.parse::<Token![,]>()?;
        let version: LitInt = content.parse()?;
        Ok(StateEntry {
            name: name.value(),
            id: id.base10_parse()?,
            version: version.base10_parse()?,
        })
    }
}

/// The hidden macro that hands this patch's summary to a follower's comparison.
pub fn info_macro(patch: &Patch, private: &TokenStream) -> TokenStream {
    let summary = Summary::of(patch).to_tokens();
    let local = format_ident!("{}_of_{}", INFO_MACRO, ident_string(&patch.module.ident));
    let exported = format_ident!("{}", INFO_MACRO);
    quote! {
        /// Hands this patch's summary to the documentation of a patch that follows it.
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #local {
            ($($follower:tt)*) => {
                #private::follows_doc! { #summary $($follower)* }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #local as #exported;
    }
}

/// Whether `path` names a patch of this crate for sure, whose macro `pub(crate) use` lets the
/// follower reach.
fn in_this_crate(path: &Path) -> bool {
    path.leading_colon.is_none()
        && (path.segments.len() == 1
            || path
                .segments
                .first()
                .is_some_and(|first| is_path_keyword(&first.ident)))
}

/// The follower's doc attributes, two per followed patch of this crate: the section's heading,
/// with a link to that patch, and the call of that patch's macro with this patch's summary.
///
/// The heading is the follower's own text, so that its link is resolved as the module's other
/// links are (see [`docs::link_target`]); text that a macro defined elsewhere expands to is not
/// resolved there, so the comparison itself has no links.
pub fn doc_attrs(patch: &Patch) -> Vec<Attribute> {
    let ours = Summary::of(patch).to_tokens();
    let exported = format_ident!("{}", INFO_MACRO);
    patch
        .follows
        .iter()
        .filter(|path| in_this_crate(path))
        .flat_map(|path| {
            let last = path
                .segments
                .last()
                .map_or_else(|| docs::path_string(path), |s| ident_string(&s.ident));
            let target = docs::link_target(&patch.module.ident, path);
            let heading = format!("\n## Against [`{last}`]({target})\n");
            [
                parse_quote!(#[doc = #heading]),
                // Only where the text is read: a build that is not rustdoc's neither expands the
                // call nor reports a second error when the path is not a patch.
                parse_quote!(#[cfg_attr(doc, doc = #path::#exported! { #ours })]),
            ]
        })
        .collect()
}

/// `follows_doc! { theirs ours }`: the comparison as a string literal, or a compile error if the
/// tokens are not what [`info_macro`] and [`doc_attrs`] write.
pub fn follows_doc(input: TokenStream) -> TokenStream {
    let parser = |input: ParseStream<'_>| {
        let theirs: Summary = input.parse()?;
        let ours: Summary = input.parse()?;
        Ok((theirs, ours))
    };
    match parser.parse2(input) {
        Ok((theirs, ours)) => {
            let text = comparison(&theirs, &ours);
            quote!(#text)
        }
        Err(error) => error.into_compile_error(),
    }
}

/// The Markdown list that compares `ours` with `theirs`, one line per state and per replaced
/// function of either, under the heading [`doc_attrs`] writes.
pub fn comparison(theirs: &Summary, ours: &Summary) -> String {
    let them = &theirs.name;
    let mut doc = String::new();
    let _ = writeln!(doc);
    for (name, id, version) in &ours.states {
        match theirs.states.iter().find(|(_, their_id, _)| their_id == id) {
            None => {
                let _ = writeln!(doc, "- `{name}` (id {id}): new, version {version}");
            }
            Some((_, _, theirs)) if theirs == version => {
                let _ = writeln!(doc, "- `{name}` (id {id}): version {version}, unchanged");
            }
            Some((_, _, theirs)) => {
                let _ = writeln!(doc, "- `{name}` (id {id}): version {theirs} → {version}");
            }
        }
    }
    let left: Vec<String> = theirs
        .states
        .iter()
        .filter(|(_, id, _)| !ours.states.iter().any(|(_, ours, _)| ours == id))
        .map(|(name, id, version)| format!("`{name}` (id {id}, version {version})"))
        .collect();
    match (ours.replace, left.is_empty()) {
        (true, true) => {
            let _ = writeln!(doc, "- drops no state");
        }
        (true, false) => {
            let _ = writeln!(doc, "- drops {}", left.join(", "));
        }
        (false, true) => {}
        (false, false) => {
            let _ = writeln!(doc, "- leaves {} to `{them}`", left.join(", "));
        }
    }
    for function in &ours.functions {
        if theirs.functions.contains(function) {
            let _ = writeln!(doc, "- replaces `{function}` (as `{them}` does)");
        } else {
            let _ = writeln!(doc, "- replaces `{function}` (new)");
        }
    }
    for function in theirs
        .functions
        .iter()
        .filter(|f| !ours.functions.contains(f))
    {
        if ours.replace {
            let _ = writeln!(
                doc,
                "- gives `{function}` back its original code (`{them}` replaced it)"
            );
        } else {
            let _ = writeln!(doc, "- leaves `{function}` to `{them}`");
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(
        name: &str,
        replace: bool,
        states: &[(&str, u64, u32)],
        functions: &[&str],
    ) -> Summary {
        Summary {
            name: name.to_owned(),
            replace,
            states: states
                .iter()
                .map(|&(n, id, v)| (n.to_owned(), id, v))
                .collect(),
            functions: functions.iter().map(|&f| f.to_owned()).collect(),
        }
    }

    #[test]
    fn a_summary_reads_back_as_written() {
        let written = summary(
            "fix_v1",
            true,
            &[("LOGLEVEL", 1, 2), ("RATELIMIT", 7, 1)],
            &["app::greet", "crate::net::send"],
        );
        let read: Summary = syn::parse2(written.to_tokens()).expect("a summary");
        assert_eq!(read, written);
    }

    #[test]
    fn a_cumulative_patch_lists_raised_new_and_kept_states_and_its_functions() {
        let theirs = summary(
            "fix_v1",
            false,
            &[("LOGLEVEL", 1, 1), ("VERBOSE", 3, 1)],
            &["app::log", "app::old"],
        );
        let ours = summary(
            "fix_v2",
            true,
            &[("LOGLEVEL", 1, 2), ("RATELIMIT", 2, 1), ("VERBOSE", 3, 1)],
            &["app::greet", "app::log"],
        );
        assert_eq!(
            comparison(&theirs, &ours),
            "\n\
             - `LOGLEVEL` (id 1): version 1 → 2\n\
             - `RATELIMIT` (id 2): new, version 1\n\
             - `VERBOSE` (id 3): version 1, unchanged\n\
             - drops no state\n\
             - replaces `app::greet` (new)\n\
             - replaces `app::log` (as `fix_v1` does)\n\
             - gives `app::old` back its original code (`fix_v1` replaced it)\n"
        );
    }

    #[test]
    fn a_stacking_patch_leaves_the_rest_to_the_patch_it_follows() {
        let theirs = summary("base", false, &[("A", 1, 1), ("B", 2, 3)], &["app::f"]);
        let ours = summary("extra", false, &[("C", 9, 1)], &[]);
        assert_eq!(
            comparison(&theirs, &ours),
            "\n\
             - `C` (id 9): new, version 1\n\
             - leaves `A` (id 1, version 1), `B` (id 2, version 3) to `base`\n\
             - leaves `app::f` to `base`\n"
        );
    }

    #[test]
    fn only_paths_into_this_crate_get_a_comparison() {
        let path = |text: &str| syn::parse_str::<Path>(text).expect("a path");
        assert!(in_this_crate(&path("super::fix_v1")));
        assert!(in_this_crate(&path("crate::patches::fix_v1")));
        assert!(in_this_crate(&path("self::inner")));
        assert!(in_this_crate(&path("fix_v1")));
        assert!(!in_this_crate(&path("other_crate::fix_v1")));
        assert!(!in_this_crate(&path("::other_crate::fix_v1")));
    }

    #[test]
    fn tokens_that_are_not_two_summaries_are_a_compile_error() {
        let out = follows_doc(quote!("x" true [] [] "y"));
        assert!(out.to_string().contains("compile_error"), "{out}");
    }
}
