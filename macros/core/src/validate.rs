//! The checks the macro can make on its own, before any code is generated: every mistake is
//! recorded in the [`Ctxt`], under the user's tokens, with a message that says how to fix it.
//!
//! Each check is linear in the size of the patch (duplicates are found with hash maps), so a patch
//! with many states costs no more per state than a small one.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use quote::ToTokens;
use syn::{FnArg, GenericParam, ReturnType, Type};

use crate::ast::{Callback, CallbackKind, Function, ObjectRef, Patch, ident_string};
use crate::ctxt::Ctxt;
use crate::signature::{self, Role};

/// Runs every check on `patch`.
pub fn validate(patch: &Patch, cx: &mut Ctxt) {
    check_name(patch, cx);
    check_states(patch, cx);
    check_follows(patch, cx);
    check_callbacks(patch, cx);
    check_functions(patch, cx);
    check_generated_names(patch, cx);
}

fn check_name(patch: &Patch, cx: &mut Ctxt) {
    if let Some(name) = &patch.name {
        if name.value.trim().is_empty() {
            cx.error_at(
                name.span,
                "the patch name is empty: give it a name, such as `name = \"fix_loglevel\"`, or \
                 leave `name` out to use the module's name",
            );
        } else if name
            .value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            cx.error_at(
                name.span,
                "a patch name has no spaces or control characters: it is shown in messages as \
                 `'name'`; use `_` or `-` between words",
            );
        }
    }
}

