use pagestate::cached;

#[derive(Clone)]
struct Reading {
    celsius: f64,
}

#[cached(key = reading.celsius)]
fn fahrenheit(reading: &Reading) -> f64 {
    reading.celsius * 1.8 + 32.0
}

fn main() {}
