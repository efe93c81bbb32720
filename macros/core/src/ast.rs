//! The typed model of one `#[livepatch]` module, as parsed and before it is checked.
//!
//! Every value keeps the user's tokens it came from, so that validation can put its errors under
//! them. Values that failed to parse are absent (`None`): parsing already reported them, and the
//! checks that need them are skipped, so one mistake gives one error.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::{Attribute, Ident, Item, ItemMod, LitStr, Path, Signature, Type};

/// A patch: the arguments of `#[livepatch(...)]` and what the module contains.
pub struct Patch {
    /// The module, with the callback attributes (`#[pre_patch]`, ...) removed from its items.
    pub module: ItemMod,
    /// `name = "..."`; the module's name when absent.
    pub name: Option<Spanned<String>>,
    /// `replace`: the patch is cumulative.
    pub replace: Option<Span>,
    /// `follows = [...]`: the patches this one is meant to be enabled after.
    pub follows: Vec<Path>,
    /// `crate = path`: where the `livepatch` crate is, for a crate that renames it.
    pub krate: Option<Path>,
    /// `states = [...]`, in declaration order.
    pub states: Vec<State>,
    /// The callbacks found among the module's functions, in source order.
    pub callbacks: Vec<Callback>,
    /// The replacement functions (`#[replaces(path)]`) found among the module's functions, in
    /// source order.
    pub functions: Vec<Function>,
}

impl Patch {
    /// The name of the generated descriptor.
    pub const DESCRIPTOR: &'static str = "PATCH";

    /// The module's items, and the states, whose names clash with the generated descriptor.
    pub fn descriptor_name_clashes(&self) -> impl Iterator<Item = &Ident> {
        let items = self.module.content.iter().flat_map(|(_, items)| items);
        let item_names = items.filter_map(|item| match item {
            Item::Const(i) => Some(&i.ident),
            Item::Static(i) => Some(&i.ident),
            Item::Fn(i) => Some(&i.sig.ident),
            Item::Struct(i) => Some(&i.ident),
            Item::Enum(i) => Some(&i.ident),
            Item::Mod(i) => Some(&i.ident),
            Item::Type(i) => Some(&i.ident),
            Item::Union(i) => Some(&i.ident),
            _ => None,
        });
        let state_names = self.states.iter().map(|s| &s.name);
        item_names
            .chain(state_names)
            .filter(|ident| *ident == Self::DESCRIPTOR)
    }

    /// The objects of the patch in descriptor order: the program first, always, then the named
    /// objects in the order their first callback or replacement function appears in the module.
    pub fn objects(&self) -> Vec<&ObjectRef> {
        let mut marked: Vec<(usize, &ObjectRef)> = self
            .callbacks
            .iter()
            .map(|c| (c.item, &c.object))
            .chain(self.functions.iter().map(|f| (f.item, &f.object)))
            .collect();
        marked.sort_by_key(|(item, _)| *item);
        let mut seen = HashSet::new();
        std::iter::once(&ObjectRef::Program)
            .chain(marked.into_iter().map(|(_, object)| object))
            .filter(|object| seen.insert(*object))
            .collect()
    }

    /// Where each object's callback of each kind is in [`Patch::callbacks`] (the first one, when
    /// validation found two).
    pub fn callback_index(&self) -> HashMap<(CallbackKind, &ObjectRef), usize> {
        let mut index = HashMap::new();
        for (i, callback) in self.callbacks.iter().enumerate() {
            index.entry((callback.kind, &callback.object)).or_insert(i);
        }
        index
    }

    /// The patch's name: the `name` argument, or the module's name.
    pub fn name(&self) -> String {
        match &self.name {
            Some(name) => name.value.clone(),
            None => ident_string(&self.module.ident),
        }
    }
}

/// A value with the span of the tokens that gave it.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// One entry of `states = [...]`: `/// doc` `NAME { id: 1, version: 2, data: Type }`.
pub struct State {
    /// The doc comments written above the entry, as `#[doc]` attributes.
    pub docs: Vec<Attribute>,
    /// The name of the generated state handle.
    pub name: Ident,
    /// `id: ...`, when it parsed.
    pub id: Option<Spanned<u64>>,
    /// `version: ...`, when it parsed.
    pub version: Option<Spanned<u32>>,
    /// `data: ...`; `()` when absent.
    pub data: Option<Type>,
    /// The braces of the entry, to point at when a key is missing.
    pub body: Span,
    /// Whether every key of the entry parsed; when not, the parse error was already reported and
    /// the missing-key check is skipped.
    pub complete: bool,
}

impl State {
    /// The doc comment text, one string per line, with the leading space of `/// text` removed.
    pub fn doc_lines(&self) -> Vec<String> {
        self.docs
            .iter()
            .filter_map(|attr| match &attr.meta {
                syn::Meta::NameValue(nv) => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => Some(s.value()),
                    _ => None,
                },
                _ => None,
            })
            .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
            .collect()
    }
}

/// The four kinds of callback, in the order the runtime's object descriptor lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallbackKind {
    /// `#[pre_patch]`
    PrePatch,
    /// `#[post_patch]`
    PostPatch,
    /// `#[pre_unpatch]`
    PreUnpatch,
    /// `#[post_unpatch]`
    PostUnpatch,
}

impl CallbackKind {
    /// Every kind, in descriptor order.
    pub const ALL: [CallbackKind; 4] = [
        CallbackKind::PrePatch,
        CallbackKind::PostPatch,
        CallbackKind::PreUnpatch,
        CallbackKind::PostUnpatch,
    ];

