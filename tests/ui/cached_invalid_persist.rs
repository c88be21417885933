use pagestate::cached;

#[cached(persist = "s3")]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
