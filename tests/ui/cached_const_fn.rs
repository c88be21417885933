use pagestate::cached;

#[cached]
const fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
