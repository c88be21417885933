use pagestate::cached;

#[derive(Clone)]
struct Report {
    rows: Vec<u64>,
}

#[cached(persist = "redis")]
fn load(x: u64) -> Report {
    Report { rows: vec![x] }
}

fn main() {}
