//! `#[executor(thread | process, with_script_run_context = .., timeout = ..)]`.
//!
//! Parse the options and the function, validate both (collecting every
//! mistake), then expand into a function that returns a future of the
//! result while its body runs on pagestate's thread pool or in a worker
//! process.
//!
//! This module is the entry; the steps are its submodules: `stacked` (the
//! swap when `#[cached]` is written below this attribute), `options` (the
//! option list), `function` (the function's shape), `thread` and `process`
//! (the two expansions). On an error, `crate::fallback` has what is emitted.

mod function;
mod options;
mod process;
mod stacked;
mod thread;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::ItemFn;

use crate::args::{self, Arg, Errors};
use crate::fallback;
use function::{borrows, contains_impl_trait, output_type};
use options::Options;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "#[executor] goes on a function: `#[executor(thread)] fn f(..) -> T { .. }`",
            );
            return fallback::item_with_error(item, error);
        }
    };
    if let Some(reordered) = stacked::put_cached_outside(&args, &function) {
        return reordered;
    }
    let parsed = Parser::parse2(args::parse_list, args);
    match parsed.and_then(|options| validate(options, &function)) {
        Ok(options) => {
            // Without pagestate's `runtime` feature: a compile error that
            // names it, and a stand-in of the same shape for the callers.
            let output = output_type(&function.sig.output);
            let stand_in = fallback::executor_shape(&function, &output);
            let expansion = match options.kind {
                Kind::Thread => thread::expand(&options, function),
                Kind::Process => process::expand(&options, function),
            };
            quote! {
                ::pagestate::__pagestate_runtime_items! {
                    "`#[executor]`" [#expansion] [#stand_in]
                }
            }
        }
        Err(error) => {
            // Callers `.await` the function: keep that shape when it can be
            // written, so that they see this error and no other.
            let output = output_type(&function.sig.output);
            if contains_impl_trait(&output) || !borrows(&output, true).is_empty() {
                fallback::item_with_error(item, error)
            } else {
                fallback::executor(&function, &output, &error)
            }
        }
    }
}

/// Where the function runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Thread,
    Process,
}

/// Checks the options, then the function's shape for the kind chosen.
fn validate(options: Vec<Arg>, function: &ItemFn) -> syn::Result<Options> {
    let mut errors = Errors::default();
    let options = options::check(options, &mut errors);
    function::check(options.kind, &function.sig, &mut errors);
    errors.finish()?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        expand(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    fn normalized(tokens: &str) -> String {
        tokens.parse::<TokenStream>().unwrap().to_string()
    }

    #[test]
    fn cached_written_below_is_moved_above_unchanged() {
        let out = expand_str(
            "process , timeout = 5",
            "/// Squares.\n#[pagestate::cached(ttl = 5)] #[inline] pub fn f(n: u64) -> u64 { n * n }",
        );
        let expected = normalized(
            "#[pagestate::cached(ttl = 5)] \
             #[::pagestate::executor(process , timeout = 5)] \
             #[doc = \" Squares.\"] #[inline] \
             pub fn f(n: u64) -> u64 { n * n }",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn cached_by_bare_name_is_recognised_and_lookalikes_are_not() {
        let out = expand_str("thread", "#[cached] fn f() {}");
        assert!(out.starts_with(&normalized("#[cached] #[::pagestate::executor(thread)]")));
        let out = expand_str("thread", "#[not_cached] fn f() {}");
        assert!(out.contains("run_on_thread"), "{out}");
    }

    #[test]
    fn without_cached_the_function_is_expanded() {
        let out = expand_str("thread", "fn f(n: u64) -> u64 { n }");
        assert!(out.contains("run_on_thread"), "{out}");
        let out = expand_str("process", "fn f(n: u64) -> u64 { n }");
        assert!(out.contains("run_in_process"), "{out}");
        assert!(out.contains("PROCESS_FUNCTIONS"), "{out}");
    }

    #[test]
    fn every_process_codec_is_picked_by_type() {
        // `PickCodec` gives `Vec<u8>` (and its aliases) the block codec; a
        // codec used without it would send bytes element by element.
        let out = expand_str("process", "fn f(a: Vec<u8>, b: u64) -> Vec<u8> { a }");
        let checked = out.matches("codec :: <").count();
        assert_eq!(
            checked, 6,
            "two uses each of two arguments and the result: {out}"
        );
        assert_eq!(out.matches("PickCodec (").count(), checked, "{out}");
    }

    #[test]
    fn errors_keep_the_function_and_list_every_mistake() {
        let out = expand_str("process, tmeout = 1", "async fn f(s: &str) {}");
        // The function keeps the shape callers await: a future of the result.
        assert!(
            out.contains("fn f (s : & str) -> impl :: core :: future :: Future"),
            "{out}"
        );
        assert!(
            out.contains("unknown option `tmeout`; did you mean `timeout`?"),
            "{out}"
        );
        assert!(out.contains("remove `async`"), "{out}");
        assert!(out.contains("so they must be owned"), "{out}");
    }
}
