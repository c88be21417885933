//! Procedural macros of [pagestate](https://docs.rs/pagestate). Use them
//! through the `pagestate` facade: the code they generate names the runtime
//! as `::pagestate::__private`.

mod args;
mod use_state;

use proc_macro::TokenStream;

/// A handle to state that survives reruns: `use_state!(key, options...)`.
///
/// See the `pagestate` crate documentation for the forms and options.
#[proc_macro]
pub fn use_state(input: TokenStream) -> TokenStream {
    use_state::expand(input.into()).into()
}