    /// The attribute's name, which is also the runtime's name for the callback.
    pub fn attr_name(self) -> &'static str {
        match self {
            CallbackKind::PrePatch => "pre_patch",
            CallbackKind::PostPatch => "post_patch",
            CallbackKind::PreUnpatch => "pre_unpatch",
            CallbackKind::PostUnpatch => "post_unpatch",
        }
    }

    /// The kind whose attribute is named `name`.
    pub fn from_attr_name(name: &str) -> Option<CallbackKind> {
        CallbackKind::ALL
            .into_iter()
            .find(|kind| kind.attr_name() == name)
    }

    /// The name of the context type the callback receives.
    pub fn context(self) -> &'static str {
        match self {
            CallbackKind::PrePatch => "PrePatch",
            CallbackKind::PostPatch => "PostPatch",
            CallbackKind::PreUnpatch => "PreUnpatch",
            CallbackKind::PostUnpatch => "PostUnpatch",
        }
    }

    /// The name of the runtime's function pointer type for this kind.
    pub fn fn_type(self) -> &'static str {
        match self {
            CallbackKind::PrePatch => "PrePatchFn",
            CallbackKind::PostPatch => "PostPatchFn",
            CallbackKind::PreUnpatch => "PreUnpatchFn",
            CallbackKind::PostUnpatch => "PostUnpatchFn",
        }
    }

    /// The name of the facade's type of a callback of this kind of one patch (`PrePatchOf<P>`).
    pub fn marked_fn_type(self) -> &'static str {
        match self {
            CallbackKind::PrePatch => "PrePatchOf",
            CallbackKind::PostPatch => "PostPatchOf",
            CallbackKind::PreUnpatch => "PreUnpatchOf",
            CallbackKind::PostUnpatch => "PostUnpatchOf",
        }
    }

    /// Whether the callback returns `Result<(), CallbackError>` (only `pre_patch` can fail).
    pub fn can_fail(self) -> bool {
        self == CallbackKind::PrePatch
    }

    /// The signature a callback of this kind must have, for messages.
    pub fn expected_signature(self, name: &str) -> String {
        let ret = if self.can_fail() {
            " -> Result<(), CallbackError>"
        } else {
            ""
        };
        format!("fn {name}(cx: &mut {}<'_>){ret}", self.context())
    }
}

/// Which object a callback is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ObjectRef {
    /// The program itself (`vmlinux` in messages): no `object = "..."` argument.
    Program,
    /// `object = "name"`.
    Named(String),
    /// `object = NET`: a constant `&str` of the program's, so that a misspelled name does not
    /// compile (callbacks only).
    Const(ConstName),
}

/// The path of a constant that names an object, compared by its text.
#[derive(Clone)]
pub struct ConstName {
    /// The path as written, `crate::objects::NET`.
    pub text: String,
    /// The path itself, with the user's spans.
    pub path: syn::Path,
}

impl std::fmt::Debug for ConstName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for ConstName {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ConstName {}

impl std::hash::Hash for ConstName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl ObjectRef {
    /// The name the runtime prints for this object (the constant's path, for a constant).
    pub fn display_name(&self) -> &str {
        match self {
            ObjectRef::Program => "vmlinux",
            ObjectRef::Named(name) => name,
            ObjectRef::Const(name) => &name.text,
        }
    }

    /// The expression of the object's name, for the descriptor: a literal, or the constant.
    pub fn name_tokens(&self) -> proc_macro2::TokenStream {
        match self {
            ObjectRef::Program => quote::quote!(""),
            ObjectRef::Named(name) => quote::quote!(#name),
            ObjectRef::Const(name) => {
                let path = &name.path;
                quote::quote!(#path)
            }
        }
    }
}

/// The name of the type that marks a patch's handles and its callbacks' contexts.
pub const MARKER: &str = "__Patch";

/// A function of the module marked as a callback.
pub struct Callback {
    /// Which callback it is.
    pub kind: CallbackKind,
    /// The attribute that marked it, to point at.
    pub attr: Attribute,
    /// The object it is for.
    pub object: ObjectRef,
    /// The `object = "..."` literal, when given.
    pub object_lit: Option<LitStr>,
    /// The function's signature.
    pub sig: Signature,
    /// The function's `#[cfg(...)]` attributes: a callback cannot be compiled out, the descriptor
    /// names it.
    pub cfgs: Vec<Attribute>,
    /// The position of the function among the module's items.
    pub item: usize,
}

/// A function of the module marked `#[replaces(path)]` or `#[replaces(path, object = "name")]`.
pub struct Function {
    /// The attribute that marked it, to point at.
    pub attr: Attribute,
    /// The path of the function it replaces, when it parsed.
    pub target: Option<Path>,
    /// The object the target belongs to, as the attribute says.
    pub object: ObjectRef,
    /// The `object = "..."` literal, when given.
    pub object_lit: Option<LitStr>,
    /// The replacement's signature.
    pub sig: Signature,
    /// The function's `#[cfg(...)]` attributes: a replacement cannot be compiled out, the
    /// descriptor names it.
    pub cfgs: Vec<Attribute>,
    /// The position of the function among the module's items.
    pub item: usize,
}

/// Whether `ident` is `crate`, `self` or `super`, which begin a path inside this crate.
pub fn is_path_keyword(ident: &Ident) -> bool {
    ident == "crate" || ident == "self" || ident == "super"
}

/// The name an identifier stands for, without a raw identifier's `r#`.
pub fn ident_string(ident: &Ident) -> String {
    let text = ident.to_string();
    match text.strip_prefix("r#") {
        Some(bare) => bare.to_owned(),
        None => text,
    }
}
