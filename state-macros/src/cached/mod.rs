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

use proc_macro2::{Group, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{braced, Attribute, Block, Item, ItemFn, Signature, Stmt, Visibility};

use crate::args::{self, Arg, Errors};
use crate::fallback;
use crate::signature::Argument;
pub(crate) use function::in_key;
use options::Options;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match Parser::parse2(parse_fn, item.clone()) {
        Ok(function) => function,
        Err(error) => return fallback::item_with_error(item, error),
    };
    let mut trees: Vec<TokenTree> = item.clone().into_iter().collect();
    let fingerprint = fingerprint::fingerprint(&args, &trees);
    // The body is the last tree (`parse_fn` checked it); what precedes it
    // is the head.
    let Some(TokenTree::Group(body)) = trees.pop() else {
        unreachable!("a parsed function ends with its body")
    };
    let raw = Raw {
        head: trees.into_iter().collect(),
        body,
    };
    match Parser::parse2(args::parse_list, args.clone())
        .and_then(|options| Cached::validate(options, function.clone(), fingerprint, raw))
    {
        Ok(cached) => cached.expand(),
        Err(error) => fallback::cached(item, &args, &function, error),
    }
}

/// A function, its body left unparsed: the body's tokens go back to the
/// compiler as they came (one statement of verbatim tokens, in braces of
/// the input's span), and the compiler parses them, and reports their
/// syntax errors, once. Inner
/// attributes at the top of the body are parsed into `attrs`, as syn's own
/// `ItemFn` parser does.
fn parse_fn(input: ParseStream) -> syn::Result<ItemFn> {
    let mut attrs = input.call(Attribute::parse_outer)?;
    let vis: Visibility = input.parse()?;
    let sig: Signature = input.parse()?;
    let content;
    let brace_token = braced!(content in input);
    attrs.extend(content.call(Attribute::parse_inner)?);
    let rest: TokenStream = content.parse()?;
    Ok(ItemFn {
        attrs,
        vis,
        sig,
        block: Box::new(Block {
            brace_token,
            stmts: vec![Stmt::Item(Item::Verbatim(rest))],
        }),
    })
}

/// A checked `#[cached]` function.
struct Cached {
    options: Options,
    function: ItemFn,
    arguments: Vec<Argument>,
    fingerprint: u128,
    raw: Raw,
}

/// The input's own tokens, for what the plain expansion copies unchanged:
/// taking them back costs the compiler one handle per token tree, where
/// turning syn's tree back into tokens costs a call per token, and they
/// keep every span (an unfinished body is reported at its own `}`).
struct Raw {
    /// The outer attributes, visibility and signature.
    head: TokenStream,
    /// The body, in its braces.
    body: Group,
}

impl Cached {
    fn validate(
        options: Vec<Arg>,
        function: ItemFn,
        fingerprint: u128,
        raw: Raw,
    ) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let options = options::check(options, &mut errors);
        let arguments = function::check(&function, &mut errors);
        errors.finish()?;
        Ok(Cached {
            options,
            function,
            arguments,
            fingerprint,
            raw,
        })
    }
}
