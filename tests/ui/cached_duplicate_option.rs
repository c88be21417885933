use pagestate::cached;

#[cached(ttl = 5, max_entries = 10, ttl = 6)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
