//! Without pagestate's `runtime` feature, the macros that need it say so,
//! with one error each: the callers of an `#[executor]` function see
//! nothing more.

#![cfg(not(feature = "runtime"))]

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
