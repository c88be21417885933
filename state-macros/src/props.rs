//! Property tests: arbitrary token streams as attribute arguments, as
//! annotated items and as `use_state!` input. Whatever a user writes, a
//! macro returns tokens (its expansion, or the item with a
//! `compile_error!`), never a panic, and for a well-formed function the
//! tokens are valid Rust syntax. Bounded so that `cargo test` runs them in
//! a few seconds.

use proc_macro2::TokenStream;
use proptest::prelude::*;

use crate::{cached, executor, use_state};

/// Tokens users write in these macros, and some they should not.
const ATOMS: &[&str] = &[
    "ttl",
    "timeout",
    "max_entries",
    "scope",
    "persist",
    "key",
    "thread",
    "process",
    "with_script_run_context",
    "factory",
    "namespace",
    "type",
    "r#type",
    "show_spinner",
    "tll",
    "=",
    ",",
    "-",
    "!",
    "#",
    "&",
    "|",
    "||",
    ".",
    "..",
    ";",
    "::",
    "<",
    ">",
    "0",
    "1",
    "60",
    "1.5",
    "-1",
    "1e400",
    "18446744073709551616",
    "0x10",
    "1_000",
    "\"90s\"",
    "\"\"",
    "\"1h 30m\"",
    "\"5 parsecs\"",
    "\"disk\"",
    "\"redis\"",
    "\"session\"",
    "\"global\"",
    "true",
    "false",
    "'a",
    "'x'",
    "b\"x\"",
    "std",
    "Duration",
    "MAX",
    "u64",
    "String",
    "Vec",
    "async",
    "move",
    "fn",
    "self",
    "Self",
    "_",
    "x",
    "main",
    "cached",
    "executor",
    "pagestate",
];

/// Options as a user writes them: `name = value` pairs, flags, and noise.
const NAMES: &[&str] = &[
    "ttl",
    "timeout",
    "max_entries",
    "scope",
    "persist",
    "key",
    "thread",
    "process",
    "with_script_run_context",
    "show_spinner",
    "tll",
    "r#ttl",
    "type",
];

const VALUES: &[&str] = &[
    "0",
    "5",
    "0.5",
    "-1",
    "-0.0",
    "1e400",
    "18446744073709551616",
    "\"90s\"",
    "\"1h 30m\"",
    "\"\"",
    "\"5 parsecs\"",
    "\"disk\"",
    "\"session\"",
    "\"global\"",
    "true",
    "'x'",
    "std::time::Duration::MAX",
    "std::time::Duration::from_secs(5)",
    "x + 1",
    "(x, y)",
    "|| 0",
    "u64",
    "{ 1 }",
];

/// Functions as users write them, well-formed or not for these macros.
const FUNCTIONS: &[&str] = &[
    "fn f(x: u64) -> u64 { x }",
    "pub async fn f(x: u64, _y: String) -> Result<u64, String> { Ok(x) }",
    "fn f(s: &str) -> String { #![allow(unused)] s.to_owned() }",
    "fn f<T: Clone>(t: T) -> T { t }",
    "fn f(&self) -> u64 { 1 }",
    "fn f((a, b): (u8, u8)) -> u8 { a + b }",
    "fn f(_: u8, x: impl Clone) -> impl Clone { x }",
    "const fn f() -> u8 { 1 }",
    "extern \"C\" fn f() {}",
    "fn f(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8, \
     m: u8) -> u8 { a }",
    "#[executor(thread)] fn f(x: u64) -> u64 { x }",
    "#[cached(ttl = 5)] #[other::executor] fn f(x: u64) -> u64 { x }",
    "#[pagestate::cached] fn r#type(x: u64) -> u64 { x }",
    "fn f<'a>(x: &'a str) -> &'a str { x }",
];

fn token_trees() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(ATOMS).prop_map(str::to_owned);
    leaf.prop_recursive(3, 48, 6, |inner| {
        (
            proptest::sample::select(&["()", "[]", "{}"][..]),
            proptest::collection::vec(inner, 0..6),
        )
            .prop_map(|(delimiters, parts)| {
                format!(
                    "{}{}{}",
                    &delimiters[..1],
                    parts.join(" "),
                    &delimiters[1..]
                )
            })
    })
}

/// Any sequence of token trees that lexes.
fn token_soup() -> impl Strategy<Value = TokenStream> {
    proptest::collection::vec(token_trees(), 0..12)
        .prop_filter_map("lexes as tokens", |parts| parts.join(" ").parse().ok())
}

/// Option lists shaped like the real thing.
fn option_lists() -> impl Strategy<Value = TokenStream> {
    let option = (
        proptest::sample::select(NAMES),
        proptest::option::of(proptest::sample::select(VALUES)),
    )
        .prop_map(|(name, value)| match value {
            Some(value) => format!("{name} = {value}"),
            None => name.to_owned(),
        });
    (proptest::collection::vec(option, 0..5), any::<bool>()).prop_map(|(options, trailing)| {
        let mut list = options.join(", ");
        if trailing && !list.is_empty() {
            list.push(',');
        }
        list.parse().expect("options lex")
    })
}

fn arguments() -> impl Strategy<Value = TokenStream> {
    prop_oneof![option_lists(), token_soup()]
}

fn functions() -> impl Strategy<Value = (TokenStream, bool)> {
    prop_oneof![
        4 => proptest::sample::select(FUNCTIONS).prop_map(|f| (f.parse().unwrap(), true)),
        1 => token_soup().prop_map(|soup| (soup, false)),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // `PROPTEST_CASES=100000` for a longer run than `cargo test`'s.
        cases: cases_or(384),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cached_never_panics(args in arguments(), (item, well_formed) in functions()) {
        let out = cached::expand(args, item);
        if well_formed {
            prop_assert!(syn::parse2::<syn::File>(out.clone()).is_ok(), "{out}");
        }
    }

    #[test]
    fn executor_never_panics(args in arguments(), (item, well_formed) in functions()) {
        let out = executor::expand(args, item);
        if well_formed {
            prop_assert!(syn::parse2::<syn::File>(out.clone()).is_ok(), "{out}");
        }
    }

    #[test]
    fn use_state_never_panics(
        input in prop_oneof![
            token_soup(),
            option_lists().prop_map(|options| {
                format!("\"key\", {options}").parse().unwrap()
            }),
        ]
    ) {
        let out = use_state::expand(input);
        prop_assert!(syn::parse2::<syn::Expr>(out.clone()).is_ok(), "{out}");
    }
}

/// `PROPTEST_CASES` if set, else `default`: the bounded run of `cargo test`.
fn cases_or(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
