//! Parsing: the arguments of `#[livepatch(...)]` and the module they are attached to, into the
//! typed model of [`crate::ast`].
//!
//! Parsing goes on after a mistake wherever the rest can still be read: a bad top-level argument
//! or state entry is reported and skipped up to the next comma, so that one mistake gives one
//! error and the rest of the patch (its state handles above all) is still generated.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, Item, ItemMod, LitInt, LitStr, Path, Token, Type};

use crate::ast::{Callback, Function, Patch, Spanned, State};
use crate::attr;
use crate::ctxt::Ctxt;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(replace);
    syn::custom_keyword!(follows);
    syn::custom_keyword!(states);
    syn::custom_keyword!(id);
    syn::custom_keyword!(version);
    syn::custom_keyword!(data);
}

/// Parses the attribute's arguments and the item it is on. `None` when the item is not an inline
/// module; the error is in `cx` then.
pub fn parse(args: TokenStream, item: TokenStream, cx: &mut Ctxt) -> Option<Patch> {
    let module = parse_module(item, cx)?;
    let mut patch = Patch {
        module,
        name: None,
        replace: None,
        follows: Vec::new(),
        krate: None,
        states: Vec::new(),
        callbacks: Vec::new(),
        functions: Vec::new(),
    };
    let parser = |input: ParseStream| {
        parse_args(input, &mut patch, cx);
        Ok(())
    };
    if let Err(error) = parser.parse2(args) {
        cx.syn_error(error);
    }
    collect_callbacks(&mut patch, cx);
    Some(patch)
}

