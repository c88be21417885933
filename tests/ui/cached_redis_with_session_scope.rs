use pagestate::cached;

#[cached(scope = "session", persist = "redis")]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
