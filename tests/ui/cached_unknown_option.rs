use pagestate::cached;

#[cached(tll = 5)]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
