//! The attributes the macro recognizes inside its input: `#[livepatch]` itself, the callback
//! attributes on the module's functions: `#[pre_patch]`, `#[post_patch]`,
//! `#[pre_unpatch]`, `#[post_unpatch]`, each with an optional `object = "name"`, and
//! `#[replaces(path)]`, with an optional `object = "name"` after the path.

use syn::parse::{ParseStream, Parser};
use syn::{Attribute, LitStr, Meta, Path, Token};

use crate::ast::{CallbackKind, ObjectRef};
use crate::ctxt::Ctxt;

mod kw {
    syn::custom_keyword!(object);
}

/// The name of a macro of the facade that `attr` invokes: written bare (`#[pre_patch]`, as the
/// prelude imports it) or through the facade (`#[livepatch::pre_patch]`).
fn facade_macro(attr: &Attribute) -> Option<String> {
    let mut names = attr.path().segments.iter().map(|s| s.ident.to_string());
    match (names.next(), names.next(), names.next()) {
        (Some(name), None, _) => Some(name),
        (Some(facade), Some(name), None) if facade == "livepatch" => Some(name),
        _ => None,
    }
}

/// Whether `attr` is `#[livepatch]` itself.
pub fn is_livepatch(attr: &Attribute) -> bool {
    facade_macro(attr).is_some_and(|name| name == "livepatch")
}

/// Which callback `attr` marks, if it is one of the callback attributes.
pub fn callback_kind(attr: &Attribute) -> Option<CallbackKind> {
    CallbackKind::from_attr_name(&facade_macro(attr)?)
}

/// Whether `attr` is `#[replaces(...)]`.
pub fn is_replaces(attr: &Attribute) -> bool {
    facade_macro(attr).is_some_and(|name| name == "replaces")
}

/// What `#[replaces(path, object = "name")]` says: the target's path, when it parsed, and its
/// object with the literal that named it. Errors are recorded in `cx`.
pub fn replaces_args(attr: &Attribute, cx: &mut Ctxt) -> (Option<Path>, ObjectRef, Option<LitStr>) {
    const USAGE: &str = "`#[replaces(path)]` names the `#[patchable]` function it replaces: \
                         `#[replaces(crate::net::checksum)]`, with `object = \"name\"` after the \
                         path for a function of a named object";
    let list = match &attr.meta {
        Meta::List(list) => list,
        other => {
            cx.error_spanned_by(other, USAGE);
            return (None, ObjectRef::Program, None);
        }
    };
    let mut target = None;
    let mut object = None;
    let parser = |input: ParseStream| -> syn::Result<()> {
        if input.is_empty() || (input.peek(kw::object) && input.peek2(Token![=])) {
            return Err(input.error(USAGE));
        }
        target = Some(input.call(Path::parse_mod_style)?);
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let lookahead = input.lookahead1();
            if !lookahead.peek(kw::object) {
                return Err(lookahead.error());
            }
            object_argument(input, &mut object, cx)?;
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(list.tokens.clone()) {
        cx.syn_error(error);
    }
    let (named, lit) = object.unwrap_or((ObjectRef::Program, None));
    (target, named, lit)
}

/// `object = "name"` or `object = CONST`, when `input` is at `object`: the object, with the
/// literal that named it, goes into `object`, or is reported as a repetition when it holds one
/// already.
pub fn object_argument(
    input: ParseStream,
    object: &mut Option<(ObjectRef, Option<LitStr>)>,
    cx: &mut Ctxt,
) -> syn::Result<()> {
    let key: kw::object = input.parse()?;
    input.parse::<Token![=]>()?;
    let named = object_name(input)?;
    if object.is_some() {
        cx.error_spanned_by(key, "`object` is given twice: keep one of them");
    } else {
        *object = Some(named);
    }
    Ok(())
}

/// One object's name: a literal, or the path of a constant.
pub fn object_name(input: ParseStream) -> syn::Result<(ObjectRef, Option<LitStr>)> {
    if input.peek(LitStr) {
        let lit = input.parse::<LitStr>()?;
        return Ok((ObjectRef::Named(lit.value()), Some(lit)));
    }
    let path = input.parse::<Path>().map_err(|_| {
        input.error(
            "the object's name is a string literal, `object = \"net\"`, or a constant of the \
             program's, `object = app::NET`",
        )
    })?;
    let text = crate::docs::path_string(&path);
    Ok((ObjectRef::Const(crate::ast::ConstName { text, path }), None))
}

/// The objects a callback attribute names, each with the literal that named it: the program
/// itself when it names none, one object for `object = "net"`, each of a list for
/// `object = ["net", "disk"]` (one function serving several objects, as the kernel shares
/// callbacks). Errors are recorded in `cx`; the program itself is assumed then.
pub fn callback_objects(
    attr: &Attribute,
    kind: CallbackKind,
    cx: &mut Ctxt,
) -> Vec<(ObjectRef, Option<LitStr>)> {
    let program = vec![(ObjectRef::Program, None)];
    let list = match &attr.meta {
        Meta::Path(_) => return program,
        Meta::List(list) => list,
        Meta::NameValue(nv) => {
            cx.error_spanned_by(
                nv,
                format!(
                    "write `#[{0}]` for the program itself, or `#[{0}(object = \"name\")]` for a \
                     named object",
                    kind.attr_name()
                ),
            );
            return program;
        }
    };
    let parser = |input: ParseStream| -> syn::Result<Vec<(ObjectRef, Option<LitStr>)>> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        let lookahead = input.lookahead1();
        if !lookahead.peek(kw::object) {
            return Err(lookahead.error());
        }
        input.parse::<kw::object>()?;
        input.parse::<Token![=]>()?;
        let objects = if input.peek(syn::token::Bracket) {
            let content;
            let brackets = syn::bracketed!(content in input);
            let objects = content.parse_terminated(object_name, Token![,])?;
            if objects.is_empty() {
                return Err(syn::Error::new(
                    brackets.span.join(),
                    format!(
                        "name at least one object, or write `#[{}]` for the program itself",
                        kind.attr_name()
                    ),
                ));
            }
            objects.into_iter().collect()
        } else {
            vec![object_name(input)?]
        };
        input.parse::<Option<Token![,]>>()?;
        if !input.is_empty() {
            return Err(input.error(format!(
                "a callback takes one argument, `object`: write `#[{}(object = \"name\")]`",
                kind.attr_name()
            )));
        }
        Ok(objects)
    };
    match parser.parse2(list.tokens.clone()) {
        Ok(objects) if objects.is_empty() => program,
        Ok(objects) => objects,
        Err(error) => {
            cx.syn_error(error);
            program
        }
    }
}
