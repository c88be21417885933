use pagestate::cached;

#[cached(ttl = "1 hour and a bit")]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
