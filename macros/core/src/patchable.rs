//! `#[patchable]`: a function, or every method of an inherent impl block, dispatches through a
//! slot that patches can replace.
//!
//! For a function `name`, the macro keeps the signature and visibility, moves the body into an
//! original function held by the slot, and generates one hidden constant beside it (in the impl
//! block, for a method): `__livepatch_slot_name`, a `PatchableFn<fn(..) -> ..>` that holds the
//! `&'static FuncSlot` and the object the function belongs to. `#[replaces(path::name)]` in a
//! patch reaches it by putting `__livepatch_slot_` before the last segment of its path, the same
//! rule for functions and methods.
//!
//! The constant is `pub` whatever the function's visibility, so that a private function is
//! replaceable from another module or crate, as the kernel patches `static` functions: it is
//! reachable wherever the function's module (or type) is, and the patch has to name the path to
//! it (from another crate, through `pub` modules, `#[doc(hidden)]` ones or re-exports). Its
//! `allow`s cover a signature with a type less visible than the constant, and `unreachable_pub`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::parse::{ParseStream, Parser};
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemFn, ItemImpl, LitStr, Pat, Path,
    Signature, Token, Type,
};

use crate::ast::{ObjectRef, ident_string};
use crate::attr;
use crate::ctxt::Ctxt;
use crate::signature::{self, Role};
use crate::validate;

mod kw {
    syn::custom_keyword!(object);
}

/// The arguments of `#[patchable(...)]`.
#[derive(Default)]
struct Args {
    object: Option<(ObjectRef, Option<LitStr>)>,
    krate: Option<Path>,
}

impl Args {
    fn object(&self) -> ObjectRef {
        self.object
            .as_ref()
            .map_or(ObjectRef::Program, |(object, _)| object.clone())
    }
}

/// `#[patchable(args)] item`: the item made patchable, or the errors found and the item as it
/// was. Never panics, whatever the tokens.
pub fn patchable(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let args = parse_args(args, &mut cx);
    let expanded = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => free_function(&function, &args, &mut cx),
        Ok(Item::Impl(block)) => impl_block(&block, &args, &mut cx),
        Ok(other) => {
            cx.error_spanned_by(
                crate::parse::item_head(&other),
                "`#[patchable]` goes on a function (`#[patchable] fn name(..)`) or on an \
                 inherent impl block (`#[patchable] impl Type { .. }`), whose methods it makes \
                 patchable",
            );
            None
        }
        Err(error) => {
            cx.syn_error(error);
            None
        }
    };
    match (cx.into_error(), expanded) {
        (None, Some(expanded)) => expanded,
        (error, _) => {
            let error = error.map(syn::Error::into_compile_error);
            quote!(#error #item)
        }
    }
}

