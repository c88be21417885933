//! `#[executor]` written above `#[cached]`: the swap that lets `#[cached]`
//! see the function after this attribute has wrapped it, whichever order
//! the user wrote them in. The expansion of the pair is
//! `crate::cached::stacked`'s.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, ItemFn};

use crate::attrs;

/// When this attribute runs first (it was written above `#[cached]`), the
/// function with `#[cached]` moved above it and nothing else changed; `None`
/// when the function has no `#[cached]`.
pub(super) fn put_cached_outside(args: &TokenStream, function: &ItemFn) -> Option<TokenStream> {
    let is_cached = |attr: &&Attribute| attrs::is_cached(attr);
    if !function.attrs.iter().any(|attr| is_cached(&attr)) {
        return None;
    }
    let cached = function.attrs.iter().filter(is_cached);
    let others = function.attrs.iter().filter(|attr| !is_cached(attr));
    let ItemFn {
        vis, sig, block, ..
    } = function;
    Some(quote! {
        #(#cached)*
        #[::pagestate::executor(#args)]
        #(#others)*
        #vis #sig #block
    })
}
