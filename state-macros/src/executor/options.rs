//! The options of `#[executor(..)]`: which names it takes (`thread` or
//! `process`, `with_script_run_context`, `timeout`), what each value may be,
//! and which combinations conflict. Checking turns the parsed list into
//! [`Options`], reporting every mistake on the token at fault.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, ExprLit, Ident, Lit};

use super::Kind;
use crate::args::{self, Arg, ArgValue, Errors};
use crate::durations::{self, DurationArg};

const THREAD: &str = "thread";
const PROCESS: &str = "process";
const WITH_SCRIPT_RUN_CONTEXT: &str = "with_script_run_context";
const TIMEOUT: &str = "timeout";
const OPTIONS: &[&str] = &[THREAD, PROCESS, WITH_SCRIPT_RUN_CONTEXT, TIMEOUT];

/// Options as checked.
pub(super) struct Options {
    pub(super) kind: Kind,
    pub(super) with_context: bool,
    pub(super) timeout: Option<DurationArg>,
}

impl Options {
    /// The `Option<Duration>` the runtime takes.
    pub(super) fn timeout(&self) -> TokenStream {
        match &self.timeout {
            Some(limit) => {
                let limit = limit.to_duration();
                quote!(::core::option::Option::Some(#limit))
            }
            None => quote!(::core::option::Option::None),
        }
    }
}

/// Checks the option list as parsed; an option that is wrong is reported and
/// left at its default. Without a kind, the function is checked as a
/// `thread` one.
pub(super) fn check(options: Vec<Arg>, errors: &mut Errors) -> Options {
    let mut kind: Option<(Kind, Ident)> = None;
    let mut with_context: Option<(bool, Ident)> = None;
    let mut timeout = None;
    // `#[executor(thred)]` is one mistake, reported once: as an unknown
    // option, not also as a missing kind.
    let misspelt_kind = options.iter().any(|arg| {
        let name = arg.name.to_string();
        !OPTIONS.contains(&name.as_str()) && args::closest(&name, &[THREAD, PROCESS]).is_some()
    });
    for arg in args::check_names(options, OPTIONS, errors) {
        let name = arg.name.to_string();
        match name.as_str() {
            THREAD | PROCESS => {
                if !matches!(arg.value, ArgValue::Flag) {
                    errors.at(
                        &arg.name,
                        format_args!("`{name}` takes no value: `#[executor({name})]`"),
                    );
                }
                let this = if name == THREAD {
                    Kind::Thread
                } else {
                    Kind::Process
                };
                match &kind {
                    Some(_) => errors.at(
                        &arg.name,
                        "choose one executor: `thread` or `process`, not both",
                    ),
                    None => kind = Some((this, arg.name)),
                }
            }
            WITH_SCRIPT_RUN_CONTEXT => {
                let name = arg.name.clone();
                if let Some(expr) = args::expr(arg, errors) {
                    match bool_literal(&expr) {
                        Some(value) => with_context = Some((value, name)),
                        None => errors.at(&expr, "`with_script_run_context` is `true` or `false`"),
                    }
                }
            }
            _ => {
                let Some(expr) = args::expr(arg, errors) else {
                    continue;
                };
                let literal = expr.clone();
                match durations::parse(TIMEOUT, expr, errors) {
                    Some(limit) if limit.is_zero() => errors.at(
                        literal,
                        "`timeout` must be greater than 0: no job finishes in no time; \
                         leave `timeout` out to wait as long as the job takes",
                    ),
                    limit => timeout = limit,
                }
            }
        }
    }
    let kind = match kind {
        Some((kind, _)) => kind,
        None => {
            if !misspelt_kind {
                errors.push(syn::Error::new(
                    Span::call_site(),
                    "say where the function runs: `#[executor(thread)]` or `#[executor(process)]`",
                ));
            }
            Kind::Thread
        }
    };
    if let (Kind::Process, Some((_, name))) = (kind, &with_context) {
        errors.at(
            name,
            "`with_script_run_context` is not available with `process`: a worker process \
             cannot see the caller's session; use `#[executor(thread, with_script_run_context = true)]`",
        );
    }
    Options {
        kind,
        with_context: with_context.is_some_and(|(value, _)| value),
        timeout,
    }
}

fn bool_literal(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(value),
            ..
        }) => Some(value.value),
        _ => None,
    }
}
