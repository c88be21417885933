use pagestate::cached;

#[cached(max_entries = 0)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
