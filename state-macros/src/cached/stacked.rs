//! `#[cached]` above `#[executor(..)]`: the expansion that puts the cache in
//! front of the executor's function, so that a hit dispatches no job.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{Attribute, Ident, ItemFn};

use super::Cached;
use crate::attrs;
use crate::private::private;
use crate::signature;

impl Cached {
    /// `#[cached]` above `#[executor(..)]`: the executor's function becomes a
    /// private inner one, and the cached function in front of it looks the
    /// key up in this process at call time, so that a hit dispatches no job
    /// and a miss submits the job at once, as an uncached call would. What is
    /// cached is the function's own cacheable outcome of a job that
    /// succeeded: never an `ExecError`, never the function's own `Err`.
    ///
    /// `executor` is the position of the `#[executor]` attribute among the
    /// function's outer attributes, as `attrs::split` returns them.
    pub(super) fn expand_over_executor(
        &self,
        executor: usize,
        prelude: TokenStream,
        call: TokenStream,
        ret: TokenStream,
        companion: TokenStream,
    ) -> TokenStream {
        let private = private();
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = &self.function;
        let name = &sig.ident;
        let inner = format_ident!("__pagestate_uncached_{}", name.unraw());
        let (attrs, inner_attrs) = attrs::split(attrs);
        let executor_attr = attrs[executor];
        // The inner function keeps what governs its body; docs and the
        // like stay with the function users call.
        let body_attrs = attrs.iter().filter(|attr| is_body_attr(attr));
        let outer_attrs = attrs
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != executor)
            .map(|(_, attr)| attr);
        let stmts = &block.stmts;
        let mut inner_sig = sig.clone();
        inner_sig.ident = inner.clone();
        let generics = &sig.generics;
        let where_clause = &sig.generics.where_clause;
        let names: Vec<&Ident> = self.arguments.iter().map(|a| &a.name).collect();
        let params = &self.arguments;
        // What `#[executor]` would have made the function return.
        let returns = signature::future_of(&ret);
        quote! {
            #executor_attr
            #(#body_attrs)*
            #[doc(hidden)]
            #inner_sig {
                #(#inner_attrs)*
                #(#stmts)*
            }

            #(#outer_attrs)*
            #vis fn #name #generics (#(#params),*) #returns #where_clause {
                #prelude
                let __pagestate_outcome =
                    #private::executed((&&__pagestate_returns).__pagestate_outcome());
                #call
                let __pagestate_cached = (&__pagestate_call).__pagestate_call_eager(
                    __pagestate_key,
                    move || {
                        let __pagestate_job = #inner(#(#names),*);
                        async move {
                            #private::Executed(
                                __pagestate_job
                                    .await
                                    .map(|value| (&&__pagestate_returns).__pagestate_wrap(value)),
                            )
                        }
                    },
                );
                async move {
                    __pagestate_cached
                        .await
                        .0
                        .map(|outcome| (&&__pagestate_returns).__pagestate_unwrap(outcome))
                }
            }
            #companion
        }
    }
}

/// Attributes that govern a function's body (lints, `cfg`), which the inner
/// function of a stacked expansion must keep.
fn is_body_attr(attr: &Attribute) -> bool {
    ["allow", "warn", "deny", "forbid", "expect", "cfg"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}
