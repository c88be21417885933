//! The expansion of a checked `#[cached]` function: the function with its
//! body behind the cache, the hidden `static` that holds the cache, and the
//! companion type of the same name with the controls (`load::clear()`,
//! `stats()`, `invalidate(..)`). Above an `#[executor]` the function part is
//! `stacked.rs`'s; the key, the call and the controls are the same.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, ReturnType, Type};

use super::options::MaxEntries;
use super::{in_key, Cached};
use crate::attrs;
use crate::durations::DurationArg;
use crate::private::{private, private_at};

impl Cached {
    /// The function with its body behind the cache, then the slot and the
    /// controls; over `#[executor]`, `stacked.rs` writes the function.
    pub(super) fn expand(self) -> TokenStream {
        let private = private();
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = &self.function;
        // Inner attributes (`#![allow(..)]` atop the body) go back inside.
        let (attrs, inner_attrs) = attrs::split(attrs);
        let name = &sig.ident;
        let is_async = sig.asyncness.is_some();
        let persist = self.options.persist;
        let redis = self.options.redis;

        let (ret, ret_span) = match &sig.output {
            ReturnType::Default => (quote!(()), sig.ident.span()),
            ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span()),
        };
        // What the cache stores is chosen by the return type, not its name:
        // a `std::result::Result` (under any alias) caches `Ok` only.
        // Paths written out in `quote_spanned!`, not interpolated: a bound
        // error is reported on the path's span, which must be the user's
        // return type.
        let at_ret = private_at(ret_span);
        let mut checks = vec![quote_spanned! {ret_span=>
            #at_ret::assert_outcome(__pagestate_outcome);
        }];
        if persist || redis {
            checks.push(quote_spanned! {ret_span=>
                #at_ret::assert_persisted_outcome(__pagestate_outcome);
            });
        }
        let key = self.key_expr(&mut checks);

