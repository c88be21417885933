//! Attributes on a function: which of them are pagestate's own macros, and
//! which belong inside the body.
//!
//! syn puts a body's inner attributes (`fn f() { #![allow(..)] .. }`) into
//! `ItemFn::attrs` next to the outer ones; re-emitting them in front of the
//! function is a compile error, so the expansions keep the two apart, as
//! tracing-attributes does.

use syn::{AttrStyle, Attribute, Path};

/// The function's outer attributes (written above it) and inner attributes
/// (written at the top of its body), in their order.
pub(crate) fn split(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>) {
    attrs
        .iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Outer))
}

/// `#[cached]`, `#[pagestate::cached]` or `#[::pagestate::cached]`: another
/// crate's attribute that is also called `cached` is not ours.
pub(crate) fn is_cached(attr: &Attribute) -> bool {
    is_ours(attr.path(), "cached")
}

/// `#[executor]`, `#[pagestate::executor]` or `#[::pagestate::executor]`.
pub(crate) fn is_executor(attr: &Attribute) -> bool {
    is_ours(attr.path(), "executor")
}

fn is_ours(path: &Path, name: &str) -> bool {
    let segments: Vec<_> = path.segments.iter().collect();
    if segments.iter().any(|segment| !segment.arguments.is_none()) {
        return false;
    }
    match segments.as_slice() {
        [last] => path.leading_colon.is_none() && last.ident == name,
        [krate, last] => krate.ident == "pagestate" && last.ident == name,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(source: &str) -> Attribute {
        let item: syn::ItemFn = syn::parse_str(&format!("{source} fn f() {{}}")).unwrap();
        item.attrs.into_iter().next().unwrap()
    }

    #[test]
    fn ours_by_bare_name_or_through_the_facade_only() {
        for ours in [
            "#[cached]",
            "#[cached(ttl = 1)]",
            "#[pagestate::cached]",
            "#[::pagestate::cached(ttl = 1)]",
        ] {
            assert!(is_cached(&attr(ours)), "{ours}");
        }
        for theirs in [
            "#[other::cached]",
            "#[cached::cached]",
            "#[::cached]",
            "#[not_cached]",
            "#[a::pagestate::cached]",
            "#[pagestate::executor]",
        ] {
            assert!(!is_cached(&attr(theirs)), "{theirs}");
        }
        assert!(is_executor(&attr("#[pagestate::executor(thread)]")));
        assert!(!is_executor(&attr("#[tokio_executor::executor]")));
    }

    #[test]
    fn inner_attributes_are_told_apart() {
        let item: syn::ItemFn =
            syn::parse_str("#[inline] #[doc = \"x\"] fn f() { #![allow(unused)] }").unwrap();
        let (outer, inner) = split(&item.attrs);
        assert_eq!((outer.len(), inner.len()), (2, 1));
        assert!(inner[0].path().is_ident("allow"));
    }
}
