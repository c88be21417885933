use pagestate::cached;

#[derive(Clone, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[cached]
fn norm(point: Point) -> f64 {
    (point.x * point.x + point.y * point.y).sqrt()
}

fn main() {}
