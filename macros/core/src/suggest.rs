//! "Did you mean": the closest of the keys a place accepts, for a key that is none of them.

use syn::ext::IdentExt;
use syn::parse::ParseStream;

/// The error for a key at the start of `input` that is none of `expected`: `none_of` (syn's
/// "expected one of ..."), with the closest expected key suggested when one is near enough to
/// be a typo of it. A place that accepts one key already names it.
pub fn unknown_key(input: ParseStream, none_of: syn::Error, expected: &[&str]) -> syn::Error {
    if expected.len() < 2 {
        return none_of;
    }
    let Ok(ident) = input.fork().call(syn::Ident::parse_any) else {
        return none_of;
    };
    let written = ident.to_string();
    match closest(&written, expected) {
        Some(key) => syn::Error::new(ident.span(), format!("{none_of}; did you mean `{key}`?")),
        None => none_of,
    }
}

/// The candidate nearest to `word` in edits (an insertion, a deletion, a change, or a swap of
/// two neighbours each count one), if it is at most a third of the word's length away.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(word, c), *c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;
    use strsim::osa_distance as distance;

    #[test]
    fn typos_are_near_and_other_words_are_not() {
        assert_eq!(distance("verison", "version"), 1);
        assert_eq!(distance("follow", "follows"), 1);
        assert_eq!(distance("objekt", "object"), 1);
        assert_eq!(distance("kind", "id"), 2);
        let keys = ["name", "replace", "follows", "states", "crate"];
        assert_eq!(closest("replaces", &keys), Some("replace"));
        assert_eq!(closest("follow", &keys), Some("follows"));
        assert_eq!(closest("stats", &keys), Some("states"));
        assert_eq!(closest("kind", &["id", "version", "data"]), None);
        assert_eq!(
            closest("verison", &["id", "version", "data"]),
            Some("version")
        );
    }
}
