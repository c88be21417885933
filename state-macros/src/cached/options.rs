//! The options of `#[cached(..)]`: which names it takes, what each value
//! may be, and which combinations conflict. Checking turns the parsed list
//! into [`Options`], reporting every mistake on the token at fault.

use syn::ext::IdentExt;
use syn::{Expr, ExprLit, Lit};

use crate::args::{self, Arg, Errors};
use crate::durations::{self, DurationArg};

const TTL: &str = "ttl";
const MAX_ENTRIES: &str = "max_entries";
const SCOPE: &str = "scope";
const PERSIST: &str = "persist";
const KEY: &str = "key";
const OPTIONS: &[&str] = &[TTL, MAX_ENTRIES, SCOPE, PERSIST, KEY];
const SHOW_SPINNER: &str = "show_spinner";
const DISK: &str = "disk";
const REDIS: &str = "redis";

/// Options as checked.
#[derive(Default)]
pub(super) struct Options {
    pub(super) ttl: Option<DurationArg>,
    pub(super) max_entries: Option<MaxEntries>,
    pub(super) session_scoped: bool,
    pub(super) persist: bool,
    /// `persist = "redis"`.
    pub(super) redis: bool,
    pub(super) key: Option<Expr>,
}

pub(super) enum MaxEntries {
    Fixed(usize),
    Expr(Expr),
}

/// Checks the option list as parsed; an option that is wrong is reported and
/// left at its default.
pub(super) fn check(options: Vec<Arg>, errors: &mut Errors) -> Options {
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
        let Some(value) = args::expr(arg, errors) else {
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
