//! With pagestate's `runtime` feature but without `durable`, a durable
//! state says which feature it needs, with one error.

#![cfg(feature = "runtime")]

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui-runtime/*.rs");
}
