use pagestate::cached;

const TTL_SECONDS: u64 = 60;

#[cached(ttl = TTL_SECONDS)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
