use pagestate::cached;

#[cached(ttl)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
