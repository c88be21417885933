//! Attribute macros named `cached` and `executor` that are not pagestate's,
//! for the tests that pagestate's macros leave other crates' attributes
//! alone (a function may carry both crates' attributes).

use proc_macro::TokenStream;

/// Keeps the item and records what it was given, as
/// `const LOOKALIKE_CACHED_SAW: &str = "<item>";`.
#[proc_macro_attribute]
pub fn cached(_args: TokenStream, item: TokenStream) -> TokenStream {
    let saw = item.to_string();
    let mut out = item;
    out.extend(
        format!("const LOOKALIKE_CACHED_SAW: &str = {saw:?};")
            .parse::<TokenStream>()
            .expect("a const item"),
    );
    out
}

/// Keeps the item as it is: the function stays a plain function.
#[proc_macro_attribute]
pub fn executor(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
