//! Compile errors are part of the product: each case in `tests/ui/` is a
//! mistake a user can make, with the exact message they get.
//! Regenerate with `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
