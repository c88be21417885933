//! Procedural macros of [pagestate](https://docs.rs/pagestate). Use them
//! through the `pagestate` facade: the code they generate names the runtime
//! as `::pagestate::__private_<version>` (see `private.rs`).

mod args;
mod attrs;
mod cached;
mod durations;
mod executor;
mod fallback;
mod private;
#[cfg(test)]
mod props;
mod signature;
mod src;
mod use_state;

use proc_macro::TokenStream;

/// A handle to state that survives reruns: `use_state!(key, options...)`.
///
/// See the `pagestate` crate documentation for the forms and options.
#[proc_macro]
pub fn use_state(input: TokenStream) -> TokenStream {
    use_state::expand(input.into()).into()
}

/// Memoizes a function by its arguments, with `st.cache_data`'s semantics:
/// `#[cached(ttl = .., max_entries = .., scope = .., persist = .., key = ..)]`.
///
/// See the `pagestate` crate documentation for the options and the
/// cache controls (`name::clear()`, `name::stats()`, `name::invalidate(..)`).
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    cached::expand(args.into(), item.into()).into()
}

/// Runs a function on pagestate's thread pool or in a worker process and
/// makes it awaitable: `#[executor(thread)]`, `#[executor(process)]`.
///
/// See the `pagestate` crate documentation for the options and rules.
#[proc_macro_attribute]
pub fn executor(args: TokenStream, item: TokenStream) -> TokenStream {
    executor::expand(args.into(), item.into()).into()
}
