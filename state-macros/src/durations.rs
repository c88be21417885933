//! The one duration grammar of the macros' options (`#[cached(ttl = ..)]`,
//! `#[executor(timeout = ..)]`): seconds as a number (`60`, `0.5`), a
//! duration string checked at compile time (`"1h 30m"`, `"500ms"`), or any
//! `std::time::Duration` expression. Both options accept the same forms and
//! report the same mistakes in the same words.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

use crate::args::Errors;

/// A duration as written in an option.
pub(crate) enum DurationArg {
    /// A literal, converted at compile time.
    Fixed { secs: u64, nanos: u32 },
    /// An expression of type `std::time::Duration`.
    Expr(Expr),
}

impl DurationArg {
    /// Zero, known at compile time.
    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, DurationArg::Fixed { secs: 0, nanos: 0 })
    }

    /// An expression of type `::core::time::Duration`; a user's expression
    /// of another type is reported on that expression.
    pub(crate) fn to_duration(&self) -> TokenStream {
        match self {
            DurationArg::Fixed { secs, nanos } => {
                quote!(::core::time::Duration::new(#secs, #nanos))
            }
            DurationArg::Expr(expr) => quote_spanned! {expr.span()=>
                {
                    let __pagestate_duration: ::core::time::Duration = #expr;
                    __pagestate_duration
                }
            },
        }
    }
}

/// The value of the duration option `option`, or `None` after reporting
/// why it is not one.
pub(crate) fn parse(option: &str, value: Expr, errors: &mut Errors) -> Option<DurationArg> {
    let too_large = format!("`{option}` is too large");
    let nanos = match &value {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Int(int) => match int.base10_parse::<u64>() {
                Ok(secs) => return Some(DurationArg::Fixed { secs, nanos: 0 }),
                Err(_) => {
                    errors.at(int, too_large);
                    return None;
                }
            },
            Lit::Float(float) => match float.base10_parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs * 1e9 < u64::MAX as f64 => {
                    (secs * 1e9).round() as u128
                }
                _ => {
                    errors.at(float, too_large);
                    return None;
                }
            },
            Lit::Str(s) => match parse_duration(&s.value()) {
                Ok(nanos) => nanos,
                Err(why) => {
                    errors.at(s, why);
                    return None;
                }
            },
            other => {
                errors.at(other, kinds(option));
                return None;
            }
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) if matches!(**expr, Expr::Lit(_)) => {
            errors.at(&value, format_args!("`{option}` cannot be negative"));
            return None;
        }
        _ => return Some(DurationArg::Expr(value)),
    };
    match u64::try_from(nanos / 1_000_000_000) {
        Ok(secs) => Some(DurationArg::Fixed {
            secs,
            nanos: (nanos % 1_000_000_000) as u32,
        }),
        Err(_) => {
            errors.at(&value, too_large);
            None
        }
    }
}

fn kinds(option: &str) -> String {
    format!(
        "`{option}` expects seconds (`{option} = 60`, `{option} = 0.5`), a duration string \
         (`{option} = \"1h 30m\"`) or a `std::time::Duration` expression"
    )
}

/// Nanoseconds in a duration string such as "1h 30m", "500ms", "2s" or
/// "1.5m": numbers (decimals allowed) each followed by a unit, optionally
/// separated by spaces.
pub(crate) fn parse_duration(text: &str) -> Result<u128, String> {
    let invalid = || {
        format!(
            "invalid duration {text:?}: expected numbers with units, as in \"90s\", \"1h 30m\", \
             \"500ms\" or \"1.5m\" (units: ns, us, ms, s, m, h, d)"
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let unit_nanos: f64 = match &rest[..unit_len] {
            "ns" | "nsec" | "nanos" => 1.0,
            "us" | "µs" | "usec" | "micros" => 1e3,
            "ms" | "msec" | "millis" => 1e6,
            "s" | "sec" | "secs" | "second" | "seconds" => 1e9,
            "m" | "min" | "mins" | "minute" | "minutes" => 60e9,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600e9,
            "d" | "day" | "days" => 86_400e9,
            _ => return Err(invalid()),
        };
        total += number * unit_nanos;
        rest = rest[unit_len..].trim_start();
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(format!("duration {text:?} is too large"));
    }
    Ok(total.round() as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_nanoseconds() {
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("1h 30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1.5m"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000_000_000));
        assert_eq!(parse_duration(" 10 seconds "), Ok(10_000_000_000));
    }

    #[test]
    fn bad_durations_are_rejected() {
        for text in ["", "10", "1x", "h", "1..5s", "1h 30", "1e999s"] {
            assert!(parse_duration(text).is_err(), "{text:?} should be rejected");
        }
    }

    fn parse_str(option: &str, source: &str) -> Result<Option<DurationArg>, String> {
        let mut errors = Errors::default();
        let parsed = parse(option, syn::parse_str(source).unwrap(), &mut errors);
        errors.finish().map_err(|e| e.to_string())?;
        Ok(parsed)
    }

    #[test]
    fn both_options_accept_the_same_forms() {
        for option in ["ttl", "timeout"] {
            for (source, secs, nanos) in
                [("90", 90, 0), ("0.5", 0, 500_000_000), ("\"90s\"", 90, 0)]
            {
                match parse_str(option, source) {
                    Ok(Some(DurationArg::Fixed { secs: s, nanos: n })) => {
                        assert_eq!((s, n), (secs, nanos), "{option} = {source}")
                    }
                    _ => panic!("{option} = {source} should be a fixed duration"),
                }
            }
            assert!(matches!(
                parse_str(option, "std::time::Duration::from_secs(5)"),
                Ok(Some(DurationArg::Expr(_)))
            ));
        }
    }

    #[test]
    fn both_options_report_the_same_mistakes_by_name() {
        for option in ["ttl", "timeout"] {
            for (source, message) in [
                ("-1", format!("`{option}` cannot be negative")),
                ("1e300", format!("`{option}` is too large")),
                (
                    "'x'",
                    format!("`{option}` expects seconds (`{option} = 60`"),
                ),
                ("\"5 parsecs\"", "invalid duration \"5 parsecs\"".to_owned()),
            ] {
                let error = parse_str(option, source).err().unwrap_or_default();
                assert!(error.contains(&message), "{option} = {source}: {error}");
            }
        }
    }
}
