use pagestate::cached;

#[cached(ttl = true)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