fn parse_module(item: TokenStream, cx: &mut Ctxt) -> Option<ItemMod> {
    let item = match syn::parse2::<Item>(item) {
        Ok(item) => item,
        Err(error) => {
            cx.syn_error(error);
            return None;
        }
    };
    let Item::Mod(module) = item else {
        cx.error_spanned_by(
            item_head(&item),
            "`#[livepatch]` goes on an inline module that holds the patch: \
             `#[livepatch(...)] pub mod my_patch { ... }`",
        );
        return None;
    };
    if module.content.is_none() {
        let ident = &module.ident;
        cx.error_spanned_by(
            quote::quote!(#module),
            format!(
                "`#[livepatch]` needs the module's items inline, to find its callbacks: write \
                 `mod {ident} {{ ... }}` instead of a module in another file"
            ),
        );
        return None;
    }
    // A second `#[livepatch]` would generate everything again: report it and drop it.
    let mut module = module;
    module.attrs.retain(|attr| {
        let again = attr::is_livepatch(attr);
        if again {
            cx.error_spanned_by(
                attr,
                "`#[livepatch]` is given twice on this module: keep one, with all the arguments",
            );
        }
        !again
    });
    Some(module)
}

/// The tokens that name an item, to point at without underlining its whole body.
pub(crate) fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Fn(f) => {
            let (fn_token, ident) = (&f.sig.fn_token, &f.sig.ident);
            quote::quote!(#fn_token #ident)
        }
        Item::Struct(s) => {
            let (token, ident) = (&s.struct_token, &s.ident);
            quote::quote!(#token #ident)
        }
        Item::Enum(e) => {
            let (token, ident) = (&e.enum_token, &e.ident);
            quote::quote!(#token #ident)
        }
        Item::Const(c) => {
            let (token, ident) = (&c.const_token, &c.ident);
            quote::quote!(#token #ident)
        }
        Item::Static(s) => {
            let (token, ident) = (&s.static_token, &s.ident);
            quote::quote!(#token #ident)
        }
        Item::Trait(t) => {
            let (token, ident) = (&t.trait_token, &t.ident);
            quote::quote!(#token #ident)
        }
        Item::Impl(i) => i.impl_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

/// Skips tokens up to (not including) the next `,` at this level.
fn skip_to_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

/// Parses `entry (, entry)* ,?`, reporting a bad entry and going on with the next one. Returns
/// whether an error was reported.
fn parse_list(
    input: ParseStream,
    cx: &mut Ctxt,
    mut entry: impl FnMut(ParseStream, &mut Ctxt) -> syn::Result<()>,
) -> bool {
    let mut failed = false;
    while !input.is_empty() {
        if let Err(error) = entry(input, cx) {
            cx.syn_error(error);
            skip_to_comma(input);
            failed = true;
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            cx.syn_error(error);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
            failed = true;
        }
    }
    failed
}

/// The `=` after a top-level key or the `:` after a state's key; when the other one is written,
/// an error that says which one this key takes.
fn separator<T: syn::parse::Parse>(input: ParseStream, key: &str, sep: &str) -> syn::Result<()> {
    let (wrong, place, example) = if sep == "=" {
        (
            input.peek(Token![:]),
            "an argument of `#[livepatch]`",
            format!("{key} = ..."),
        )
    } else {
        (
            input.peek(Token![=]),
            "a key of a state",
            format!("{key}: ..."),
        )
    };
    if wrong {
        let token: TokenTree = input.parse()?;
        return Err(syn::Error::new_spanned(
            token,
            format!("`{key}` is {place}, followed by `{sep}`: `{example}`"),
        ));
    }
    input.parse::<T>().map(|_| ())
}

fn repeated(cx: &mut Ctxt, key: impl ToTokens, name: &str) {
    cx.error_spanned_by(key, format!("`{name}` is given twice: keep one of them"));
}

fn parse_args(input: ParseStream, patch: &mut Patch, cx: &mut Ctxt) {
    let mut seen_follows = false;
    let mut seen_states = false;
    let _ = parse_list(input, cx, |input, cx| {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let key: kw::name = input.parse()?;
            separator::<Token![=]>(input, "name", "=")?;
            if !input.peek(LitStr) {
                return Err(
                    input.error("the patch name is a string literal: `name = \"fix_loglevel\"`")
                );
            }
            let lit: LitStr = input.parse()?;
            if patch.name.is_some() {
                repeated(cx, key, "name");
            } else {
                patch.name = Some(Spanned {
                    value: lit.value(),
                    span: lit.span(),
                });
            }
        } else if lookahead.peek(kw::replace) {
            let key: kw::replace = input.parse()?;
            if input.peek(Token![=]) {
                return Err(syn::Error::new_spanned(
                    key,
                    "`replace` is a flag: write `replace` for a cumulative patch, or leave it out",
                ));
            }
            if patch.replace.is_some() {
                repeated(cx, key, "replace");
            } else {
                patch.replace = Some(key.span);
            }
        } else if lookahead.peek(kw::follows) {
            let key: kw::follows = input.parse()?;
            separator::<Token![=]>(input, "follows", "=")?;
            let paths = bracketed(input, "follows = [super::older_patch]", cx);
            let paths = Punctuated::<Path, Token![,]>::parse_terminated.parse2(paths)?;
            if seen_follows {
                repeated(cx, key, "follows");
            } else {
                seen_follows = true;
                patch.follows = paths.into_iter().collect();
            }
        } else if lookahead.peek(kw::states) {
            let key: kw::states = input.parse()?;
            separator::<Token![=]>(input, "states", "=")?;
            let content = bracketed(input, "states = [NAME { id: 1, version: 1 }]", cx);
            if seen_states {
                repeated(cx, key, "states");
            } else {
                seen_states = true;
                let parser = |input: ParseStream| {
                    let _ = parse_list(input, cx, |input, cx| {
                        patch.states.push(parse_state(input, cx)?);
                        Ok(())
                    });
                    Ok(())
                };
                parser.parse2(content)?;
            }
        } else if lookahead.peek(Token![crate]) {
            let key: Token![crate] = input.parse()?;
            separator::<Token![=]>(input, "crate", "=")?;
            if input.peek(LitStr) {
                return Err(
                    input.error("`crate` is a path, not a string: `crate = ::my_livepatch`")
                );
            }
            let path: Path = input.parse()?;
            if patch.krate.is_some() {
                repeated(cx, key, "crate");
            } else {
                patch.krate = Some(path);
            }
        } else {
            let keys = ["name", "replace", "follows", "states", "crate"];
            return Err(crate::suggest::unknown_key(input, lookahead.error(), &keys));
        }
        Ok(())
    });
}

/// The tokens inside `[...]`. When the brackets are missing, an error showing `example`, and the
/// tokens up to the next comma, read as if they had been in brackets.
fn bracketed(input: ParseStream, example: &str, cx: &mut Ctxt) -> TokenStream {
    if let Ok(TokenTree::Group(group)) = input.fork().parse::<TokenTree>()
        && group.delimiter() == proc_macro2::Delimiter::Bracket
    {
        let _ = input.parse::<TokenTree>();
        return group.stream();
    }
    let mut value = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        match input.parse::<TokenTree>() {
            Ok(tree) => value.extend(std::iter::once(tree)),
            Err(_) => break,
        }
    }
    let message = format!("expected a list in brackets: `{example}`");
    if value.is_empty() {
        cx.syn_error(input.error(message));
    } else {
        cx.error_spanned_by(&value, message);
    }
    value
}

fn parse_state(input: ParseStream, cx: &mut Ctxt) -> syn::Result<State> {
    let attrs = input.call(Attribute::parse_outer)?;
    let mut docs = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("doc") {
            docs.push(attr);
        } else {
            cx.error_spanned_by(
                &attr,
                "only doc comments (`/// ...`) may stand above a state",
            );
        }
    }
    if !input.peek(Ident) {
        return Err(input.error("expected a state: `NAME { id: 1, version: 1, data: Type }`"));
    }
    let name: Ident = input.parse()?;
    let body = match input.parse::<TokenTree>() {
        Ok(TokenTree::Group(group)) if group.delimiter() == proc_macro2::Delimiter::Brace => group,
        Ok(other) => {
            return Err(syn::Error::new_spanned(
                other,
                format!("expected the state's keys in braces: `{name} {{ id: 1, version: 1 }}`"),
            ));
        }
        Err(_) => {
            return Err(syn::Error::new_spanned(
                &name,
                format!(
                    "expected the state's keys in braces after its name: `{name} {{ id: 1, version: 1 }}`"
                ),
            ));
        }
    };
    let mut state = State {
        docs,
        name,
        id: None,
        version: None,
        data: None,
        body: body.span(),
        complete: true,
    };
    let parser = |input: ParseStream| {
        parse_state_keys(input, &mut state, cx);
        Ok(())
    };
    if let Err(error) = parser.parse2(body.stream()) {
        cx.syn_error(error);
        state.complete = false;
    }
    Ok(state)
}

fn parse_state_keys(input: ParseStream, state: &mut State, cx: &mut Ctxt) {
    let mut data_seen = false;
    let failed = parse_list(input, cx, |input, cx| {
        parse_state_key(input, state, &mut data_seen, cx)
    });
    if failed {
        state.complete = false;
    }
}

fn parse_state_key(
    input: ParseStream,
    state: &mut State,
    data_seen: &mut bool,
    cx: &mut Ctxt,
) -> syn::Result<()> {
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::id) {
        let key: kw::id = input.parse()?;
        separator::<Token![:]>(input, "id", ":")?;
        let value = parse_integer(
            input,
            "state id",
            "a positive integer (0 is reserved)",
            "id: 1",
        )?;
        if state.id.is_some() {
            repeated(cx, key, "id");
        } else {
            state.id = Some(value);
        }
    } else if lookahead.peek(kw::version) {
        let key: kw::version = input.parse()?;
        separator::<Token![:]>(input, "version", ":")?;
        let value = parse_integer(input, "version", "a non-negative integer", "version: 1")?;
        let Ok(version) = u32::try_from(value.value) else {
            return Err(syn::Error::new(
                value.span,
                format!(
                    "version {} is too large: versions go from 0 to {}",
                    value.value,
                    u32::MAX
                ),
            ));
        };
        if state.version.is_some() {
            repeated(cx, key, "version");
        } else {
            state.version = Some(Spanned {
                value: version,
                span: value.span,
            });
        }
    } else if lookahead.peek(kw::data) {
        let key: kw::data = input.parse()?;
        separator::<Token![:]>(input, "data", ":")?;
        let ty: Type = input.parse()?;
        if *data_seen {
            repeated(cx, key, "data");
        } else {
            *data_seen = true;
            state.data = Some(ty);
        }
    } else {
        let keys = ["id", "version", "data"];
        return Err(crate::suggest::unknown_key(input, lookahead.error(), &keys));
    }
    Ok(())
}

/// An integer literal; anything else is an error that says how to write one. `range` says, in
/// words, which integers a `what` may be ("a positive integer").
fn parse_integer(
    input: ParseStream,
    what: &str,
    range: &str,
    example: &str,
) -> syn::Result<Spanned<u64>> {
    if input.peek(Token![-]) && input.peek2(LitInt) {
        let minus: Token![-] = input.parse()?;
        let lit: LitInt = input.parse()?;
        return Err(syn::Error::new_spanned(
            quote::quote!(#minus #lit),
            format!("a {what} is {range}, not `-{lit}`: write `{example}`"),
        ));
    }
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        if lit.base10_digits().starts_with('-') {
            return Err(syn::Error::new_spanned(
                &lit,
                format!("a {what} is {range}, not `{lit}`: write `{example}`"),
            ));
        }
        return match lit.base10_parse::<u64>() {
            Ok(value) => Ok(Spanned {
                value,
                span: lit.span(),
            }),
            Err(_) => Err(syn::Error::new_spanned(
                &lit,
                format!("a {what} is {range} of at most {}", u64::MAX),
            )),
        };
    }
    // Take the value's tokens, up to the next comma, to point at all of them.
    let mut value = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        value.extend(std::iter::once(input.parse::<TokenTree>()?));
    }
    if value.is_empty() {
        return Err(input.error(format!("expected a {what}, {range}: `{example}`")));
    }
    let message = if value.to_string().starts_with('-') {
        format!("a {what} is {range}, not `{value}`: write `{example}`")
    } else {
        format!(
            "a {what} is {range} written as a literal, not `{value}`: write `{example}` \
             (the macro checks the number and shows it in the patch's documentation)"
        )
    };
    Err(syn::Error::new_spanned(value, message))
}

/// Finds the callback and `#[replaces]` attributes on the module's items, records the callbacks
/// and replacement functions and removes the attributes, so that none is left for the compiler
/// to expand on its own.
fn collect_callbacks(patch: &mut Patch, cx: &mut Ctxt) {
    let Some((_, items)) = patch.module.content.as_mut() else {
        return;
    };
    for (position, item) in items.iter_mut().enumerate() {
        let attrs = match item {
            Item::Fn(f) => &mut f.attrs,
            Item::Const(i) => &mut i.attrs,
            Item::Static(i) => &mut i.attrs,
            Item::Struct(i) => &mut i.attrs,
            Item::Enum(i) => &mut i.attrs,
            Item::Impl(i) => &mut i.attrs,
            Item::Mod(i) => &mut i.attrs,
            Item::Trait(i) => &mut i.attrs,
            Item::Type(i) => &mut i.attrs,
            Item::Use(i) => &mut i.attrs,
            Item::Macro(i) => &mut i.attrs,
            Item::Union(i) => &mut i.attrs,
            _ => continue,
        };
        let mut marks = Vec::new();
        let mut replaces = Vec::new();
        attrs.retain(|attr| {
            if let Some(kind) = attr::callback_kind(attr) {
                marks.push((kind, attr.clone()));
                false
            } else if attr::is_replaces(attr) {
                replaces.push(attr.clone());
                false
            } else {
                true
            }
        });
        let Item::Fn(function) = item else {
            for (kind, attr) in marks {
                cx.error_spanned_by(
                    &attr,
                    format!(
                        "`#[{}]` marks a callback, so it goes on a function: \
                         `fn name(cx: &mut {}<'_>)`",
                        kind.attr_name(),
                        kind.context()
                    ),
                );
            }
            for attr in replaces {
                cx.error_spanned_by(
                    &attr,
                    "`#[replaces(path)]` marks a replacement function, so it goes on a function \
                     with the signature of the function it replaces",
                );
            }
            continue;
        };
        let cfgs: Vec<_> = function
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg"))
            .cloned()
            .collect();
        let mut replaces = replaces.into_iter();
        if let Some(attr) = replaces.next() {
            for extra in replaces {
                cx.error_spanned_by(
                    &extra,
                    format!(
                        "`{}` already replaces a function: a replacement replaces one function, \
                         write another function for this one",
                        function.sig.ident
                    ),
                );
            }
            for (kind, callback) in &marks {
                cx.error_spanned_by(
                    callback,
                    format!(
                        "`{}` is a `#[replaces]` function: a function is a replacement or a \
                         callback, not both; write another function for the `#[{}]` callback",
                        function.sig.ident,
                        kind.attr_name()
                    ),
                );
            }
            let (target, object, object_lit) = attr::replaces_args(&attr, cx);
            patch.functions.push(Function {
                attr,
                target,
                object,
                object_lit,
                sig: function.sig.clone(),
                cfgs,
                item: position,
            });
            continue;
        }
        let mut marks = marks.into_iter();
        let Some((kind, attr)) = marks.next() else {
            continue;
        };
        for (_, extra) in marks {
            cx.error_spanned_by(
                &extra,
                format!(
                    "`{}` is already a `#[{}]` callback: a function is at most one callback, \
                     write another function for this one",
                    function.sig.ident,
                    kind.attr_name()
                ),
            );
        }
        // One callback per object it serves.
        for (object, object_lit) in attr::callback_objects(&attr, kind, cx) {
            patch.callbacks.push(Callback {
                kind,
                attr: attr.clone(),
                object,
                object_lit,
                sig: function.sig.clone(),
                cfgs: cfgs.clone(),
                item: position,
            });
        }
    }
}
