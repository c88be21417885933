//! What the macros emit next to a compile error in their options or the
//! function's shape: an expansion with the same shape as a correct one, so
//! that callers type-check against it and the user sees one error, their
//! own, instead of a cascade (`.await` on a function that did not become a
//! future, `load::stats()` not found). tokio-macros falls back to a default
//! configuration and thiserror emits stub impls for the same reason.
//!
//! Where no such shape can be written (the input is no function, or an
//! `#[executor]` function's result borrows), both macros emit the item as
//! written with the errors after it.
//!
//! The stubs never run: the `compile_error!` next to them fails the build.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, Pat, Signature, Type};

use crate::attrs;
use crate::cached::in_key;
use crate::signature;

/// The item as written, then the errors: the rest of the crate keeps
/// compiling against it, and no error follows from it missing
/// (tokio-macros' `token_stream_with_error`). For input that is no function,
/// and for errors whose function-shaped fallback cannot be written.
pub(crate) fn item_with_error(mut item: TokenStream, error: syn::Error) -> TokenStream {
    item.extend(error.into_compile_error());
    item
}

/// `#[cached]` with an error: the user's function as written (the rest of
/// the crate keeps compiling against it) and a companion type with
/// `clear`, `stats` and `invalidate` of the signatures a correct expansion
/// has.
pub(crate) fn cached(
    item: TokenStream,
    args: &TokenStream,
    function: &ItemFn,
    error: syn::Error,
) -> TokenStream {
    let sig = &function.sig;
    if sig.receiver().is_some() {
        // A method: the companion type cannot sit in an `impl` block, and
        // the error says to write a free function instead.
        return item_with_error(item, error);
    }
    let error = error.into_compile_error();
    let name = &sig.ident;
    let vis = &function.vis;
    // `invalidate` takes what a correct expansion's would: every argument
    // with a custom key, else those not named `_...`.
    let custom_key = has_key_option(args);
    let params = sig.inputs.iter().filter_map(|input| {
        let FnArg::Typed(typed) = input else {
            return None;
        };
        let part_of_key = match &*typed.pat {
            Pat::Ident(ident) => in_key(&ident.ident),
            Pat::Wild(_) => false,
            _ => true,
        };
        let ty = &typed.ty;
        (custom_key || part_of_key).then(|| quote!(_: #ty))
    });
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    quote! {
        #item
        #error
        #[allow(dead_code, non_camel_case_types)]
        #vis enum #name {}

        #[allow(dead_code)]
        impl #name {
            pub fn clear() {}

            pub fn stats() -> ::pagestate::CacheStats {
                ::core::unreachable!()
            }

            #[allow(clippy::needless_lifetimes, clippy::too_many_arguments)]
            pub fn invalidate #generics (#(#params),*) -> bool #where_clause {
                ::core::unreachable!()
            }
        }
    }
}

/// `#[executor]` with an error: a function of the signature a correct
/// expansion has (`fn(..) -> impl Future<Output = Result<T, ExecError>>`),
/// whose body is left out. The caller checks that such a signature can be
/// written (the result neither borrows nor is an `impl Trait`).
pub(crate) fn executor(function: &ItemFn, output: &Type, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let shape = executor_shape(function, output);
    quote! {
        #shape
        #error
    }
}

/// A function of the signature an `#[executor]` expansion has, whose body
/// is left out: the stand-in next to a compile error.
pub(crate) fn executor_shape(function: &ItemFn, output: &Type) -> TokenStream {
    let (outer, _) = attrs::split(&function.attrs);
    let vis = &function.vis;
    let sig = Signature {
        constness: None,
        asyncness: None,
        unsafety: function.sig.unsafety,
        abi: None,
        output: signature::future_of(output),
        ..function.sig.clone()
    };
    quote! {
        #(#outer)*
        #[allow(unused_variables, unused_mut)]
        #vis #sig {
            ::core::future::pending()
        }
    }
}

fn has_key_option(args: &TokenStream) -> bool {
    let mut previous_is_key = false;
    for token in args.clone() {
        match token {
            proc_macro2::TokenTree::Ident(ident) => previous_is_key = ident == "key",
            proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '=' && previous_is_key => {
                return true
            }
            _ => previous_is_key = false,
        }
    }
    false
}