fn check_states(patch: &Patch, cx: &mut Ctxt) {
    let mut by_id = HashMap::new();
    let mut by_name = HashMap::new();
    for state in &patch.states {
        let name = ident_string(&state.name);
        match by_name.entry(name.clone()) {
            Entry::Occupied(first) => {
                let first: &&syn::Ident = first.get();
                cx.error_spanned_by(
                    &state.name,
                    format!("a second state is named `{name}`: give each state its own name"),
                );
                cx.error_spanned_by(first, format!("the first state named `{name}` is here"));
            }
            Entry::Vacant(slot) => {
                slot.insert(&state.name);
            }
        }
        if state.complete {
            for (missing, key) in [
                (state.id.is_none(), "id: 1"),
                (state.version.is_none(), "version: 1"),
            ] {
                if missing {
                    cx.error_at(
                        state.body,
                        format!(
                            "state `{name}` needs `{}`: write `{name} {{ id: 1, version: 1 }}` \
                             (`data: Type` is optional)",
                            key.split(':').next().unwrap_or(key),
                        ),
                    );
                }
            }
        }
        let Some(id) = &state.id else { continue };
        if id.value == 0 {
            cx.error_at(
                id.span,
                format!("state id 0 is reserved: state ids start at 1 (`{name} {{ id: 1, ... }}`)"),
            );
            continue;
        }
        match by_id.entry(id.value) {
            Entry::Occupied(first) => {
                let (first_name, first_span): &(String, proc_macro2::Span) = first.get();
                cx.error_at(
                    id.span,
                    format!(
                        "state id {} is already used by `{first_name}`: give `{name}` an id of \
                         its own",
                        id.value
                    ),
                );
                cx.error_at(
                    *first_span,
                    format!("`{first_name}` has state id {} here", id.value),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert((name, id.span));
            }
        }
    }
}

fn check_follows(patch: &Patch, cx: &mut Ctxt) {
    let mut seen = HashMap::new();
    for path in &patch.follows {
        let key = crate::docs::path_string(path);
        if names_itself(path, &patch.module.ident) {
            cx.error_spanned_by(
                path,
                format!(
                    "`{key}` is this patch itself: `follows` names the patches enabled before \
                     this one; remove it"
                ),
            );
        }
        if seen.insert(key.clone(), path).is_some() {
            cx.error_spanned_by(
                path,
                format!("`{key}` is already in `follows`: name each patch once"),
            );
        }
    }
}

/// Whether `path`, written inside the module `module`, names that module: `self`, or
/// `super::module`.
fn names_itself(path: &syn::Path, module: &syn::Ident) -> bool {
    let segments: Vec<_> = path.segments.iter().map(|s| &s.ident).collect();
    match segments.as_slice() {
        [only] => *only == "self",
        [parent, name] => *parent == "super" && *name == module,
        _ => false,
    }
}

fn check_callbacks(patch: &Patch, cx: &mut Ctxt) {
    let mut seen: HashMap<(CallbackKind, &ObjectRef), &Callback> = HashMap::new();
    // A function serving several objects is one callback per object: its own checks run once.
    let mut functions = std::collections::HashSet::new();
    for callback in &patch.callbacks {
        if functions.insert(callback.item) {
            check_not_compiled_out(&callback.cfgs, "a callback", &callback.sig.ident, cx);
            check_signature(callback, cx);
        }
        check_object(callback, cx);
        match seen.entry((callback.kind, &callback.object)) {
            Entry::Occupied(first) => {
                let first = first.get();
                let kind = callback.kind.attr_name();
                let object = callback.object.display_name();
                if first.item == callback.item {
                    // The same function's list names the object twice.
                    let at = callback.object_lit.as_ref().map_or_else(
                        || callback.attr.to_token_stream(),
                        ToTokens::to_token_stream,
                    );
                    cx.error_spanned_by(
                        at,
                        format!("`{object}` is listed twice; name each object once"),
                    );
                    continue;
                }
                cx.error_spanned_by(
                    &callback.attr,
                    format!(
                        "object `{object}` already has a `{kind}` callback, `{}`: an object has \
                         at most one callback of each kind, so merge the two functions",
                        first.sig.ident
                    ),
                );
                cx.error_spanned_by(
                    &first.attr,
                    format!("the first `{kind}` callback of `{object}` is here"),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(callback);
            }
        }
    }
}

fn check_object(callback: &Callback, cx: &mut Ctxt) {
    let kind = callback.kind.attr_name();
    check_object_name(
        callback.object_lit.as_ref(),
        &format!("`#[{kind}(object = \"net\")]`"),
        &format!("write `#[{kind}]` for the program itself"),
        &format!("write `#[{kind}]` without `object` for its callbacks"),
        cx,
    );
}

/// The descriptor names every callback and replacement: `#[cfg]` on one is an error.
fn check_not_compiled_out(cfgs: &[syn::Attribute], what: &str, ident: &syn::Ident, cx: &mut Ctxt) {
    for cfg in cfgs {
        cx.error_spanned_by(
            cfg,
            format!(
                "{what} cannot be compiled out: the patch's descriptor names it; put the \
                 condition inside `{ident}` instead"
            ),
        );
    }
}

/// An object named by an `object = "..."` literal must have a name, and not the program's.
pub(crate) fn check_object_name(
    lit: Option<&syn::LitStr>,
    example: &str,
    for_program: &str,
    vmlinux: &str,
    cx: &mut Ctxt,
) {
    let Some(lit) = lit else {
        return;
    };
    let name = lit.value();
    if name.trim().is_empty() {
        cx.error_spanned_by(
            lit,
            format!("the object name is empty: name the object ({example}), or {for_program}"),
        );
    } else if name == "vmlinux" {
        cx.error_spanned_by(lit, format!("`vmlinux` is the program itself: {vmlinux}"));
    }
}

/// Checks what can be seen of a callback's signature without types; the types themselves are
/// checked by the compiler against the runtime's callback types (see `expand`).
fn check_signature(callback: &Callback, cx: &mut Ctxt) {
    let sig = &callback.sig;
    let kind = callback.kind;
    let expected = kind.expected_signature(&sig.ident.to_string());
    let fix = format!("a `#[{}]` callback is `{expected}`", kind.attr_name());
    if let Some(token) = &sig.asyncness {
        cx.error_spanned_by(
            token,
            format!("{fix}, not an `async fn`: callbacks run to completion"),
        );
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        cx.error_spanned_by(token, format!("{fix}, not an `unsafe fn`"));
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(
            abi,
            format!("{fix}, with the Rust ABI: remove `{}`", quote::quote!(#abi)),
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, format!("{fix}, without `...`"));
    }
    for param in &sig.generics.params {
        if !matches!(param, GenericParam::Lifetime(_)) {
            cx.error_spanned_by(
                param,
                format!("{fix}: a callback is not generic, it is stored as a function pointer"),
            );
        }
    }
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    match inputs.as_slice() {
        [FnArg::Typed(arg)] => check_context_type(&arg.ty, kind, &fix, cx),
        [FnArg::Receiver(receiver)] => {
            cx.error_spanned_by(
                receiver,
                format!("{fix}: a callback is a free function, not a method"),
            );
        }
        [] => cx.error_at(
            sig.paren_token.span.join(),
            format!("{fix}: it takes its context as its one argument"),
        ),
        [_, extra @ ..] => {
            let extra: Vec<&&FnArg> = extra.iter().collect();
            cx.error_spanned_by(
                quote::quote!(#(#extra),*),
                format!("{fix}: it takes its context as its only argument"),
            );
        }
    }
    match (&sig.output, kind.can_fail()) {
        (ReturnType::Default, true) => cx.error_spanned_by(
            &sig.ident,
            format!(
                "{fix}: `pre_patch` may veto the enable, so it returns \
                 `Result<(), CallbackError>`; return `Ok(())` to go on"
            ),
        ),
        (ReturnType::Type(_, ty), true) => check_error_type(ty, &fix, cx),
        (ReturnType::Type(_, ty), false) if !is_unit(ty) => cx.error_spanned_by(
            ty,
            format!(
                "{fix}: only `pre_patch` can fail, a `{}` callback returns nothing",
                kind.attr_name()
            ),
        ),
        _ => {}
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// Catches a context of another kind (`&mut PostPatch` on a `#[pre_patch]`), a context taken by
/// value or without `mut`, and `CallbackContext` in place of the kind's context; other types are
/// left to the compiler.
fn check_context_type(ty: &Type, kind: CallbackKind, fix: &str, cx: &mut Ctxt) {
    let context = kind.context();
    let (reference, path) = match ty {
        Type::Reference(reference) => match &*reference.elem {
            Type::Path(path) => (Some(reference), path),
            _ => return,
        },
        Type::Path(path) => (None, path),
        _ => return,
    };
    let Some(last) = path.path.segments.last() else {
        return;
    };
    let name = last.ident.to_string();
    if name == "CallbackContext" {
        cx.error_spanned_by(
            ty,
            format!(
                "{fix}: `CallbackContext` is what every context reads as, not a callback's \
                 argument; take `&mut {context}<'_>`, which also says when the callback runs \
                 and what it may do"
            ),
        );
        return;
    }
    let Some(other) = CallbackKind::ALL.into_iter().find(|k| k.context() == name) else {
        return;
    };
    if other != kind {
        cx.error_spanned_by(
            ty,
            format!(
                "{fix}: `{name}` is the context of `#[{}]` callbacks; either take \
                 `&mut {context}<'_>` or mark the function `#[{}]`",
                other.attr_name(),
                other.attr_name()
            ),
        );
        return;
    }
    match reference {
        None => cx.error_spanned_by(
            ty,
            format!(
                "{fix}: the context is borrowed, not taken by value; the runtime keeps it, \
                 write `&mut {context}<'_>`"
            ),
        ),
        Some(reference) if reference.mutability.is_none() => {
            cx.error_spanned_by(ty, format!("{fix}: the context is taken as `&mut`"));
        }
        Some(_) => {}
    }
}

/// Catches a `pre_patch` that returns `Result<(), E>` with an error type of its own: the runtime
/// stores and reports a `CallbackError`.
fn check_error_type(ty: &Type, fix: &str, cx: &mut Ctxt) {
    let Type::Path(path) = ty else {
        return;
    };
    let Some(last) = path.path.segments.last() else {
        return;
    };
    if last.ident != "Result" {
        return;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return;
    };
    let [_, syn::GenericArgument::Type(error)] = &args.args.iter().collect::<Vec<_>>()[..] else {
        return;
    };
    let Type::Path(error_path) = error else {
        return;
    };
    if error_path
        .path
        .segments
        .last()
        .is_some_and(|s| s.ident == "CallbackError")
    {
        return;
    }
    let written = crate::docs::type_string(error);
    cx.error_spanned_by(
        error,
        format!(
            "{fix}: its error is a `CallbackError`, not `{written}`; build one with \
             `CallbackError::new(message)`, or convert an error with \
             `.map_err(CallbackError::from_error)?`"
        ),
    );
}

fn check_functions(patch: &Patch, cx: &mut Ctxt) {
    let mut seen: HashMap<String, &Function> = HashMap::new();
    for function in &patch.functions {
        check_not_compiled_out(&function.cfgs, "a replacement", &function.sig.ident, cx);
        check_object_name(
            function.object_lit.as_ref(),
            "`#[replaces(path, object = \"net\")]`",
            "leave `object` out for a function of the program itself",
            "leave `object` out for its functions",
            cx,
        );
        for (tokens, message) in signature::unsupported(&function.sig, Role::Replacement) {
            cx.error_spanned_by(tokens, message);
        }
        let Some(target) = &function.target else {
            continue;
        };
        let key = crate::docs::path_string(target);
        match seen.entry(key) {
            Entry::Occupied(first) => {
                let key = first.key();
                let first = first.get();
                cx.error_spanned_by(
                    target,
                    format!(
                        "`{key}` is already replaced by `{}` in this patch: a patch replaces a \
                         function once, so keep one of the two",
                        first.sig.ident
                    ),
                );
                if let Some(first_target) = &first.target {
                    cx.error_spanned_by(
                        first_target,
                        format!("the first replacement of `{key}` is here"),
                    );
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(function);
            }
        }
    }
}

/// `PATCH` is generated: an item or a state of that name in the module would clash with it.
fn check_generated_names(patch: &Patch, cx: &mut Ctxt) {
    for ident in patch.descriptor_name_clashes() {
        cx.error_spanned_by(
            ident,
            "`#[livepatch]` generates the patch descriptor `PATCH` in this module: give this \
             another name",
        );
    }
}
