//! `#[cached(ttl = .., max_entries = .., scope = .., persist = .., key = ..)]`.
//!
//! Parse the options and the function, validate both (collecting every
//! mistake), then expand into the function with its body behind the cache,
//! plus a companion type of the same name (`load::clear()`, `stats()`,
//! `invalidate(..)`) next to the hidden `static` that holds the cache.

use std::hash::Hash;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use siphasher::sip128::{Hasher128, SipHasher13};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericParam, Ident, ItemFn, Lit, Pat, ReturnType, Type,
};

use crate::args::{self, Arg, ArgValue, Errors};
use crate::attrs;
use crate::durations::{self, DurationArg};
use crate::fallback;
use crate::private::{private, private_at};

const TTL: &str = "ttl";
const MAX_ENTRIES: &str = "max_entries";
const SCOPE: &str = "scope";
const PERSIST: &str = "persist";
const KEY: &str = "key";
const OPTIONS: &[&str] = &[TTL, MAX_ENTRIES, SCOPE, PERSIST, KEY];
const SHOW_SPINNER: &str = "show_spinner";
const DISK: &str = "disk";
const REDIS: &str = "redis";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => return with_error(item, error),
    };
    let fingerprint = fingerprint(&args, &function);
    match Parser::parse2(args::parse_list, args.clone())
        .and_then(|options| Cached::validate(options, function.clone(), fingerprint))
    {
        Ok(cached) => cached.expand(),
        Err(error) => fallback::cached(item, &args, &function, error),
    }
}

/// The user's function as written, then the errors: the rest of the crate
/// keeps compiling against the function, and no error follows from it
/// missing (tokio-macros' `token_stream_with_error`).
fn with_error(mut item: TokenStream, error: syn::Error) -> TokenStream {
    item.extend(error.into_compile_error());
    item
}

/// Options as checked.
#[derive(Default)]
struct Options {
    ttl: Option<DurationArg>,
    max_entries: Option<MaxEntries>,
    session_scoped: bool,
    persist: bool,
    /// `persist = "redis"`.
    redis: bool,
    key: Option<Expr>,
}

enum MaxEntries {
    Fixed(usize),
    Expr(Expr),
}

/// One argument of the function.
struct Argument {
    name: Ident,
    ty: Type,
    /// Part of the key: named without a leading `_`.
    in_key: bool,
}

/// A checked `#[cached]` function.
struct Cached {
    options: Options,
    function: ItemFn,
    arguments: Vec<Argument>,
    fingerprint: u128,
}

