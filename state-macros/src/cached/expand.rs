//! The expansion of a checked `#[cached]` function: the function with its
//! body behind the cache, the hidden `static` that holds the cache, and the
//! companion type of the same name with the controls (`load::clear()`,
//! `stats()`, `invalidate(..)`). Above an `#[executor]` the function part is
//! `stacked.rs`'s; the key, the call and the controls are the same.

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, ReturnType, Type};

use super::options::MaxEntries;
use super::{in_key, Cached};
use crate::attrs;
use crate::durations::DurationArg;
use crate::private::{private_at, private_text};
use crate::src::Src;

impl Cached {
    /// The function with its body behind the cache, then the slot and the
    /// controls; over `#[executor]`, `stacked.rs` writes the function.
    pub(super) fn expand(self) -> TokenStream {
        let p = &private_text();
        let ItemFn { attrs, sig, .. } = &self.function;
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
            "RedisCall"
        } else if persist {
            "PersistedCall"
        } else {
            "Call"
        };
        let slot = slot_name(name);
        let companion = self.companion(&key);
        let prelude = Src::new()
            .text(&format!(
                "#[allow(unused_imports)] use {p}::traits::*; \
                 let __pagestate_returns = {p}::Returns::<"
            ))
            .tokens(&ret)
            .text(">::new();");
        let call = Src::new()
            .tokens(quote!(#(#checks)*))
            .text("let __pagestate_key =")
            .append(key)
            .text(&format!(
                "; let __pagestate_call = {p}::{call_ty}::new(&{slot}, &__pagestate_key, \
                 __pagestate_outcome);"
            ));

        if let Some(executor) = attrs.iter().position(|attr| attrs::is_executor(attr)) {
            return self.expand_over_executor(
                executor,
                prelude.finish(),
                call.finish(),
                ret,
                companion.finish(),
            );
        }

        let body = self.body(!inner_attrs.is_empty());
        let run = if is_async {
            Src::new()
                .text(&format!("let __pagestate_body = {p}::typed_future::<"))
                .tokens(&ret)
                .text(", _>")
                .group(
                    Delimiter::Parenthesis,
                    Src::new().text("async move").tokens(&body),
                )
                .text(
                    "; let __pagestate_outcome = (&__pagestate_call).__pagestate_call_async(\
                     __pagestate_key, async move { (&&__pagestate_returns)\
                     .__pagestate_wrap(__pagestate_body.await) }).await;",
                )
        } else {
            // The body goes to the cache as `&mut dyn FnMut`, called at most
            // once: the cache's code is then shared by every function with
            // the same key and value types instead of compiled per function.
            // A hit returns before the body closure exists.
            let missed = Src::new()
                .text("let mut __pagestate_body = ::core::option::Option::Some")
                .group(
                    Delimiter::Parenthesis,
                    Src::new().text("move || ->").tokens(&ret).tokens(&body),
                )
                .text(&format!(
                    "; (&__pagestate_call).__pagestate_call_missed(__pagestate_missed, \
                     &mut || match __pagestate_body.take() {{ \
                     ::core::option::Option::Some(mut __pagestate_body) => \
                     (&&__pagestate_returns).__pagestate_wrap(__pagestate_body()), \
                     ::core::option::Option::None => {p}::body_ran_twice(), }})"
                ));
            Src::new()
                .text(
                    "let __pagestate_outcome = \
                     match (&__pagestate_call).__pagestate_lookup(__pagestate_key)",
                )
                .braced(
                    Src::new()
                        .text(
                            "::core::result::Result::Ok(__pagestate_outcome) => \
                             __pagestate_outcome, \
                             ::core::result::Result::Err(__pagestate_missed) =>",
                        )
                        .braced(missed),
                )
                .text(";")
        };

        Src::new()
            .tokens(&self.raw.head)
            .braced(
                Src::new()
                    .tokens(quote!(#(#inner_attrs)*))
                    .append(prelude)
                    .text(
                        "let __pagestate_outcome = \
                         (&&__pagestate_returns).__pagestate_outcome();",
                    )
                    .append(call)
                    .append(run)
                    .text("(&&__pagestate_returns).__pagestate_unwrap(__pagestate_outcome)"),
            )
            .append(companion)
            .finish()
    }

    /// The key expression, built from the arguments or the `key = ...`
    /// option; pushes a bound check per part, spanned on the user's type.
    fn key_expr(&self, checks: &mut Vec<TokenStream>) -> Src {
        if let Some(key) = &self.options.key {
            let private = private_at(key.span());
            return Src::new().tokens(quote_spanned!(key.span()=> #private::custom_key(#key)));
        }
        let p = private_text();
        let mut parts = Vec::new();
        for argument in self.arguments.iter().filter(|a| in_key(&a.name)) {
            let name = &argument.name;
            let ty = &argument.ty;
            let at_ty = private_at(ty.span());
            // The argument's name as text: it resolves as the user's token
            // does (both at the call site), and no error is reported on it.
            let borrowed = match ty {
                Type::Reference(reference) => {
                    let elem = &reference.elem;
                    checks.push(quote_spanned! {ty.span()=>
                        #at_ty::assert_key_ref::<#elem>();
                    });
                    format!("&*{name}")
                }
                _ => {
                    checks.push(quote_spanned! {ty.span()=>
                        #at_ty::assert_key::<#ty>();
                    });
                    format!("&{name}")
                }
            };
            parts.push(format!("(&&{p}::KeyArg({borrowed})).__pagestate_part()"));
        }
        Src::new().text(&key_tuple(parts))
    }

    /// The body, in the input's own braces; when inner attributes open it
    /// (they go to the function instead), its statements in braces spanned
    /// at its closing one.
    fn body(&self, inner_attrs: bool) -> TokenStream {
        if !inner_attrs {
            return self.raw.body.to_token_stream();
        }
        let stmts = &self.function.block.stmts;
        let mut body = Group::new(Delimiter::Brace, quote!(#(#stmts)*));
        body.set_span(self.raw.body.span_close());
        body.into_token_stream()
    }

    /// The cache slot, and `enum <name> {}` with `clear`, `stats` and
    /// `invalidate`.
    fn companion(&self, key: &Src) -> Src {
        let p = &private_text();
        let ItemFn { vis, sig, .. } = &self.function;
        let name = &sig.ident;
        let options = &self.options;
        // Literals become constants; an expression becomes a function the
        // cache calls once, when it is created.
        let ttl = match &options.ttl {
            None => Src::new().text(&format!("{p}::Setting::Unset")),
            Some(DurationArg::Fixed { secs, nanos }) => Src::new().text(&format!(
                "{p}::Setting::Fixed(::core::time::Duration::new({secs}u64, {nanos}u32))"
            )),
            Some(ttl) => computed(
                p,
                "__pagestate_ttl",
                "::core::time::Duration",
                ttl.to_duration(),
            ),
        };
        let max_entries = match &options.max_entries {
            None => Src::new().text(&format!("{p}::Setting::Unset")),
            Some(MaxEntries::Fixed(n)) => {
                Src::new().text(&format!("{p}::Setting::Fixed({n}usize)"))
            }
            Some(MaxEntries::Expr(expr)) => computed(
                p,
                "__pagestate_max_entries",
                "usize",
                quote_spanned!(expr.span()=> #expr),
            ),
        };
        let session_scoped = options.session_scoped;
        let persist = options.persist;
        let redis = options.redis;
        // Without the facade's `redis` feature, a compile error that says so.
        let requires_redis = if redis {
            "::pagestate::__pagestate_requires_redis! {}"
        } else {
            ""
        };
        // Sessions are the runtime's: without the facade's `runtime`
        // feature, a compile error that says so.
        let requires_runtime = if session_scoped {
            "::pagestate::__pagestate_runtime_items! { \
             \"`#[cached(scope = \\\"session\\\")]`\" [] [] }"
        } else {
            ""
        };
        let fingerprint = self.fingerprint;
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
            allowed.push("unused_variables");
        }
        if sig.generics.lifetimes().next().is_some() {
            allowed.push("clippy::needless_lifetimes");
        }
        if params.clone().count() > 7 {
            allowed.push("clippy::too_many_arguments");
        }
        let allow = if allowed.is_empty() {
            String::new()
        } else {
            format!("#[allow({})]", allowed.join(", "))
        };
        let slot = slot_name(name);
        // A key built from the arguments is a valid cache key even when an
        // argument's type is not (that part is `()`, and the function
        // reports the error), so it goes to the slot directly. A custom key
        // goes through the same dispatch as the function, which turns an
        // invalid key into no call rather than a second error.
        let call = if options.key.is_some() {
            Src::new()
                .text("let __pagestate_key =")
                .append(key.clone())
                .text(&format!(
                    "; let __pagestate_call = {p}::Call::new(&{slot}, &__pagestate_key, \
                     ::core::marker::PhantomData::<{p}::Always<()>>); \
                     (&__pagestate_call).__pagestate_invalidate(__pagestate_key)"
                ))
        } else {
            Src::new()
                .text(&format!("{slot}.invalidate"))
                .group(Delimiter::Parenthesis, key.clone())
        };
        // The dispatch traits, unless the key is `()` and nothing dispatches.
        let import = if options.key.is_some() || params.clone().next().is_some() {
            format!("use {p}::traits::*;")
        } else {
            String::new()
        };
        let where_clause = &sig.generics.where_clause;
        // The controls are associated functions of an uninhabited type named
        // like the function (types and functions have separate namespaces,
        // so `load::clear()` reads as it would on a module). A module would
        // need `use super::*` to see the argument types, and a glob import
        // per function makes name resolution quadratic in the number of
        // functions; it would also get a codegen unit of its own. The
        // functions are `#[inline]`: a library compiles them only where they
        // are called.
        let invalidate = Src::new()
            .text(&format!(
                "#[doc = \" Drops the cached entry for these arguments (Streamlit's \
                 `func.clear(*args)`); `true` if there was one.\"] {allow} \
                 #[inline] #[track_caller] pub fn invalidate"
            ))
            .tokens(quote!(<#(#lifetimes),*>(#(#params),*)))
            .text("-> bool")
            .tokens(where_clause)
            .braced(Src::new().text(&import).append(call));
        let config = Src::new()
            .text(&format!(
                "name: \"{name_str}\", module_path: ::core::module_path!(), \
                 fingerprint: {fingerprint}u128, ttl:"
            ))
            .append(ttl)
            .text(", max_entries:")
            .append(max_entries)
            .text(&format!(
                ", session_scoped: {session_scoped}, persist: {persist}, redis: {redis}"
            ));
        Src::new()
            .text(&format!(
                "#[doc(hidden)] #[allow(non_upper_case_globals)] static {slot}: {p}::CacheSlot = \
                 {p}::CacheSlot::new"
            ))
            .group(
                Delimiter::Parenthesis,
                Src::new().text(&format!("{p}::CacheConfig")).braced(config),
            )
            .text(&format!(
                "; {requires_redis} {requires_runtime} \
                 #[doc = \"Cache controls of the `#[cached]` function `{name_str}`: `clear`, \
                 `stats` and `invalidate`.\"] #[allow(non_camel_case_types)]"
            ))
            .tokens(vis)
            .text("enum")
            .tokens(name)
            .text("{} impl")
            .tokens(name)
            .braced(
                Src::new()
                    .text(&format!(
                        "#[doc = \" Empties this function's cache, in memory and on disk or \
                         in Redis.\"] #[inline] pub fn clear() {{ {slot}.clear() }} \
                         #[doc = \" Hits, misses and entries of this function's cache.\"] \
                         #[inline] pub fn stats() -> ::pagestate::CacheStats \
                         {{ {slot}.stats() }}"
                    ))
                    .append(invalidate),
            )
    }
}

/// `Setting::Computed` of a function named `name` that returns `value`, of
/// type `ty`: the cache calls it once, when it is created.
fn computed(p: &str, name: &str, ty: &str, value: TokenStream) -> Src {
    Src::new().text(&format!("{p}::Setting::Computed")).group(
        Delimiter::Parenthesis,
        Src::new().braced(
            Src::new()
                .text(&format!("fn {name}() -> {ty}"))
                .braced(Src::new().tokens(value))
                .text(name),
        ),
    )
}

/// The hidden `static` that holds a `#[cached] fn`'s cache, next to it.
fn slot_name(name: &Ident) -> Ident {
    format_ident!("__pagestate_cache_{}", name.unraw())
}

/// The key tuple of `parts`. std implements `Hash`, `Eq` and `Clone` for
/// tuples of up to 12 elements, so longer keys nest: 13 parts become a
/// tuple of a 12-tuple and a 1-tuple.
fn key_tuple(mut parts: Vec<String>) -> String {
    const MAX_TUPLE: usize = 12;
    while parts.len() > MAX_TUPLE {
        parts = parts
            .chunks(MAX_TUPLE)
            .map(|chunk| format!("({},)", chunk.join(", ")))
            .collect();
    }
    if parts.is_empty() {
        return "()".to_owned();
    }
    format!("({},)", parts.join(", "))
}
