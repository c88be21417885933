use pagestate::cached;

#[cached(scope = "user")]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
