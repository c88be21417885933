//! Only `cached` / `pagestate::cached` and `executor` / `pagestate::executor`
//! are pagestate's attributes: another crate's attribute of the same name,
//! stacked with ours, is left to that crate.

use pagestate::{cached, executor};

/// Another crate's `executor` below our `#[cached]`: the function stays a
/// plain cached function, not one that returns a future.
#[cached]
#[lookalike::executor]
fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn another_crates_executor_under_cached_is_not_ours() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!((square::stats().hits, square::stats().misses), (1, 1));
}

/// Another crate's `cached` below our `#[executor]`: it stays where it was
/// written, so it sees the function our attribute made.
#[executor(thread)]
#[lookalike::cached]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[test]
fn another_crates_cached_under_executor_stays_below_it() {
    assert_eq!(futures::executor::block_on(plus_one(1)), Ok(2));
    assert!(
        LOOKALIKE_CACHED_SAW.contains("Future"),
        "the other crate's attribute saw the executor's expansion: {LOOKALIKE_CACHED_SAW}"
    );
    assert!(
        !LOOKALIKE_CACHED_SAW.contains("pagestate :: executor"),
        "it was not moved above ours: {LOOKALIKE_CACHED_SAW}"
    );
}
