// A syntax error in the body of a `#[cached]` function is reported once,
// at the user's token, with inner attributes atop the body or without.
use pagestate::cached;

#[cached]
fn unfinished(x: u64) -> u64 {
    x +
}

#[cached]
fn unfinished_with_inner_attribute(x: u64) -> u64 {
    #![allow(unused_mut)]
    let mut y = x;
    y *
}

fn main() {
    let _ = (unfinished(1), unfinished_with_inner_attribute(2));
}
