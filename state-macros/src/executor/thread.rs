//! The expansion of `#[executor(thread)]`: the function, no longer `async`,
//! returns a future of its result, and its body runs as a job on
//! pagestate's thread pool, with a check per argument and the result that
//! the value can move to a pool thread, spanned on the user's type.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn};

use super::function::{contains_impl_trait, output_type};
use super::options::Options;
use crate::attrs;
use crate::private::private;
use crate::signature::future_of;

pub(super) fn expand(options: &Options, function: ItemFn) -> TokenStream {
    let private = private();
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    let (attrs, inner_attrs) = attrs::split(&attrs);
    let output = output_type(&sig.output);
    let nameable = !contains_impl_trait(&output);
    let assertions = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(arg) if !contains_impl_trait(&arg.ty) => {
            let ty = &arg.ty;
            Some(quote_spanned!(ty.span()=> #private::assert_thread_value::<#ty>();))
        }
        _ => None,
    });
    let output_assertion = nameable
        .then(|| quote_spanned!(output.span()=> #private::assert_thread_value::<#output>();));
    let job = match (sig.asyncness.is_some(), nameable) {
        (false, true) => quote!(move || -> #output #block),
        (false, false) => quote!(move || #block),
        // Built at the call, so that it sees the caller's async runtime.
        (true, true) => quote!(#private::async_job::<#output, _>(async move #block)),
        (true, false) => quote!(#private::async_job(async move #block)),
    };
    let with_context = options.with_context;
    let timeout = options.timeout();
    sig.asyncness = None;
    sig.output = future_of(&output);
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #(#assertions)*
            #output_assertion
            #private::run_on_thread(#job, #with_context, #timeout)
        }
    }
}
