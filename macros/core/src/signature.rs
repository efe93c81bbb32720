//! What `#[patchable]` and `#[replaces]` need from a function's signature: the forms a slot cannot
//! hold (refused under the tokens that make them), and the function pointer type a slot holds.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{
    FnArg, GenericParam, Lifetime, ParenthesizedGenericArguments, ReceiverKind, ReturnType,
    Signature, Type, TypeFnPtr, TypeImplTrait, TypePath, TypeReference,
};

/// Which attribute a signature is checked for: the wording of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A `#[patchable]` function, written free.
    Patchable,
    /// A method of a `#[patchable]` impl block.
    Method,
    /// A `#[replaces(...)]` function of a patch.
    Replacement,
}

impl Role {
    fn subject(self) -> &'static str {
        match self {
            Role::Patchable => "a `#[patchable]` function",
            Role::Method => "a method of a `#[patchable]` impl block",
            Role::Replacement => "a `#[replaces]` function",
        }
    }
}

/// Every form of `sig` that a slot cannot hold, each with the tokens to point at and a message
/// that says why and what to do instead.
pub fn unsupported(sig: &Signature, role: Role) -> Vec<(TokenStream, String)> {
    let subject = role.subject();
    let mut errors = Vec::new();
    let elsewhere = match role {
        Role::Method => " (or move the method to an impl block without `#[patchable]`)",
        _ => "",
    };
    let mut refuse = |tokens: TokenStream, what: &str, why: &str| {
        errors.push((tokens, format!("{subject} cannot {what}: {why}{elsewhere}")));
    };
    if let Some(token) = &sig.constness {
        refuse(
            token.to_token_stream(),
            "be a `const fn`",
            "a call evaluated at compile time cannot be patched; remove `const`",
        );
    }
    if let Some(token) = &sig.asyncness {
        refuse(
            token.to_token_stream(),
            "be an `async fn`",
            "its future runs after the call has returned, out of reach of the per-thread \
             consistency model; make the synchronous work a patchable function and call it from \
             the `async fn`",
        );
    }
    if let Some(abi) = &sig.abi {
        refuse(
            abi.to_token_stream(),
            "be `extern`",
            "slots call Rust functions; remove the ABI, and if foreign code calls this function, \
             wrap a patchable Rust function in an `extern` one",
        );
    }
    if let Some(variadic) = &sig.variadic {
        refuse(
            variadic.to_token_stream(),
            "be variadic",
            "a slot holds a Rust function pointer, which takes a fixed list of arguments",
        );
    }
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(lifetime) if lifetime.colon_token.is_some() => refuse(
                param.to_token_stream(),
                "have lifetime bounds",
                "a slot holds one function pointer for every lifetime, and bounds between \
                 lifetimes cannot be written in its type; remove the bound",
            ),
            GenericParam::Lifetime(_) => {}
            _ => refuse(
                param.to_token_stream(),
                "be generic",
                "a generic function is compiled once per type, and a slot holds one function \
                 pointer; write a patchable function for each type you need",
            ),
        }
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        refuse(
            where_clause.to_token_stream(),
            "have a `where` clause",
            "a slot holds one function pointer for every lifetime, and bounds cannot be written \
             in its type; remove the clause",
        );
    }
    let mut impl_traits = ImplTraits::default();
    for arg in &sig.inputs {
        if let FnArg::Typed(arg) = arg {
            impl_traits.visit_type(&arg.ty);
        }
    }
    for ty in impl_traits.found.drain(..) {
        refuse(
            ty,
            "be generic",
            "an `impl Trait` argument makes the function generic, and a slot holds one function \
             pointer; take a concrete type or `&dyn Trait`",
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        impl_traits.visit_type(ty);
    }
    for ty in impl_traits.found {
        refuse(
            ty,
            "return `impl Trait`",
            "a replacement could not return the same hidden type; return a named type or \
             `Box<dyn Trait>`",
        );
    }
    if role == Role::Replacement
        && let Some(receiver) = sig.receiver()
    {
        errors.push((
            receiver.to_token_stream(),
            format!(
                "{subject} is a free function: to replace a method, take its receiver as the \
                 first argument (`this: &Type` for `&self`)"
            ),
        ));
    }
    errors
}

/// Finds `impl Trait` types, outside function pointer types and `Fn(..)` bounds, whose own
/// arguments are not the function's.
#[derive(Default)]
struct ImplTraits {
    found: Vec<TokenStream>,
}

impl<'ast> Visit<'ast> for ImplTraits {
    fn visit_type_impl_trait(&mut self, ty: &'ast TypeImplTrait) {
        self.found.push(ty.to_token_stream());
    }
}

