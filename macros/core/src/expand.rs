//! Code generation only: the checked model of a patch becomes its module, state handles,
//! descriptor, lineage record and compile-time checks. Everything generated reaches the runtime
//! through `::livepatch::__private` (or the `__private` module of the crate `crate = path` names).

use std::collections::HashSet;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Item, parse_quote};

use crate::ast::{
    CallbackKind, Function, MARKER, ObjectRef, Patch, State, ident_string, is_path_keyword,
};
use crate::{docs, follows};

/// The span of the first token of `tokens`, where an error about them is best placed. (A span
/// that covers several tokens cannot be made on stable Rust: joining spans fails there.)
fn first_span(tokens: &impl ToTokens) -> Span {
    tokens
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// `tokens` with every token given `span`, so that an error the compiler finds in them is
/// reported there (a token with another span would move the report to the whole attribute).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                TokenTree::Group(new)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// The path of the facade's hidden module that generated code goes through: in `::livepatch`,
/// or in the crate `crate = path` names.
fn private(patch: &Patch) -> TokenStream {
    match &patch.krate {
        Some(krate) => quote!(#krate::__private),
        None => quote!(::livepatch::__private),
    }
}

/// The module of a patch that passed every check, with everything generated.
pub fn patch(patch: &Patch) -> TokenStream {
    module(patch, docs::module_doc(patch), false)
}

/// The module of a patch that failed a check: the user's items and the state handles, so that
/// code using them does not fail too, and a descriptor without states or callbacks.
pub fn fallback(patch: &Patch) -> TokenStream {
    module(patch, String::new(), true)
}

fn module(patch: &Patch, doc: String, fallback: bool) -> TokenStream {
    let mut module = patch.module.clone();
    if !doc.is_empty() {
        module.attrs.push(parse_quote!(#[doc = #doc]));
        module.attrs.extend(follows::doc_attrs(patch));
    }
    let follows_info = follows::info_macro(patch, &private(patch));
    let handles = state_handles(patch);
    let lineage = lineage(patch);
    let contents = contents(patch);
    let (descriptor, follows) = if fallback {
        (fallback_descriptor(patch), TokenStream::new())
    } else {
        (descriptor(patch), follows_checks(patch))
    };
    if let Some((_, items)) = module.content.as_mut() {
        mark_contexts(patch, items);
        if fallback {
            // The callbacks and replacements are not referenced by the descriptor: do not warn
            // about them.
            let callbacks: HashSet<&syn::Ident> = patch
                .callbacks
                .iter()
                .map(|c| &c.sig.ident)
                .chain(patch.functions.iter().map(|f| &f.sig.ident))
                .collect();
            for item in items.iter_mut() {
                if let Item::Fn(f) = item
                    && callbacks.contains(&f.sig.ident)
                {
                    f.attrs.push(parse_quote!(#[allow(dead_code)]));
                }
            }
        }
        let marker = format_ident!("{}", MARKER);
        items.push(Item::Verbatim(quote! {
            /// The marker of this patch's state handles and of its callbacks' contexts.
            #[doc(hidden)]
            pub enum #marker {}
            #handles
            #descriptor
            #lineage
            #contents
            #follows
            #follows_info
        }));
    }
    quote!(#module)
}

/// Marks the context of each callback with the patch's marker: `&mut PrePatch<'_>` becomes
/// `&mut PrePatch<'_, __Patch>`, whatever path names `PrePatch`, so that the callback reaches its
/// own states only through this patch's handles. A context of another type is left as it is, for
/// the compiler to report.
fn mark_contexts(patch: &Patch, items: &mut [Item]) {
    for callback in &patch.callbacks {
        let Some(Item::Fn(f)) = items.get_mut(callback.item) else {
            continue;
        };
        let Some(syn::FnArg::Typed(arg)) = f.sig.inputs.first_mut() else {
            continue;
        };
        let syn::Type::Reference(reference) = &mut *arg.ty else {
            continue;
        };
        let span = first_span(&reference.elem);
        let syn::Type::Path(path) = &mut *reference.elem else {
            continue;
        };
        let Some(last) = path.path.segments.last_mut() else {
            continue;
        };
        if last.ident != callback.kind.context() {
            continue;
        }
        let marker = format_ident!("{}", MARKER, span = span);
        match &mut last.arguments {
            syn::PathArguments::None => {
                let lifetime = syn::Lifetime::new("'_", span);
                last.arguments =
                    syn::PathArguments::AngleBracketed(parse_quote!(<#lifetime, self::#marker>));
            }
            syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                args.args.push(parse_quote!(self::#marker));
            }
            _ => {}
        }
    }
}

/// The states to generate handles for: each name once, never `PATCH`.
fn distinct_states(patch: &Patch) -> Vec<&State> {
    let mut seen = HashSet::new();
    patch
        .states
        .iter()
        .filter(|s| s.name != Patch::DESCRIPTOR && seen.insert(s.name.to_string()))
        .collect()
}

/// A state's data type: `()` when it declares none. Like every path in the attribute, it is
/// resolved inside the module.
fn data_type(state: &State) -> TokenStream {
    match &state.data {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    }
}

fn state_handles(patch: &Patch) -> TokenStream {
    let private = private(patch);
    let handles = distinct_states(patch).into_iter().map(|state| {
        let name = &state.name;
        let docs = &state.docs;
        let generated = docs::state_doc(state);
        let ty = data_type(state);
        let id = state.id.as_ref().map_or(0, |id| id.value);
        let version = state.version.as_ref().map_or(0, |v| v.value);
        let label = name.to_string();
        let marker = format_ident!("{}", MARKER);
        quote! {
            #(#docs)*
            #[doc = #generated]
            pub const #name: #private::StateHandle<#ty, #marker> =
                #private::StateHandle::new(#id, #version).named(#label).for_patch();
        }
    });
    quote!(#(#handles)*)
}

fn descriptor(patch: &Patch) -> TokenStream {
    let private = private(patch);
    let name = patch.name();
    let replace = patch.replace.is_some();
    let doc = format!(
        " The descriptor of live patch `{name}`, for `Runtime::enable(&PATCH)`; see the module's \
         documentation for what it contains."
    );

    // One constant per callback, typed with the function pointer type of this patch's callbacks
    // and placed at the user's signature: a wrong signature is reported there, naming the
    // expected type. The runtime stores a function that calls it with its marked context.
    let marker = format_ident!("{}", MARKER);
    let callback_consts = patch.callbacks.iter().enumerate().map(|(i, callback)| {
        let span = callback.sig.ident.span();
        let konst = format_ident!("__LIVEPATCH_CALLBACK_{}", i);
        let fn_type = format_ident!("{}", callback.kind.fn_type());
        let marked = format_ident!("{}", callback.kind.marked_fn_type(), span = span);
        let call = format_ident!("{}", callback.kind.attr_name());
        let function = &callback.sig.ident;
        let typed = respan(
            quote!(const __LIVEPATCH_CALLBACK: #private::#marked<#marker> = #function;),
            span,
        );
        quote! {
            const #konst: #private::#fn_type = {
                #typed
                |cx| #private::#call(cx, __LIVEPATCH_CALLBACK)
            };
        }
    });

    let state_descs = patch.states.iter().map(|state| {
        let name = &state.name;
        let ty = data_type(state);
        let span = state
            .data
            .as_ref()
            .map_or_else(|| state.name.span(), first_span);
        respan(quote!(#private::state_desc::<#ty, _>(#name)), span)
    });
    let state_count = patch.states.len();

    let objects = patch.objects();
    let mut function_arrays = Vec::new();
    let index = patch.callback_index();
    let object_descs = objects.iter().enumerate().map(|(i, object)| {
        let mut desc = match object {
            ObjectRef::Program => quote!(#private::ObjectDesc::program()),
            ObjectRef::Named(_) | ObjectRef::Const(_) => {
                let name = object.name_tokens();
                quote!(#private::ObjectDesc::named(#name))
            }
        };
        for kind in CallbackKind::ALL {
            if let Some(i) = index.get(&(kind, *object)) {
                let method = format_ident!("{}", kind.attr_name());
                let konst = format_ident!("__LIVEPATCH_CALLBACK_{}", i);
                desc = quote!(#desc.#method(#konst));
            }
        }
        let (entries, checks): (Vec<TokenStream>, Vec<TokenStream>) = patch
            .functions
            .iter()
            .filter(|function| function.object == **object)
            .filter_map(|function| function_desc(patch, function))
            .unzip();
        if !entries.is_empty() {
            let array = format_ident!("__LIVEPATCH_FUNCTIONS_{}", i);
            let count = entries.len();
            function_arrays.push(quote! {
                #(#checks)*
                static #array: [#private::FuncDesc; #count] = [#(#entries),*];
            });
            desc = quote!(#desc.functions(&#array));
        }
        desc
    });
    let object_descs: Vec<TokenStream> = object_descs.collect();
    let object_count = objects.len();
    // Named objects, some maybe through constants: one name, one entry.
    let named: Vec<&&ObjectRef> = objects
        .iter()
        .filter(|o| !matches!(o, ObjectRef::Program))
        .collect();
    let distinct = if named.iter().any(|o| matches!(o, ObjectRef::Const(_))) {
        let names = named.iter().map(|o| o.name_tokens());
        let written = named.iter().map(|o| match o {
            ObjectRef::Named(name) => format!("\"{name}\""),
            other => other.display_name().to_owned(),
        });
        let verdict = quote!(#private::distinct_objects_verdict(&[#(#names),*], &[#(#written),*]));
        verdict_const(verdict, Span::call_site())
    } else {
        TokenStream::new()
    };

    quote! {
        #[doc = #doc]
        pub static PATCH: #private::PatchDesc = {
            #distinct
            #(#callback_consts)*
            #(#function_arrays)*
            static __LIVEPATCH_STATES: [#private::StateDesc; #state_count] = [#(#state_descs),*];
            static __LIVEPATCH_OBJECTS: [#private::ObjectDesc; #object_count] = [#(#object_descs),*];
            #private::PatchDesc::new(#name)
                .replace(#replace)
                .states(&__LIVEPATCH_STATES)
                .objects(&__LIVEPATCH_OBJECTS)
        };
    }
}

/// The descriptor entry of one replacement: the target's slot, found through the hidden constant
/// `#[patchable]` put beside it, and the replacement, which must have the slot's function type.
/// The replacement's name carries the span of its signature, so that a signature that differs
/// from the target's is reported there, with both types; the slot's lookup carries the span of
/// `object = "..."` (or of the function's name in the path), where a wrong object is reported
/// with the right one. Returns the entry and the constant item that checks the object.
fn function_desc(patch: &Patch, function: &Function) -> Option<(TokenStream, TokenStream)> {
    let private = private(patch);
    let target = function.target.as_ref()?;
    let (args, raw) = slot_lookup(patch, function, target)?;
    let listed = match &function.object {
        ObjectRef::Program => quote!(#private::ObjectName::Program),
        ObjectRef::Named(_) | ObjectRef::Const(_) => {
            let name = function.object.name_tokens();
            quote!(#private::ObjectName::Named(#name))
        }
    };
    let text = docs::path_string(target);
    let span = match (&function.object_lit, target.segments.last()) {
        (Some(lit), _) => lit.span(),
        (None, _) if let ObjectRef::Const(name) = &function.object => first_span(&name.path),
        (None, Some(last)) => last.ident.span(),
        (None, None) => first_span(target),
    };
    let verdict = respan(
        quote!(#private::object_verdict(__livepatch_target.belongs_to(), #listed, #text)),
        span,
    );
    let fail = respan(
        quote! {
            if !__livepatch_verdict.is_ok() {
                ::core::panic!("{}", __livepatch_verdict.message())
            }
        },
        span,
    );
    // An inline constant, so that the descriptor entry stays a constant expression that the
    // static can borrow for good.
    // The bindings carry the span of their uses, which decides where they resolve (inside
    // `macro_rules!`, a local binding is only found from tokens of the same context).
    let (target, verdict_binding) = (
        format_ident!("__livepatch_target", span = span),
        format_ident!("__livepatch_verdict", span = span),
    );
    // The object check is a constant item of its own, beside the descriptor: a failed check in a
    // constant the descriptor uses would add the compiler's "erroneous constant encountered" note
    // at the attribute. It looks the slot up again, without the patchable check (a function that
    // is not patchable has no object to check); an unresolved path gives the same report from
    // both lookups, which the compiler shows once.
    let object_check = quote! {
        const _: () = {
            let #target = #raw;
            let #verdict_binding = #verdict;
            #fail
        };
    };
    let slot = quote! {
        {
            let #target = #args;
            #target.slot
        }
    };
    // The replacement, as a function pointer of its own signature, must have the target's
    // type: a local trait says so in words, naming the target and both types, at the
    // replacement's name.
    let ident = &function.sig.ident;
    let name = ident_string(ident);
    let own_type = crate::signature::fn_pointer_type(&function.sig, None);
    let message =
        format!("`{name}` replaces `{text}`, which is `{{F}}`, but `{name}` is `{{Self}}`");
    let label = format!("not the signature of `{text}`");
    let note = format!(
        "a replacement has exactly the signature of the function it replaces: write `{name}` \
         with the arguments and the return type of `{text}`"
    );
    let slot_binding = format_ident!("__livepatch_slot", span = ident.span());
    let check = respan(
        quote!(__livepatch_replacement(#slot_binding, #ident as #own_type)),
        ident.span(),
    );
    // An inline constant, so that the descriptor entry stays a constant expression that the
    // static can borrow for good.
    let entry = quote! {
        #private::FuncDesc::new(&const {
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            trait __LivepatchReplaces<F>: #private::SameType<F> {}
            impl<F: ::core::marker::Copy> __LivepatchReplaces<F> for F {}
            const fn __livepatch_replacement<F, G>(
                slot: &'static #private::FuncSlot<F>,
                func: G,
            ) -> #private::Replacement<F>
            where
                F: ::core::marker::Copy + ::core::marker::Send + ::core::marker::Sync + 'static,
                G: __LivepatchReplaces<F>,
            {
                #private::Replacement::of_same_type(slot, func)
            }
            let #slot_binding = #slot;
            #check
        })
    };
    Some((entry, object_check))
}

/// The hidden constant of the target at `target`, `__livepatch_slot_NAME` at the path with
/// `__livepatch_slot_` put before its last segment.
///
/// When the target exists but is not `#[patchable]`, the lookup finds a fallback of the type
/// `NotPatchable` instead, and a local trait, implemented only for the real constant's type, says
/// so at the function's name in the path. Where the fallback is depends on what the path's
/// second-to-last segment names, told by its first letter:
///
/// - a module (`crate::net::checksum`, lowercase): the constant is looked up in a block that
///   glob-imports the module, inside a block that defines the fallback; a glob import of the
///   inner block is found before the items of the outer one, so the fallback is found only when
///   the module has no constant of that name (the functions `#[patchable]` did not mark);
/// - a type (`crate::Conn::send`, uppercase): the constant is an associated constant, and a
///   blanket trait in scope with the fallback as a default associated constant is found only when
///   the type has no inherent one.
///
/// A path of one segment names a function in the patch's scope; its constant is looked up there,
/// with no fallback. A path to nothing at all gets the compiler's own error, at the path.
///
/// Returns the lookup with the patchable check, for the descriptor, and without it, for the
/// object check (where the fallback's object is nothing to check).
fn slot_lookup(
    patch: &Patch,
    function: &Function,
    target: &syn::Path,
) -> Option<(TokenStream, TokenStream)> {
    let private = private(patch);
    let last = target.segments.last()?;
    let span = last.ident.span();
    let slot = format_ident!(
        "__livepatch_slot_{}",
        ident_string(&last.ident),
        span = span
    );
    let mut hidden = target.clone();
    if let Some(last) = hidden.segments.last_mut() {
        last.ident = slot.clone();
    }
    let count = target.segments.len();
    if count == 1 {
        return Some((hidden.to_token_stream(), hidden.to_token_stream()));
    }
    let owner = &target.segments[count - 2].ident;
    let is_type = ident_string(owner).starts_with(char::is_uppercase);
    let text = docs::path_string(target);
    let attr = match &function.object {
        ObjectRef::Program => "#[livepatch::patchable]".to_owned(),
        ObjectRef::Named(name) => format!("#[livepatch::patchable(object = \"{name}\")]"),
        ObjectRef::Const(name) => format!("#[livepatch::patchable(object = {})]", name.text),
    };
    let (message, label) = if is_type {
        (
            format!(
                "`{text}` is not patchable: mark its impl block `{attr}` in the program (or \
                 replace a method that is)"
            ),
            "not a method of a `#[patchable]` impl block",
        )
    } else {
        (
            format!(
                "`{text}` is not patchable: mark it `{attr}` in the program (or replace a \
                 function that is)"
            ),
            "not a `#[patchable]` function",
        )
    };
    let note = format!(
        "a {0} that does not exist is reported this way too: if there is no {0} named `{1}` \
         there, check the path",
        if is_type { "method" } else { "function" },
        ident_string(&last.ident),
    );
    // The check is a bound on a type the path gives (a method's type), so that when the path
    // does not resolve (an error type), the compiler reports only the path and not this bound.
    let check = respan(
        quote! {
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            trait __LivepatchPatchable<S> {
                type Slot;
            }
            impl<F, G> __LivepatchPatchable<#private::PatchableFn<F>> for G
            where
                F: 'static,
                G: ?::core::marker::Sized,
            {
                type Slot = #private::PatchableFn<F>;
            }
            const fn __livepatch_patchable<T, G>(slot: T, _target: &G) -> G::Slot
            where
                G: __LivepatchPatchable<T, Slot = T> + ?::core::marker::Sized,
            {
                slot
            }
        },
        span,
    );
    let call = respan(quote!(__livepatch_patchable), span);
    // What owns the function, the path without its last segment, is imported by its own name,
    // and everything else goes through that name: a path that does not resolve is reported once,
    // by the import, at the user's tokens (with the compiler's suggestion of a similar path
    // there, which then fits the attribute), and what goes through the name reports nothing
    // more. `crate`, `self` and `super` alone always resolve, and cannot be imported so.
    let mut owner = target.clone();
    owner.segments.pop();
    owner.segments.pop_punct();
    let owner_name = owner.segments.last().map(|s| s.ident.clone())?;
    let keyword_only =
        owner.segments.len() == 1 && owner.leading_colon.is_none() && is_path_keyword(&owner_name);
    let (import, alias) = if keyword_only {
        (TokenStream::new(), owner.to_token_stream())
    } else {
        let allow = respan(quote!(#[allow(unused_imports)]), span);
        (quote!(#allow use #owner;), owner_name.to_token_stream())
    };
    let (found, raw) = if is_type {
        let fallback = respan(
            quote! {
                #[allow(dead_code)]
                trait __LivepatchNotPatchable {
                    #[allow(non_upper_case_globals)]
                    const #slot: #private::NotPatchable = #private::NotPatchable;
                }
                impl<T: ?Sized> __LivepatchNotPatchable for T {}
            },
            span,
        );
        // The arguments carry the last segment's span, so that the bound and the argument
        // report one error at one place. The type itself is the check's subject (the method
        // would do, but a private method cannot be named here, while its slot can).
        let args = respan(
            quote!(#alias::#slot, &::core::marker::PhantomData::<#alias>),
            span,
        );
        let mut found = Group::new(Delimiter::Parenthesis, args);
        found.set_span(span);
        let raw = respan(quote!(#alias::#slot), span);
        (
            quote!(#import #fallback #call #found),
            quote!(#import #fallback #raw),
        )
    } else {
        let glob = respan(quote!(::*;), span);
        let fallback = respan(
            quote! {
                #[allow(dead_code, non_upper_case_globals)]
                const #slot: #private::NotPatchable = #private::NotPatchable;
            },
            span,
        );
        let allow = respan(quote!(#[allow(unused_imports)] use), span);
        let mut inner = Group::new(Delimiter::Brace, quote!(#allow #alias #glob #slot));
        inner.set_span(span);
        // A module gives the check no type of its own: the function would, but a private one
        // cannot be named here, while its slot can. So a module path that does not resolve is
        // reported by the import and, again, as not patchable.
        let args = respan(quote!(#inner, &#private::NotPatchable), span);
        let mut found = Group::new(Delimiter::Parenthesis, args);
        found.set_span(span);
        (
            quote!(#import #fallback #call #found),
            quote!(#import #fallback #inner),
        )
    };
    let block = |tokens: TokenStream| {
        let mut block = Group::new(Delimiter::Brace, tokens);
        block.set_span(span);
        block.to_token_stream()
    };
    Some((block(quote!(#check #found)), block(raw)))
}

fn fallback_descriptor(patch: &Patch) -> TokenStream {
    let generated_clash = patch.descriptor_name_clashes().next().is_some();
    if generated_clash {
        return TokenStream::new();
    }
    let private = private(patch);
    let name = patch.name();
    quote! {
        #[doc = " The patch's descriptor, left empty because the patch has errors."]
        pub static PATCH: #private::PatchDesc = #private::PatchDesc::new(#name);
    }
}

/// What other patches need to check that they may follow this one.
fn lineage(patch: &Patch) -> TokenStream {
    let private = private(patch);
    let name = patch.name();
    let replace = patch.replace.is_some();
    let states = patch.states.iter().filter_map(|state| {
        let id = state.id.as_ref()?.value;
        let version = state.version.as_ref()?.value;
        let state_name = ident_string(&state.name);
        Some(quote! {
            #private::LineageState { name: #state_name, id: #id, version: #version }
        })
    });
    quote! {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub const __LIVEPATCH_LINEAGE: #private::Lineage = #private::Lineage {
            name: #name,
            replace: #replace,
            states: &[#(#states),*],
        };
    }
}

/// What a patch library's manifest lists of the patch: its lineage, its states' data types (in
/// the order of the lineage's states), its objects, their callbacks and the functions they
/// replace.
fn contents(patch: &Patch) -> TokenStream {
    let private = private(patch);
    let data = patch
        .states
        .iter()
        .filter(|state| state.id.is_some() && state.version.is_some())
        .map(docs::data_string);
    let index = patch.callback_index();
    let objects = patch.objects().into_iter().map(|object| {
        let name = object.display_name();
        let callbacks = CallbackKind::ALL.into_iter().filter_map(|kind| {
            let callback = &patch.callbacks[*index.get(&(kind, object))?];
            let (kind, function) = (kind.attr_name(), ident_string(&callback.sig.ident));
            Some(quote!((#kind, #function)))
        });
        let functions = patch
            .functions
            .iter()
            .filter(|function| function.object == *object)
            .filter_map(|function| {
                let target = docs::path_string(function.target.as_ref()?);
                let replacement = ident_string(&function.sig.ident);
                Some(quote!((#replacement, #target)))
            });
        quote! {
            #private::library::ContentObject {
                name: #name,
                callbacks: &[#(#callbacks),*],
                functions: &[#(#functions),*],
            }
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub const __LIVEPATCH_CONTENTS: #private::library::Contents = #private::library::Contents {
            lineage: __LIVEPATCH_LINEAGE,
            data: &[#(#data),*],
            objects: &[#(#objects),*],
        };
    }
}

/// One compile-time check per followed patch, placed at its path in `follows = [...]`: the
/// rules of enable (SPEC §2) applied to this patch enabled after that one.
fn follows_checks(patch: &Patch) -> TokenStream {
    let private = private(patch);
    let checks = patch.follows.iter().map(|path| {
        // The whole check carries the span of the path, so that its error underlines the path.
        let first = first_span(path);
        let last = path.segments.last().map_or(first, |s| s.ident.span());
        let ours = respan(quote!(&__LIVEPATCH_LINEAGE,), first);
        let theirs = quote_spanned!(last=> __LIVEPATCH_LINEAGE);
        let mut args = Group::new(Delimiter::Parenthesis, quote!(#ours &#path::#theirs));
        args.set_span(last);
        let verdict = respan(quote!(#private::follows_verdict), first);
        verdict_const(quote!(#verdict #args), last)
    });
    quote!(#(#checks)*)
}

/// A constant that stops the build with `verdict`'s message, reported at `span`, when the check
/// it evaluates to fails.
fn verdict_const(verdict: TokenStream, span: Span) -> TokenStream {
    let fail = respan(
        quote! {
            if !__livepatch_verdict.is_ok() {
                ::core::panic!("{}", __livepatch_verdict.message())
            }
        },
        span,
    );
    // The binding carries the span of its uses (see `function_desc`).
    let binding = format_ident!("__livepatch_verdict", span = span);
    quote! {
        const _: () = {
            let #binding = #verdict;
            #fail
        };
    }
}

/// A callback attribute that `#[livepatch]` did not consume: an error at the attribute, and the
/// item unchanged.
pub fn callback_outside_patch(kind: &str, item: TokenStream) -> TokenStream {
    outside_patch(
        &format!(
            "`#[{kind}]` marks a callback of a live patch: put this function directly inside a \
             `#[livepatch(...)]` module"
        ),
        item,
    )
}

/// `#[replaces]` that `#[livepatch]` did not consume: an error at the attribute, and the item
/// unchanged.
pub fn replaces_outside_patch(item: TokenStream) -> TokenStream {
    outside_patch(
        "`#[replaces(path)]` marks a replacement function of a live patch: put this function \
         directly inside a `#[livepatch(...)]` module",
        item,
    )
}

/// An attribute of a patch module's functions found outside one: `message` at the attribute, and
/// the item unchanged (a function is not warned about as unused).
fn outside_patch(message: &str, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(Span::call_site(), message).into_compile_error();
    let item = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(mut f)) => {
            f.attrs.push(parse_quote!(#[allow(dead_code)]));
            quote!(#f)
        }
        _ => item,
    };
    quote! {
        #error
        #item
    }
}