        let call_ty = if redis {
            quote!(#private::RedisCall)
        } else if persist {
            quote!(#private::PersistedCall)
        } else {
            quote!(#private::Call)
        };
        let slot = slot_name(name);
        let companion = self.companion(&key);
        let prelude = quote! {
            #[allow(unused_imports)]
            use #private::traits::*;
            let __pagestate_returns = #private::Returns::<#ret>::new();
        };
        let call = quote! {
            #(#checks)*
            let __pagestate_key = #key;
            let __pagestate_call = #call_ty::new(
                &#slot,
                &__pagestate_key,
                __pagestate_outcome,
            );
        };

        if let Some(executor) = attrs.iter().position(|attr| attrs::is_executor(attr)) {
            return self.expand_over_executor(executor, prelude, call, ret, companion);
        }

        let run = if is_async {
            quote! {
                let __pagestate_body = #private::typed_future::<#ret, _>(async move #block);
                let __pagestate_outcome = (&__pagestate_call)
                    .__pagestate_call_async(__pagestate_key, async move {
                        (&&__pagestate_returns).__pagestate_wrap(__pagestate_body.await)
                    })
                    .await;
            }
        } else {
            // The body goes to the cache as `&mut dyn FnMut`, called at most
            // once: the cache's code is then shared by every function with
            // the same key and value types instead of compiled per function.
            // A hit returns before the body closure exists.
            quote! {
                let __pagestate_outcome =
                    match (&__pagestate_call).__pagestate_lookup(__pagestate_key) {
                        ::core::result::Result::Ok(__pagestate_outcome) => __pagestate_outcome,
                        ::core::result::Result::Err(__pagestate_missed) => {
                            let mut __pagestate_body =
                                ::core::option::Option::Some(move || -> #ret #block);
                            (&__pagestate_call).__pagestate_call_missed(
                                __pagestate_missed,
                                &mut || match __pagestate_body.take() {
                                    ::core::option::Option::Some(mut __pagestate_body) => {
                                        (&&__pagestate_returns)
                                            .__pagestate_wrap(__pagestate_body())
                                    }
                                    ::core::option::Option::None => #private::body_ran_twice(),
                                },
                            )
                        }
                    };
            }
        };

        quote! {
            #(#attrs)*
            #vis #sig {
                #(#inner_attrs)*
                #prelude
                let __pagestate_outcome = (&&__pagestate_returns).__pagestate_outcome();
                #call
                #run
                (&&__pagestate_returns).__pagestate_unwrap(__pagestate_outcome)
            }
            #companion
        }
    }

    /// The key expression, built from the arguments or the `key = ...`
    /// option; pushes a bound check per part, spanned on the user's type.
    fn key_expr(&self, checks: &mut Vec<TokenStream>) -> TokenStream {
        if let Some(key) = &self.options.key {
            let private = private_at(key.span());
            return quote_spanned!(key.span()=> #private::custom_key(#key));
        }
        let mut parts = Vec::new();
        for argument in self.arguments.iter().filter(|a| in_key(&a.name)) {
            let name = &argument.name;
            let ty = &argument.ty;
            let at_ty = private_at(ty.span());
            let borrowed = match ty {
                Type::Reference(reference) => {
                    let elem = &reference.elem;
                    checks.push(quote_spanned! {ty.span()=>
                        #at_ty::assert_key_ref::<#elem>();
                    });
                    quote!(&*#name)
                }
                _ => {
                    checks.push(quote_spanned! {ty.span()=>
                        #at_ty::assert_key::<#ty>();
                    });
                    quote!(&#name)
                }
            };
            let private = private();
            parts.push(quote! {
                (&&#private::KeyArg(#borrowed)).__pagestate_part()
            });
        }
        key_tuple(parts)
    }

    /// The cache slot, and `enum <name> {}` with `clear`, `stats` and
    /// `invalidate`.
    fn companion(&self, key: &TokenStream) -> TokenStream {
        let private = private();
        let ItemFn { vis, sig, .. } = &self.function;
        let name = &sig.ident;
        let options = &self.options;
        // Literals become constants; an expression becomes a function the
        // cache calls once, when it is created.
        let ttl = match &options.ttl {
            None => quote!(#private::Setting::Unset),
            Some(DurationArg::Fixed { secs, nanos }) => quote! {
                #private::Setting::Fixed(::core::time::Duration::new(#secs, #nanos))
            },
            Some(ttl) => {
                let value = ttl.to_duration();
                quote! {
                    #private::Setting::Computed({
                        fn __pagestate_ttl() -> ::core::time::Duration { #value }
                        __pagestate_ttl
                    })
                }
            }
        };
        let max_entries = match &options.max_entries {
            None => quote!(#private::Setting::Unset),
            Some(MaxEntries::Fixed(n)) => quote!(#private::Setting::Fixed(#n)),
            Some(MaxEntries::Expr(expr)) => {
                let value = quote_spanned!(expr.span()=> #expr);
                quote! {
                    #private::Setting::Computed({
                        fn __pagestate_max_entries() -> usize { #value }
                        __pagestate_max_entries
                    })
                }
            }
        };
        let session_scoped = options.session_scoped;
        let persist = options.persist;
        let redis = options.redis;
        // Without the facade's `redis` feature, a compile error that says so.
        let requires_redis = if redis {
            quote!(::pagestate::__pagestate_requires_redis! {})
        } else {
            TokenStream::new()
        };
        // Sessions are the runtime's: without the facade's `runtime`
        // feature, a compile error that says so.
        let requires_runtime = if session_scoped {
            quote! {
                ::pagestate::__pagestate_runtime_items! {
                    "`#[cached(scope = \"session\")]`" [] []
                }
            }
        } else {
            TokenStream::new()
        };
        let fingerprint = Literal::u128_suffixed(self.fingerprint);
        let name_str = name.unraw().to_string();

        // `invalidate` takes the arguments the key is built from: all of
        // them with a custom key, else those not named `_...`.
        let params = self
            .arguments
            .iter()
            .filter(|a| options.key.is_some() || in_key(&a.name));
        let lifetimes = sig.generics.lifetimes();
        // Only the lints a given signature can trip: every lint name costs
        // the compiler a check on every rebuild.
        let mut allowed = Vec::new();
        if options.key.is_some() {
            allowed.push(quote!(unused_variables));
        }
        if sig.generics.lifetimes().next().is_some() {
            allowed.push(quote!(clippy::needless_lifetimes));
        }
        if params.clone().count() > 7 {
            allowed.push(quote!(clippy::too_many_arguments));
        }
        let allow = (!allowed.is_empty()).then(|| quote!(#[allow(#(#allowed),*)]));
        let slot = slot_name(name);
        // A key built from the arguments is a valid cache key even when an
        // argument's type is not (that part is `()`, and the function
        // reports the error), so it goes to the slot directly. A custom key
        // goes through the same dispatch as the function, which turns an
        // invalid key into no call rather than a second error.
        let call = if options.key.is_some() {
            quote! {
                let __pagestate_key = #key;
                // The value type does not matter to `invalidate`.
                let __pagestate_call = #private::Call::new(
                    &#slot,
                    &__pagestate_key,
                    ::core::marker::PhantomData::<#private::Always<()>>,
                );
                (&__pagestate_call).__pagestate_invalidate(__pagestate_key)
            }
        } else {
            quote!(#slot.invalidate(#key))
        };
        // The dispatch traits, unless the key is `()` and nothing dispatches.
        let import = (options.key.is_some() || params.clone().next().is_some())
            .then(|| quote!(use #private::traits::*;));
        let where_clause = &sig.generics.where_clause;
        let doc = format!(
            "Cache controls of the `#[cached]` function `{name_str}`: `clear`, `stats` and \
             `invalidate`."
        );
        // The controls are associated functions of an uninhabited type named
        // like the function (types and functions have separate namespaces,
        // so `load::clear()` reads as it would on a module). A module would
        // need `use super::*` to see the argument types, and a glob import
        // per function makes name resolution quadratic in the number of
        // functions; it would also get a codegen unit of its own. The
        // functions are `#[inline(always)]`, copied into their callers even
        // in debug builds, so they add no code where they are not called.
        quote! {
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            static #slot: #private::CacheSlot =
                #private::CacheSlot::new(#private::CacheConfig {
                    name: #name_str,
                    module_path: ::core::module_path!(),
                    fingerprint: #fingerprint,
                    ttl: #ttl,
                    max_entries: #max_entries,
                    session_scoped: #session_scoped,
                    persist: #persist,
                    redis: #redis,
                });

            #requires_redis
            #requires_runtime

            #[doc = #doc]
            #[allow(non_camel_case_types)]
            #vis enum #name {}

            impl #name {
                /// Empties this function's cache, in memory and on disk or in
                /// Redis.
                #[inline(always)]
                pub fn clear() {
                    #slot.clear()
                }

                /// Hits, misses and entries of this function's cache.
                #[inline(always)]
                pub fn stats() -> ::pagestate::CacheStats {
                    #slot.stats()
                }

                /// Drops the cached entry for these arguments (Streamlit's
                /// `func.clear(*args)`); `true` if there was one.
                #allow
                #[inline(always)]
                #[track_caller]
                pub fn invalidate<#(#lifetimes),*>(#(#params),*) -> bool #where_clause {
                    #import
                    #call
                }
            }
        }
    }
}

/// The hidden `static` that holds a `#[cached] fn`'s cache, next to it.
fn slot_name(name: &Ident) -> Ident {
    format_ident!("__pagestate_cache_{}", name.unraw())
}

/// The key tuple of `parts`. std implements `Hash`, `Eq` and `Clone` for
/// tuples of up to 12 elements, so longer keys nest: 13 parts become a
/// tuple of a 12-tuple and a 1-tuple.
fn key_tuple(mut parts: Vec<TokenStream>) -> TokenStream {
    const MAX_TUPLE: usize = 12;
    while parts.len() > MAX_TUPLE {
        parts = parts
            .chunks(MAX_TUPLE)
            .map(|chunk| quote!((#(#chunk,)*)))
            .collect();
    }
    quote!((#(#parts,)*))
}
