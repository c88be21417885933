//! The shape of a `#[cached]` function: what it may not be (`const`,
//! generic, a method, returning `impl Trait`) and what its arguments are
//! called, so that the expansion can build the key from them.

use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::Errors;
use crate::signature::{self, Argument};

/// Whether the argument called `name` is part of the key: it is unless its
/// name starts with `_` (which a generated name does).
pub(crate) fn in_key(name: &Ident) -> bool {
    !name.unraw().to_string().starts_with('_')
}

/// Checks the function's shape; returns its arguments.
pub(super) fn check(function: &ItemFn, errors: &mut Errors) -> Vec<Argument> {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        errors.at(constness, "#[cached] cannot be used on a `const fn`");
    }
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(_) | GenericParam::Const(_) => errors.at(
                param,
                "#[cached] functions cannot be generic: each function keeps its cache in one \
                 `static`, which cannot depend on type parameters; write a #[cached] function \
                 per concrete type",
            ),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Type::ImplTrait(_) = **ty {
            errors.at(
                ty,
                "#[cached] needs a nameable return type to store: `impl Trait` cannot be cached; \
                 return a concrete type",
            );
        }
    }
    let mut arguments = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => errors.at(
                receiver,
                "#[cached] cannot cache a method that takes `self`: the cache would have to \
                 tell receivers apart; cache a free function that takes the fields the result \
                 depends on (`#[cached] fn total(items: &[Item]) -> u64`) and call it from the \
                 method",
            ),
            FnArg::Typed(typed) => {
                if let Type::ImplTrait(_) = *typed.ty {
                    errors.at(
                        &typed.ty,
                        "#[cached] functions cannot be generic: `impl Trait` arguments are type \
                         parameters; take a concrete type",
                    );
                    continue;
                }
                let name = match (signature::binding(&typed.pat), &*typed.pat) {
                    (Some(name), _) => name.clone(),
                    (None, Pat::Wild(wild)) => signature::unnamed(index, wild.span()),
                    (None, other) => {
                        errors.at(
                            other,
                            "#[cached] needs a plain name for each argument (`name: Type`) to \
                             build the cache key from; destructure it inside the body",
                        );
                        continue;
                    }
                };
                arguments.push(Argument {
                    name,
                    ty: (*typed.ty).clone(),
                });
            }
        }
    }
    arguments
}
