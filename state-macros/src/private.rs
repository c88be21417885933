//! The path by which generated code names the runtime.
//!
//! The facade re-exports the runtime's hidden API as
//! `pagestate::__private_<version>` (thiserror's scheme: `__private` plus the
//! version), and the macros name the module of their own version: a macro
//! crate paired with a facade of another version fails to compile, with an
//! error naming the module, instead of calling an API it does not know.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;
use syn::Ident;

/// `::pagestate::__private_<version>`, spanned at the call site.
pub(crate) fn private() -> TokenStream {
    private_at(Span::call_site())
}

/// `::pagestate::__private_<version>` with every token at `span`, so that a
/// bound failing on a call through it is reported there.
pub(crate) fn private_at(span: Span) -> TokenStream {
    let module = Ident::new(&module_name(env!("CARGO_PKG_VERSION")), span);
    quote_spanned!(span=> ::pagestate::#module)
}

/// `::pagestate::__private_<version>` as source text, for [`Src`](crate::src::Src).
pub(crate) fn private_text() -> String {
    format!("::pagestate::{}", module_name(env!("CARGO_PKG_VERSION")))
}

fn module_name(version: &str) -> String {
    let version: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__private_{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_is_named_after_the_version() {
        assert_eq!(module_name("0.1.0"), "__private_0_1_0");
        assert_eq!(module_name("1.2.3-rc.1"), "__private_1_2_3_rc_1");
        let path = private().to_string().replace(' ', "");
        assert_eq!(
            path,
            format!("::pagestate::{}", module_name(env!("CARGO_PKG_VERSION")))
        );
    }
}
