//! Option lists shared by the macros: `name = value` pairs and bare flags,
//! with every mistake collected and spanned on the token at fault.

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token, Type};

/// Collects errors so that a user sees every mistake in one build.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// One option as written: `name`, `name = <expr>` or `type = <type>`.
pub(crate) struct Arg {
    pub(crate) name: Ident,
    pub(crate) value: ArgValue,
}

pub(crate) enum ArgValue {
    Flag,
    Expr(Expr),
    Type(Type),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.call(Ident::parse_any)?;
        if !input.peek(Token![=]) {
            return Ok(Arg {
                name,
                value: ArgValue::Flag,
            });
        }
        input.parse::<Token![=]>()?;
        let value = if name == "type" {
            ArgValue::Type(input.parse()?)
        } else {
            ArgValue::Expr(input.parse()?)
        };
        Ok(Arg { name, value })
    }
}

/// Parses `a = 1, b, c = "x"` up to the end of the input.
pub(crate) fn parse_list(input: ParseStream) -> syn::Result<Vec<Arg>> {
    Ok(Punctuated::<Arg, Token![,]>::parse_terminated(input)?
        .into_iter()
        .collect())
}

/// Checks names against `known`, reporting unknown and repeated options, and
/// returns the options that are fine, in order.
pub(crate) fn check_names(args: Vec<Arg>, known: &[&str], errors: &mut Errors) -> Vec<Arg> {
    let mut seen: Vec<String> = Vec::new();
    let mut good = Vec::with_capacity(args.len());
    for arg in args {
        let name = arg.name.unraw().to_string();
        if !known.contains(&name.as_str()) {
            errors.at(&arg.name, unknown_option(&name, known));
        } else if seen.contains(&name) {
            errors.at(&arg.name, format_args!("duplicate option `{name}`"));
        } else {
            seen.push(name);
            good.push(arg);
        }
    }
    good
}

fn unknown_option(name: &str, known: &[&str]) -> String {
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match closest(name, known) {
        Some(close) => {
            format!("unknown option `{name}`; did you mean `{close}`? expected one of {list}")
        }
        None => format!("unknown option `{name}`; expected one of {list}"),
    }
}

pub(crate) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The option's expression, or an error when it was written as a bare flag
/// or a type.
pub(crate) fn expr(arg: Arg, errors: &mut Errors) -> Option<Expr> {
    match arg.value {
        ArgValue::Expr(expr) => Some(expr),
        ArgValue::Flag | ArgValue::Type(_) => {
            errors.at(
                &arg.name,
                format_args!("option `{}` needs a value: `{0} = ...`", arg.name),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["ttl", "max_entries", "scope", "persist", "key"];
        assert_eq!(closest("tll", &known), Some("ttl"));
        assert_eq!(closest("max_entry", &known), Some("max_entries"));
        assert_eq!(closest("colour", &known), None);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
