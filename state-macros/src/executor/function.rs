//! The shape of an `#[executor]` function: what it may not be (`const`,
//! `extern`; for `process` also `async`, generic, a method) and which of its
//! types must be owned, because the arguments move to a pool thread or are
//! copied to a worker process. Also the type the body returns, which the
//! expansions and the fallback build the returned future from.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{FnArg, ReturnType, Signature, Type};

use super::Kind;
use crate::args::Errors;

/// Checks the signature for `kind`, reporting every mistake.
pub(super) fn check(kind: Kind, sig: &Signature, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            "an executor function cannot be `const`: it returns a future",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.at(
            abi,
            "an executor function cannot have an `extern` ABI: it returns a future",
        );
    }
    match kind {
        Kind::Thread => check_thread(sig, errors),
        Kind::Process => check_process(sig, errors),
    }
}

const OWNED_HINT: &str = "`&str` -> `String`, `&[T]` -> `Vec<T>`, `&T` -> `T` or `Arc<T>`";

fn check_thread(sig: &Signature, errors: &mut Errors) {
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) if receiver.reference.is_some() => errors.at(
                receiver,
                "arguments are moved to a pool thread, so they must be owned: \
                 take `self` by value (a clone or an `Arc`) instead of a reference",
            ),
            FnArg::Receiver(_) => {}
            FnArg::Typed(arg) => {
                for borrow in borrows(&arg.ty, true) {
                    errors.at(
                        borrow,
                        format_args!(
                            "arguments are moved to a pool thread, so they must be owned: \
                             {OWNED_HINT}"
                        ),
                    );
                }
            }
        }
    }
}

fn check_process(sig: &Signature, errors: &mut Errors) {
    if let Some(asyncness) = &sig.asyncness {
        errors.at(
            asyncness,
            "`#[executor(process)]` runs a sync function in a worker process: \
             remove `async`, or use `#[executor(thread)]`",
        );
    }
    if sig.generics.lt_token.is_some() {
        errors.at(
            &sig.generics,
            "`#[executor(process)]` functions cannot be generic: the worker decodes the \
             arguments into concrete types; write the types out",
        );
    }
    let mut types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.at(
                receiver,
                "`#[executor(process)]` functions cannot take `self`: the worker process \
                 has no `self` to call them on; pass the data as an argument",
            ),
            FnArg::Typed(arg) => types.push(&*arg.ty),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        types.push(ty);
    }
    for ty in types {
        for borrow in borrows(ty, false) {
            errors.at(
                borrow,
                format_args!(
                    "arguments and results are copied to and from a worker process, \
                     so they must be owned: {OWNED_HINT}"
                ),
            );
        }
        for impl_trait in impl_traits(ty) {
            errors.at(
                impl_trait,
                "`#[executor(process)]` cannot take or return `impl Trait`: the worker \
                 decodes into a concrete type; name the type",
            );
        }
    }
}

/// The type the body returns: `()` when the signature names none.
pub(super) fn output_type(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    }
}

/// References and lifetimes in `ty`, except `'static` ones if allowed.
pub(super) fn borrows(ty: &Type, allow_static: bool) -> Vec<TokenStream> {
    struct Borrows(Vec<TokenStream>, bool);
    impl<'ast> Visit<'ast> for Borrows {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|lifetime| lifetime.ident == "static");
            if !(self.1 && is_static) {
                self.0.push(reference.to_token_stream());
            } else {
                visit::visit_type_reference(self, reference);
            }
        }
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if !(self.1 && lifetime.ident == "static") {
                self.0.push(lifetime.to_token_stream());
            }
        }
    }
    let mut found = Borrows(Vec::new(), allow_static);
    found.visit_type(ty);
    found.0
}

fn impl_traits(ty: &Type) -> Vec<TokenStream> {
    #[derive(Default)]
    struct ImplTraits(Vec<TokenStream>);
    impl<'ast> Visit<'ast> for ImplTraits {
        fn visit_type_impl_trait(&mut self, impl_trait: &'ast syn::TypeImplTrait) {
            self.0.push(impl_trait.to_token_stream());
        }
    }
    let mut found = ImplTraits::default();
    found.visit_type(ty);
    found.0
}

pub(super) fn contains_impl_trait(ty: &Type) -> bool {
    !impl_traits(ty).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_references_are_owned_enough() {
        let ty: Type = syn::parse_quote!(&'static str);
        assert!(borrows(&ty, true).is_empty());
        assert_eq!(borrows(&ty, false).len(), 1);
        let ty: Type = syn::parse_quote!(Vec<&'a str>);
        assert_eq!(borrows(&ty, true).len(), 1);
        let ty: Type = syn::parse_quote!(std::borrow::Cow<'_, str>);
        assert_eq!(borrows(&ty, true).len(), 1);
    }
}
