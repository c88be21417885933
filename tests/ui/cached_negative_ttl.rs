use pagestate::cached;

#[cached(ttl = -5)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