fn parse_args(args: TokenStream, cx: &mut Ctxt) -> Args {
    let mut parsed = Args::default();
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::object) {
                attr::object_argument(input, &mut parsed.object, cx)?;
            } else if lookahead.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                if input.peek(LitStr) {
                    return Err(
                        input.error("`crate` is a path, not a string: `crate = ::my_livepatch`")
                    );
                }
                let path: Path = input.parse()?;
                if parsed.krate.is_some() {
                    cx.error_spanned_by(key, "`crate` is given twice: keep one of them");
                } else {
                    parsed.krate = Some(path);
                }
            } else {
                return Err(lookahead.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(args) {
        cx.syn_error(error);
    }
    validate::check_object_name(
        parsed.object.as_ref().and_then(|(_, lit)| lit.as_ref()),
        "`#[patchable(object = \"net\")]`",
        "write `#[patchable]` for a function of the program itself",
        "write `#[patchable]` without `object` for its functions",
        cx,
    );
    parsed
}

fn private(args: &Args) -> TokenStream {
    match &args.krate {
        Some(krate) => quote!(#krate::__private),
        None => quote!(::livepatch::__private),
    }
}

fn object_expr(args: &Args) -> TokenStream {
    let private = private(args);
    let object = args.object();
    match object {
        ObjectRef::Program => quote!(#private::ObjectName::Program),
        ObjectRef::Named(_) | ObjectRef::Const(_) => {
            let name = object.name_tokens();
            quote!(#private::ObjectName::Named(#name))
        }
    }
}

fn check_signature(sig: &Signature, role: Role, cx: &mut Ctxt) {
    for (tokens, message) in signature::unsupported(sig, role) {
        cx.error_spanned_by(tokens, message);
    }
}

/// The wrapper's parameters and the arguments it passes on: each parameter a plain name, so that
/// the original keeps the user's patterns.
struct Forward {
    params: Vec<TokenStream>,
    args: Vec<TokenStream>,
}

fn forward(sig: &Signature) -> Forward {
    let mut forward = Forward {
        params: Vec::new(),
        args: Vec::new(),
    };
    for (i, arg) in sig.inputs.iter().enumerate() {
        match arg {
            FnArg::Receiver(receiver) => {
                let mut receiver = receiver.clone();
                receiver.mutability = None;
                forward.params.push(quote!(#receiver));
                let token = receiver.self_token;
                forward.args.push(quote!(#token));
            }
            FnArg::Typed(arg) => {
                let name = match &*arg.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        pat.ident.clone()
                    }
                    _ => format_ident!("__livepatch_arg{}", i, span = Span::mixed_site()),
                };
                let (attrs, ty) = (&arg.attrs, &arg.ty);
                forward.params.push(quote!(#(#attrs)* #name: #ty));
                forward.args.push(quote!(#name));
            }
        }
    }
    forward
}

/// The attributes of the wrapper (all of the user's; an `expect` becomes an `allow`, since the
/// wrapper's body is not the user's) and of the original (the lint levels, and `cfg`s).
fn split_attrs(attrs: &[Attribute]) -> (Vec<Attribute>, Vec<Attribute>) {
    const LINT_LEVELS: [&str; 5] = ["allow", "expect", "warn", "deny", "forbid"];
    let mut wrapper = Vec::new();
    let mut original = Vec::new();
    for attr in attrs {
        let lint = LINT_LEVELS.iter().any(|level| attr.path().is_ident(level));
        if lint || attr.path().is_ident("cfg") {
            original.push(attr.clone());
        }
        if attr.path().is_ident("expect") {
            let mut allow = attr.clone();
            if let syn::Meta::List(list) = &mut allow.meta {
                list.path = syn::parse_quote!(allow);
            }
            wrapper.push(allow);
        } else {
            wrapper.push(attr.clone());
        }
    }
    (wrapper, original)
}

fn cfgs(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("cfg")).collect()
}

/// The call through the slot: `slot.call(|f| f(args))`, in an `unsafe` block for an `unsafe fn`.
fn dispatch(slot: TokenStream, sig: &Signature, args: &[TokenStream]) -> TokenStream {
    let f = Ident::new("__livepatch_f", Span::mixed_site());
    let call = quote!(#f(#(#args),*));
    let call = match &sig.safety {
        syn::Safety::Unsafe(_) => quote!(unsafe { #call }),
        _ => call,
    };
    quote!(#slot.call(|#f| #call))
}

/// The hidden constant of one patchable function, with its slot and its object.
struct Hidden<'a> {
    args: &'a Args,
    cfgs: Vec<&'a Attribute>,
    ident: &'a Ident,
    /// The slot's name after the module path: `::name` or `::Type::name`.
    suffix: String,
    fn_type: TokenStream,
}

impl Hidden<'_> {
    /// `__livepatch_slot_NAME`: the slot, holding `original` (defined by `original_fn`), and the
    /// object.
    fn items(&self, original_fn: TokenStream, original: TokenStream) -> TokenStream {
        let private = private(self.args);
        let name = ident_string(self.ident);
        let slot = format_ident!("__livepatch_slot_{}", name, span = self.ident.span());
        let (cfgs, fn_type, suffix) = (&self.cfgs, &self.fn_type, &self.suffix);
        let object = object_expr(self.args);
        let doc = format!(" The slot and object `#[patchable]` made for `{name}`.");
        quote! {
            #[doc = #doc]
            #[doc(hidden)]
            #[allow(non_upper_case_globals, private_interfaces, unreachable_pub)]
            #(#cfgs)*
            pub const #slot: #private::PatchableFn<#fn_type> = #private::PatchableFn {
                slot: {
                    #original_fn
                    static __LIVEPATCH_SLOT: #private::FuncSlot<#fn_type> = #private::FuncSlot::new(
                        ::core::concat!(::core::module_path!(), #suffix),
                        #object,
                        #original,
                    );
                    &__LIVEPATCH_SLOT
                },
                object: #object,
            };
        }
    }
}

fn free_function(function: &ItemFn, args: &Args, cx: &mut Ctxt) -> Option<TokenStream> {
    let sig = &function.sig;
    if let Some(receiver) = sig.receiver() {
        cx.error_spanned_by(
            receiver,
            "`#[patchable]` cannot see the impl block a method is in: put it on the block, \
             `#[patchable] impl Type { .. }`, to make every method of the block patchable",
        );
        return None;
    }
    if signature::mentions_self(sig) {
        cx.error_spanned_by(
            &sig.ident,
            "`#[patchable]` cannot see the impl block a function that mentions `Self` is in: \
             put it on the block, `#[patchable] impl Type { .. }`, to make every function of \
             the block patchable",
        );
        return None;
    }
    check_signature(sig, Role::Patchable, cx);
    if cx.has_errors() {
        return None;
    }
    let (wrapper_attrs, original_attrs) = split_attrs(&function.attrs);
    let mut original_sig = sig.clone();
    original_sig.ident = Ident::new("__livepatch_original", Span::mixed_site());
    let body = &function.block;
    let original_fn = quote!(#(#original_attrs)* #original_sig #body);
    let original = original_sig.ident.to_token_stream();
    let hidden = Hidden {
        args,
        cfgs: cfgs(&function.attrs),
        ident: &sig.ident,
        suffix: format!("::{}", ident_string(&sig.ident)),
        fn_type: signature::fn_pointer_type(sig, None),
    }
    .items(original_fn, original);
    let Forward { params, args } = forward(sig);
    let slot = format_ident!("__livepatch_slot_{}", ident_string(&sig.ident));
    let body = dispatch(quote!(#slot.slot), sig, &args);
    let vis = &function.vis;
    let (constness, asyncness, safety, abi, fn_token, ident, generics, output) = (
        &sig.constness,
        &sig.asyncness,
        &sig.safety,
        &sig.abi,
        &sig.fn_token,
        &sig.ident,
        &sig.generics,
        &sig.output,
    );
    let where_clause = &generics.where_clause;
    Some(quote! {
        #hidden
        #(#wrapper_attrs)*
        #vis #constness #asyncness #safety #abi #fn_token #ident #generics (#(#params),*) #output
        #where_clause
        {
            #body
        }
    })
}

fn impl_block(block: &ItemImpl, args: &Args, cx: &mut Ctxt) -> Option<TokenStream> {
    if let Some((path, for_token)) = &block.trait_ {
        cx.error_spanned_by(
            quote!(#path #for_token),
            "`#[patchable]` cannot make a trait's methods patchable: they are reached through \
             the trait, also as `dyn` methods; put the code in an inherent method or a free \
             function marked `#[patchable]`, and call it from the trait method",
        );
    }
    if !block.generics.params.is_empty() || block.generics.where_clause.is_some() {
        let generics = &block.generics;
        let where_clause = &generics.where_clause;
        cx.error_spanned_by(
            quote!(#generics #where_clause),
            "`#[patchable]` cannot make the methods of a generic impl block patchable: each \
             instance of the type has its own copy of the code, and a slot holds one function; \
             write the impl block for a concrete type",
        );
    }
    if cx.has_errors() {
        return None;
    }
    let self_ty = &*block.self_ty;
    let type_name = crate::docs::type_string(self_ty);
    let mut items = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(method) = item else {
            items.push(item.to_token_stream());
            continue;
        };
        check_signature(&method.sig, Role::Method, cx);
        items.push(method_items(method, self_ty, &type_name, args));
    }
    if cx.has_errors() {
        return None;
    }
    let mut block = block.clone();
    block.items = vec![ImplItem::Verbatim(quote!(#(#items)*))];
    Some(block.into_token_stream())
}

fn method_items(method: &ImplItemFn, self_ty: &Type, type_name: &str, args: &Args) -> TokenStream {
    let sig = &method.sig;
    let name = ident_string(&sig.ident);
    let (wrapper_attrs, original_attrs) = split_attrs(&method.attrs);
    let mut original_sig = sig.clone();
    original_sig.ident = format_ident!("__livepatch_original_{}", name);
    let original_ident = &original_sig.ident;
    let body = &method.block;
    let original_method = quote! {
        #[doc(hidden)]
        #(#original_attrs)*
        #original_sig #body
    };
    let hidden = Hidden {
        args,
        cfgs: cfgs(&method.attrs),
        ident: &sig.ident,
        suffix: format!("::{type_name}::{name}"),
        fn_type: signature::fn_pointer_type(sig, Some(self_ty)),
    }
    .items(TokenStream::new(), quote!(<#self_ty>::#original_ident));
    let Forward { params, args } = forward(sig);
    let slot = format_ident!("__livepatch_slot_{}", name);
    let body = dispatch(quote!(Self::#slot.slot), sig, &args);
    let vis = &method.vis;
    let (safety, fn_token, ident, generics, output) = (
        &sig.safety,
        &sig.fn_token,
        &sig.ident,
        &sig.generics,
        &sig.output,
    );
    quote! {
        #hidden
        #original_method
        #(#wrapper_attrs)*
        #vis #safety #fn_token #ident #generics (#(#params),*) #output {
            #body
        }
    }
}
