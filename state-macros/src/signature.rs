//! The parts of a function's signature that both attribute macros rewrite
//! alike: the arguments as generated code passes them on, a name and a type
//! each, where a pattern other than a plain name (`_`, `(a, b)`) gets a
//! generated name; and the future an `#[executor]` function returns, which
//! a `#[cached]` function stacked on it returns too.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{Ident, Pat, ReturnType, Type};

use crate::private::private;

/// An argument as generated code passes it on: bound to `name`, of the
/// user's type. As tokens, the parameter `name: Type`.
pub(crate) struct Argument {
    pub(crate) name: Ident,
    pub(crate) ty: Type,
}

impl ToTokens for Argument {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let (name, ty) = (&self.name, &self.ty);
        tokens.extend(quote!(#name: #ty));
    }
}

/// The name of a plain binding (`x: T`, `mut x: T`), which generated code
/// can pass the argument by; `None` for other patterns (`_`, `(a, b)`,
/// `ref x`, `x @ 1..`).
pub(crate) fn binding(pat: &Pat) -> Option<&Ident> {
    match pat {
        Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => Some(&ident.ident),
        _ => None,
    }
}

/// The name generated code gives the argument at `index` (counting every
/// input) when its pattern has no plain name: `__pagestate_arg<index>`.
pub(crate) fn unnamed(index: usize, span: Span) -> Ident {
    format_ident!("__pagestate_arg{}", index, span = span)
}

/// What an `#[executor]` function whose body returns `output` returns:
/// `-> impl Future<Output = Result<output, ExecError>> + Send + 'static`.
pub(crate) fn future_of(output: &impl ToTokens) -> ReturnType {
    let private = private();
    syn::parse_quote! {
        -> impl ::core::future::Future<
            Output = ::core::result::Result<#output, #private::ExecError>,
        > + ::core::marker::Send + 'static
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(source: &str) -> Pat {
        let item: syn::ItemFn = syn::parse_str(&format!("fn f({source}: u8) {{}}")).unwrap();
        let syn::FnArg::Typed(typed) = &item.sig.inputs[0] else {
            unreachable!()
        };
        (*typed.pat).clone()
    }

    #[test]
    fn plain_bindings_keep_their_names_and_other_patterns_get_none() {
        assert_eq!(binding(&pat("x")).unwrap(), "x");
        assert_eq!(binding(&pat("mut x")).unwrap(), "x");
        assert_eq!(binding(&pat("r#type")).unwrap(), "r#type");
        for other in ["_", "ref x", "ref mut x", "x @ 1", "(a, b)"] {
            assert!(binding(&pat(other)).is_none(), "{other}");
        }
        assert_eq!(unnamed(2, Span::call_site()), "__pagestate_arg2");
    }
}
