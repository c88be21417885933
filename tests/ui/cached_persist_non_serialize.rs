use pagestate::cached;

#[derive(Clone)]
struct Table {
    rows: Vec<u64>,
}

#[cached(persist = "disk")]
fn table(n: u64) -> Table {
    Table {
        rows: (0..n).collect(),
    }
}

fn main() {}
