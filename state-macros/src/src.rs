//! Generated code written as source text, with the user's tokens spliced
//! in.
//!
//! In a proc macro every token it makes crosses to the compiler and back,
//! one call per token, in the user's debug build of this crate; and the
//! macro runs on every build of the application, since macro expansion is
//! not cached between incremental builds. Text is lexed by the compiler in
//! one call instead. The generated tokens get `Span::call_site()` either
//! way (as `quote!` gives them), so names resolve as they did. What must
//! keep the user's spans, so that errors point at the user's code, is
//! spliced in as tokens: attributes, signatures, types, bodies, and
//! the bound checks spanned on them.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::ToTokens;

/// A token stream under construction. Consecutive text is lexed in one
/// go, when tokens or a group follow it, or at the end.
#[derive(Clone, Default)]
pub(crate) struct Src {
    out: TokenStream,
    pending: String,
}

impl Src {
    pub(crate) fn new() -> Self {
        Src::default()
    }

    /// Appends `text`; the delimiters of consecutive texts must balance.
    pub(crate) fn text(mut self, text: &str) -> Self {
        self.pending.push_str(text);
        self.pending.push(' ');
        self
    }

    /// Appends tokens as they are.
    pub(crate) fn tokens(mut self, tokens: impl ToTokens) -> Self {
        self.flush();
        tokens.to_tokens(&mut self.out);
        self
    }

    /// Appends `inner` between delimiters.
    pub(crate) fn group(mut self, delimiter: Delimiter, inner: Src) -> Self {
        self.flush();
        let group = TokenTree::Group(Group::new(delimiter, inner.finish()));
        self.out.extend(std::iter::once(TokenStream::from(group)));
        self
    }

    /// Appends what `other` holds, its text still to be lexed with ours.
    pub(crate) fn append(mut self, other: Src) -> Self {
        if !other.out.is_empty() {
            self.flush();
            self.out.extend(std::iter::once(other.out));
        }
        self.pending.push_str(&other.pending);
        self
    }

    /// Appends `inner` in braces.
    pub(crate) fn braced(self, inner: Src) -> Self {
        self.group(Delimiter::Brace, inner)
    }

    pub(crate) fn finish(mut self) -> TokenStream {
        self.flush();
        self.out
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            // Stream by stream: extending by the stream's tokens would take
            // them apart again, one by one.
            self.out.extend(std::iter::once(lex(&self.pending)));
            self.pending.clear();
        }
    }
}

/// `text` lexed by the compiler. proc_macro2's `FromStr` would lex it
/// twice, first with its own lexer (a check against input the compiler
/// cannot lex), which in the user's debug build costs several times the
/// compiler's lexing; generated text needs no such check. Outside a proc
/// macro (unit tests), proc_macro2 lexes it.
fn lex(text: &str) -> TokenStream {
    if proc_macro::is_available() {
        if let Ok(tokens) = text.parse::<proc_macro::TokenStream>() {
            return tokens.into();
        }
    }
    text.parse()
        .unwrap_or_else(|error| panic!("pagestate: unbalanced generated code {text:?}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn text_tokens_and_groups_make_one_stream() {
        let name = quote!(load);
        let out = Src::new()
            .text("fn")
            .tokens(&name)
            .text("()")
            .braced(Src::new().text("let x = 1;").tokens(quote!(x)))
            .finish();
        assert_eq!(
            out.to_string(),
            quote!(
                fn load() {
                    let x = 1;
                    x
                }
            )
            .to_string()
        );
    }
}
