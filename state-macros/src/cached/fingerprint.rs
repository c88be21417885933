//! The fingerprint of a `#[cached]` function: what tells a persisted entry
//! written by this version of the function from one written by another.

use std::hash::Hash;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use siphasher::sip128::{Hasher128, SipHasher13};

/// A hash of everything that decides what a persisted entry means: the
/// options, the signature and the body, as tokens (so comments, formatting
/// and the function's outer attributes do not count, but any edit of the
/// code does). The runtime adds the module path and the name.
///
/// It reads the macro's input as the compiler gave it, a handful of token
/// trees and one string per tree, rather than the parsed function turned
/// back into tokens: in a proc macro every token made crosses to the
/// compiler and back, and this runs on every build.
pub(super) fn fingerprint(args: &TokenStream, item: &[TokenTree]) -> u128 {
    let mut hasher = SipHasher13::new_with_keys(0x7061_6765_7374_6174, 0x6669_6e67_6572_7072);
    args.to_string().hash(&mut hasher);
    let mut trees = item.iter().peekable();
    // Outer attributes: `#` and a bracketed group.
    while let Some(TokenTree::Punct(punct)) = trees.peek() {
        if punct.as_char() != '#' {
            break;
        }
        trees.next();
        trees.next();
    }
    for tree in trees {
        match &tree {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                // The body: one string for all of it.
                "{".hash(&mut hasher);
                group.stream().to_string().hash(&mut hasher);
            }
            tree => tree.to_string().hash(&mut hasher),
        }
    }
    hasher.finish128().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(source: &str) -> Vec<TokenTree> {
        source.parse::<TokenStream>().unwrap().into_iter().collect()
    }

    #[test]
    fn editing_the_body_changes_the_fingerprint() {
        let args = TokenStream::new();
        let original = fingerprint(&args, &function("fn load(x: u64) -> u64 { x + 1 }"));
        let edited = fingerprint(&args, &function("fn load(x: u64) -> u64 { x + 2 }"));
        assert_ne!(original, edited);
    }

    #[test]
    fn editing_the_signature_or_options_changes_the_fingerprint() {
        let none = TokenStream::new();
        let base = fingerprint(&none, &function("fn load(x: u64) -> u64 { x }"));
        let signature = fingerprint(&none, &function("fn load(x: u32) -> u64 { x.into() }"));
        let ttl: TokenStream = "ttl = 5".parse().unwrap();
        let options = fingerprint(&ttl, &function("fn load(x: u64) -> u64 { x }"));
        assert_ne!(base, signature);
        assert_ne!(base, options);
    }

    #[test]
    fn formatting_comments_and_docs_keep_the_fingerprint() {
        let args = TokenStream::new();
        let compact = fingerprint(&args, &function("fn load(x: u64) -> u64 { x + 1 }"));
        let spaced = fingerprint(
            &args,
            &function(
                "/// Loads.\n#[inline]\nfn load(\n    x: u64\n) -> u64 {\n    // one more\n    x   +   1\n}",
            ),
        );
        assert_eq!(compact, spaced);
    }
}
