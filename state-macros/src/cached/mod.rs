//! `#[cached(ttl = .., max_entries = .., scope = .., persist = .., key = ..)]`.
//!
//! Parse the options and the function, validate both (collecting every
//! mistake), then expand into the function with its body behind the cache,
//! plus a companion type of the same name (`load::clear()`, `stats()`,
//! `invalidate(..)`) next to the hidden `static` that holds the cache.
//!
//! This module is the entry and holds the checked function, [`Cached`]; the
//! steps are its submodules: `options` (the option list), `function` (the
//! function's shape and arguments), `fingerprint`, `expand` (the plain
//! expansion and the controls) and `stacked` (the expansion over
//! `#[executor]`). On an error, `crate::fallback` has what is emitted.

mod expand;
mod fingerprint;
mod function;
mod options;
mod stacked;

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::ItemFn;

use crate::args::{self, Arg, Errors};
use crate::fallback;
use crate::signature::Argument;
pub(crate) use function::in_key;
use options::Options;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => return fallback::item_with_error(item, error),
    };
    let fingerprint = fingerprint::fingerprint(&args, &function);
    match Parser::parse2(args::parse_list, args.clone())
        .and_then(|options| Cached::validate(options, function.clone(), fingerprint))
    {
        Ok(cached) => cached.expand(),
        Err(error) => fallback::cached(item, &args, &function, error),
    }
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
        let options = options::check(options, &mut errors);
        let arguments = function::check(&function, &mut errors);
        errors.finish()?;
        Ok(Cached {
            options,
            function,
            arguments,
            fingerprint,
        })
    }
}