impl Cached {
    fn validate(options: Vec<Arg>, function: ItemFn, fingerprint: u128) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let options = check_options(options, &mut errors);
        let arguments = check_function(&function, &mut errors);
        errors.finish()?;
        Ok(Cached {
            options,
            function,
            arguments,
            fingerprint,
        })
    }

    fn expand(self) -> TokenStream {
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
            use #private::{
                CallCached as _, CallInvalid as _, KeyPartInvalid as _, KeyPartOf as _,
                ReturnsResult as _, ReturnsValue as _,
            };
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

        if attrs.iter().any(|attr| attrs::is_executor(attr)) {
            return self.expand_over_executor(prelude, call, ret, companion);
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
            quote! {
                // `mut`: a body that changes a `mut` argument is `FnMut`.
                #[allow(unused_mut)]
                let mut __pagestate_body = move || -> #ret #block;
                let __pagestate_outcome = (&__pagestate_call)
                    .__pagestate_call(__pagestate_key, move || {
                        (&&__pagestate_returns).__pagestate_wrap(__pagestate_body())
                    });
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

    /// `#[cached]` above `#[executor(..)]`: the executor's function becomes a
    /// private inner one, and the cached function in front of it looks the
    /// key up in this process at call time, so that a hit dispatches no job
    /// and a miss submits the job at once, as an uncached call would. What is
    /// cached is the function's own cacheable outcome of a job that
    /// succeeded: never an `ExecError`, never the function's own `Err`.
    fn expand_over_executor(
        &self,
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
        let executor = attrs
            .iter()
            .position(|attr| attrs::is_executor(attr))
            .expect("checked by the caller");
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
        let params = self.arguments.iter().map(|a| {
            let (name, ty) = (&a.name, &a.ty);
            quote!(#name: #ty)
        });
        quote! {
            #executor_attr
            #(#body_attrs)*
            #[doc(hidden)]
            #inner_sig {
                #(#inner_attrs)*
                #(#stmts)*
            }

            #(#outer_attrs)*
            #vis fn #name #generics (#(#params),*) -> impl ::core::future::Future<
                Output = ::core::result::Result<#ret, #private::ExecError>,
            > + ::core::marker::Send + 'static #where_clause {
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

    /// The key expression, built from the arguments or the `key = ...`
    /// option; pushes a bound check per part, spanned on the user's type.
    fn key_expr(&self, checks: &mut Vec<TokenStream>) -> TokenStream {
        if let Some(key) = &self.options.key {
            let private = private_at(key.span());
            return quote_spanned!(key.span()=> #private::custom_key(#key));
        }
        let mut parts = Vec::new();
        for argument in self.arguments.iter().filter(|a| a.in_key) {
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
        let ttl = match &options.ttl {
            None => quote!(::core::option::Option::None),
            Some(ttl) => {
                let value = ttl.to_duration();
                quote! {
                    ::core::option::Option::Some({
                        fn __pagestate_ttl() -> ::core::time::Duration { #value }
                        __pagestate_ttl
                    })
                }
            }
        };
        let max_entries = match &options.max_entries {
            None => quote!(::core::option::Option::None),
            Some(max) => {
                let value = match max {
                    MaxEntries::Fixed(n) => quote!(#n),
                    MaxEntries::Expr(expr) => quote_spanned!(expr.span()=> #expr),
                };
                quote! {
                    ::core::option::Option::Some({
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
        let fingerprint = Literal::u128_suffixed(self.fingerprint);
        let name_str = name.unraw().to_string();

        // `invalidate` takes the arguments the key is built from: all of
        // them with a custom key, else those not named `_...`.
        let params = self
            .arguments
            .iter()
            .filter(|a| options.key.is_some() || a.in_key)
            .map(|a| {
                let (name, ty) = (&a.name, &a.ty);
                quote!(#name: #ty)
            });
        let lifetimes = sig.generics.lifetimes();
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
        let slot = slot_name(name);
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
                #[allow(unused_variables, clippy::needless_lifetimes, clippy::too_many_arguments)]
                #[inline(always)]
                #[track_caller]
                pub fn invalidate<#(#lifetimes),*>(#(#params),*) -> bool #where_clause {
                    use #private::{
                        CallCached as _, CallInvalid as _, KeyPartInvalid as _, KeyPartOf as _,
                    };
                    let __pagestate_key = #key;
                    // The value type does not matter to `invalidate`.
                    let __pagestate_call = #private::Call::new(
                        &#slot,
                        &__pagestate_key,
                        ::core::marker::PhantomData::<#private::Always<()>>,
                    );
                    (&__pagestate_call).__pagestate_invalidate(__pagestate_key)
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

/// Attributes that govern a function's body (lints, `cfg`), which the inner
/// function of a stacked expansion must keep.
fn is_body_attr(attr: &Attribute) -> bool {
    ["allow", "warn", "deny", "forbid", "expect", "cfg"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}

fn check_options(options: Vec<Arg>, errors: &mut Errors) -> Options {
    let mut checked = Options::default();
    let mut persist_name = None;
    let mut session_name = None;
    let options = options
        .into_iter()
        .filter(|arg| {
            if arg.name.unraw() == SHOW_SPINNER {
                errors.at(
                    &arg.name,
                    "`show_spinner` is not supported: #[cached] has no UI to draw a spinner in; \
                     show progress in your page code while the call runs",
                );
                false
            } else {
                true
            }
        })
        .collect();
    for arg in args::check_names(options, OPTIONS, errors) {
        let name = arg.name.clone();
        let Some(value) = option_value(arg, errors) else {
            continue;
        };
        match name.unraw().to_string().as_str() {
            TTL => checked.ttl = durations::parse(TTL, value, errors),
            MAX_ENTRIES => checked.max_entries = max_entries(value, errors),
            SCOPE => match string_literal(&value).as_deref() {
                Some("global") => {}
                Some("session") => {
                    checked.session_scoped = true;
                    session_name = Some(name);
                }
                _ => errors.at(&value, "`scope` must be \"global\" or \"session\""),
            },
            PERSIST => match string_literal(&value).as_deref() {
                Some(DISK) => {
                    checked.persist = true;
                    persist_name = Some((name, DISK));
                }
                Some(REDIS) => {
                    checked.redis = true;
                    persist_name = Some((name, REDIS));
                }
                _ => errors.at(
                    &value,
                    "`persist` must be \"disk\" or \"redis\"; leave it out to cache in memory \
                     only",
                ),
            },
            _ => checked.key = Some(value),
        }
    }
    match (persist_name, session_name) {
        (Some((persist, DISK)), Some(_)) => errors.at(
            persist,
            "`persist = \"disk\"` conflicts with `scope = \"session\"`: sessions end with the \
             process, so their entries could never be served from disk",
        ),
        (Some((persist, _)), Some(_)) => errors.at(
            persist,
            "`persist = \"redis\"` conflicts with `scope = \"session\"`: a session lives in one \
             process and ends with it, so its entries must not be shared with other processes \
             through Redis; drop `scope = \"session\"`, or drop `persist`",
        ),
        _ => {}
    }
    checked
}

fn option_value(arg: Arg, errors: &mut Errors) -> Option<Expr> {
    match arg.value {
        ArgValue::Expr(expr) => Some(expr),
        ArgValue::Flag | ArgValue::Type(_) => args::expr(arg, errors),
    }
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        _ => None,
    }
}

fn max_entries(value: Expr, errors: &mut Errors) -> Option<MaxEntries> {
    match &value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<usize>() {
            Ok(0) => errors.at(
                int,
                "`max_entries` must be at least 1; leave it out for an unbounded cache",
            ),
            Ok(n) => return Some(MaxEntries::Fixed(n)),
            Err(_) => errors.at(int, "`max_entries` is too large"),
        },
        Expr::Lit(other) => errors.at(other, "`max_entries` expects a positive integer"),
        _ => return Some(MaxEntries::Expr(value)),
    }
    None
}

/// Checks the function's shape; returns its arguments.
fn check_function(function: &ItemFn, errors: &mut Errors) -> Vec<Argument> {
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
                let name = match &*typed.pat {
                    Pat::Ident(ident) if ident.subpat.is_none() && ident.by_ref.is_none() => {
                        ident.ident.clone()
                    }
                    Pat::Wild(wild) => {
                        format_ident!("__pagestate_arg{}", index, span = wild.span())
                    }
                    other => {
                        errors.at(
                            other,
                            "#[cached] needs a plain name for each argument (`name: Type`) to \
                             build the cache key from; destructure it inside the body",
                        );
                        continue;
                    }
                };
                let in_key = !name.unraw().to_string().starts_with('_');
                arguments.push(Argument {
                    name,
                    ty: (*typed.ty).clone(),
                    in_key,
                });
            }
        }
    }
    arguments
}

/// A hash of everything that decides what a persisted entry means: the
/// options, the signature and the body, as tokens (so comments and
/// formatting do not count, but any edit of the code does). The runtime adds
/// the module path and the name.
fn fingerprint(args: &TokenStream, function: &ItemFn) -> u128 {
    let mut hasher = SipHasher13::new_with_keys(0x7061_6765_7374_6174, 0x6669_6e67_6572_7072);
    args.to_string().hash(&mut hasher);
    function.sig.to_token_stream().to_string().hash(&mut hasher);
    function
        .block
        .to_token_stream()
        .to_string()
        .hash(&mut hasher);
    hasher.finish128().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(source: &str) -> ItemFn {
        syn::parse_str(source).unwrap()
    }

    #[test]
    fn editing_the_body_changes_the_fingerprint() {
        let args = TokenStream::new();
        let original = fingerprint(&args, &function("fn load(x: u64) -> u64 { x + 1 }"));
        let edited = fingerprint(&args, &function("fn load(x: u64) -> u64 { x + 2 }"));
        assert_ne!(original, edited);
    }

    #[test]
    fn editing_the_signature_or_options_changes_the_fingerprint() {
        let none = TokenStream::new();
        let base = fingerprint(&none, &function("fn load(x: u64) -> u64 { x }"));
        let signature = fingerprint(&none, &function("fn load(x: u32) -> u64 { x.into() }"));
        let ttl: TokenStream = "ttl = 5".parse().unwrap();
        let options = fingerprint(&ttl, &function("fn load(x: u64) -> u64 { x }"));
        assert_ne!(base, signature);
        assert_ne!(base, options);
    }

    #[test]
    fn formatting_and_comments_keep_the_fingerprint() {
        let args = TokenStream::new();
        let compact = fingerprint(&args, &function("fn load(x: u64) -> u64 { x + 1 }"));
        let spaced = fingerprint(
            &args,
            &function("fn load(\n    x: u64\n) -> u64 {\n    // one more\n    x   +   1\n}"),
        );
        assert_eq!(compact, spaced);
    }
}
