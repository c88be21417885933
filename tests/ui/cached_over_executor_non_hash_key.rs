use pagestate::{cached, executor};

#[derive(Clone, PartialEq)]
struct Point {
    x: f64,
}

#[cached]
#[executor(thread)]
fn norm(p: Point) -> f64 {
    p.x.abs()
}

fn main() {}