/// Whether `Self` appears in the signature's types: the function is a method.
pub fn mentions_self(sig: &Signature) -> bool {
    #[derive(Default)]
    struct FindSelf(bool);
    impl<'ast> Visit<'ast> for FindSelf {
        fn visit_type_path(&mut self, ty: &'ast TypePath) {
            if ty.qself.is_none()
                && ty
                    .path
                    .segments
                    .first()
                    .is_some_and(|segment| segment.ident == "Self")
            {
                self.0 = true;
            }
            syn::visit::visit_type_path(self, ty);
        }
    }
    let mut find = FindSelf::default();
    for arg in &sig.inputs {
        if let FnArg::Typed(arg) = arg {
            find.visit_type(&arg.ty);
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        find.visit_type(ty);
    }
    find.0
}

/// Replaces `Self` with the impl's type, in a type that goes where `Self` is not in scope.
struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(path) = ty
            && path.qself.is_none()
            && path
                .path
                .segments
                .first()
                .is_some_and(|segment| segment.ident == "Self")
        {
            let self_ty = self.0;
            let rest: Vec<_> = path.path.segments.iter().skip(1).collect();
            *ty = if rest.is_empty() {
                self_ty.clone()
            } else {
                syn::parse_quote!(<#self_ty>::#(#rest)::*)
            };
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// Gives the elided lifetimes of a method's return type the receiver's lifetime, as the method's
/// elision rules do; a function pointer type has no receiver, so it must say so. Nested function
/// pointer types and `Fn(..)` bounds have their own elision and are left alone.
struct ElidedToReceiver<'a>(&'a Lifetime);

impl VisitMut for ElidedToReceiver<'_> {
    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        if ty.lifetime.is_none() {
            ty.lifetime = Some(self.0.clone());
        }
        syn::visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.0.clone();
        }
    }

    fn visit_type_fn_ptr_mut(&mut self, _: &mut TypeFnPtr) {}

    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut ParenthesizedGenericArguments) {
    }
}

/// A lifetime for an elided receiver lifetime, named for readers of type errors (`'this`) and
/// distinct from the function's own, added to `lifetimes`.
fn fresh_lifetime(lifetimes: &mut Vec<Lifetime>) -> Lifetime {
    let mut name = String::from("'this");
    while lifetimes.iter().any(|l| l.to_string() == name) {
        name.push('_');
    }
    let fresh = Lifetime::new(&name, Span::call_site());
    lifetimes.push(fresh.clone());
    fresh
}

/// The type `sig`'s function has as a function pointer: its lifetimes bound with `for<..>`, and
/// for a method of `self_ty`, the receiver as the first argument and `Self` spelled out.
pub fn fn_pointer_type(sig: &Signature, self_ty: Option<&Type>) -> TokenStream {
    let mut lifetimes: Vec<Lifetime> = sig
        .generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Lifetime(param) => Some(param.lifetime.clone()),
            _ => None,
        })
        .collect();
    let mut inputs = Vec::new();
    let mut receiver_lifetime = None;
    for arg in &sig.inputs {
        let mut ty = match arg {
            FnArg::Receiver(receiver) => {
                let self_ty = match self_ty {
                    Some(ty) => ty.clone(),
                    None => syn::parse_quote!(Self),
                };
                match &receiver.kind {
                    ReceiverKind::Reference(_, lifetime, mutability) => {
                        let lifetime = match lifetime {
                            Some(lifetime) => lifetime.clone(),
                            None => fresh_lifetime(&mut lifetimes),
                        };
                        receiver_lifetime = Some(lifetime.clone());
                        syn::parse_quote!(&#lifetime #mutability #self_ty)
                    }
                    // `self: &Self` elides like `&self`; other typed receivers do not.
                    ReceiverKind::Typed(_, ty) => match &**ty {
                        Type::Reference(reference) => {
                            let mut reference = reference.clone();
                            let lifetime = reference
                                .lifetime
                                .get_or_insert_with(|| fresh_lifetime(&mut lifetimes));
                            receiver_lifetime = Some(lifetime.clone());
                            Type::Reference(reference)
                        }
                        other => other.clone(),
                    },
                    _ => self_ty,
                }
            }
            FnArg::Typed(arg) => (*arg.ty).clone(),
        };
        if let Some(self_ty) = self_ty {
            ReplaceSelf(self_ty).visit_type_mut(&mut ty);
        }
        inputs.push(ty);
    }
    let output = match &sig.output {
        ReturnType::Default => TokenStream::new(),
        ReturnType::Type(arrow, ty) => {
            let mut ty = (**ty).clone();
            if let Some(self_ty) = self_ty {
                ReplaceSelf(self_ty).visit_type_mut(&mut ty);
            }
            if let Some(lifetime) = &receiver_lifetime {
                ElidedToReceiver(lifetime).visit_type_mut(&mut ty);
            }
            quote!(#arrow #ty)
        }
    };
    let binder = if lifetimes.is_empty() {
        TokenStream::new()
    } else {
        quote!(for<#(#lifetimes),*>)
    };
    let safety = match &sig.safety {
        syn::Safety::Unsafe(token) => quote!(#token),
        _ => TokenStream::new(),
    };
    quote!(#binder #safety fn(#(#inputs),*) #output)
}
